//! Load-balancing algorithms (data plane): which endpoint of a service gets the next request.
//!
//! A [`Selector`] is built once per service when a snapshot is built, from the service's
//! [`Balance`](crate::model::Balance) choice and its endpoint list; `pick` is then called on
//! the hot path. Invariants: `pick` takes no lock and makes no heap allocation, and never
//! returns an endpoint that is not routable at the moment of the pick (`Endpoint::is_routable`)
//! or one in `tried`.
//! One file per algorithm:
//! - `round_robin`: smooth weighted round robin, precomputed, one atomic cursor.
//! - `least_request` (default): power of two choices on requests in flight.
//! - `peak_ewma`: power of two choices on latency × load.
//! - `hash`: consistent hashing of a header, a cookie or the client IP over a `maglev`
//!   table.
//!
//! Shared pieces: `p2c` (the two-choice core), `sampler` (weighted draws), `rng`
//! (thread-local wyrand) and `digest` (fixed key hash). Weights are read when the selector
//! is built; health, draining and load are read live at every pick.

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::model::{Balance, HashOn};

mod digest;
mod hash;
mod least_request;
mod maglev;
mod p2c;
mod peak_ewma;
mod rng;
mod round_robin;
mod sampler;

use hash::Hash;
use least_request::LeastRequest;
use peak_ewma::PeakEwma;
use round_robin::RoundRobin;

/// What a selector may look at for one request.
#[derive(Clone, Copy, Debug)]
pub struct PickContext<'a> {
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
}

/// A service's selector, built at snapshot build time.
#[derive(Debug)]
pub struct Selector {
    algorithm: Algorithm,
}

/// The per-algorithm state behind a [`Selector`].
#[derive(Debug)]
enum Algorithm {
    RoundRobin(RoundRobin),
    LeastRequest(LeastRequest),
    PeakEwma(PeakEwma),
    Hash(Hash),
}

impl Selector {
    /// Builds the selector for `endpoints` (off the hot path; may allocate). Weights are read
    /// now: a weight change takes effect with the next snapshot.
    pub fn new(balance: &Balance, endpoints: &[Arc<Endpoint>]) -> Self {
        let algorithm = match balance {
            Balance::RoundRobin => Algorithm::RoundRobin(RoundRobin::new(endpoints)),
            Balance::LeastRequest => Algorithm::LeastRequest(LeastRequest::new(endpoints)),
            Balance::PeakEwma => Algorithm::PeakEwma(PeakEwma::new(endpoints)),
            Balance::Hash(on) => Algorithm::Hash(Hash::new(on, endpoints)),
        };
        Self { algorithm }
    }

    /// True for selectors slow start applies to: not consistent hashing, whose point is that
    /// a key keeps its endpoint.
    pub fn ramps(&self) -> bool {
        !matches!(self.algorithm, Algorithm::Hash(_))
    }

    /// Index into `endpoints` of the endpoint to use, skipping indices in `tried`;
    /// `None` when no routable endpoint is left. `endpoints` must be the slice, in the same
    /// order, that the selector was built from.
    #[inline]
    pub fn pick(
        &self,
        endpoints: &[Arc<Endpoint>],
        ctx: &PickContext<'_>,
        tried: &[usize],
    ) -> Option<usize> {
        match &self.algorithm {
            Algorithm::RoundRobin(s) => s.pick(endpoints, tried),
            Algorithm::LeastRequest(s) => s.pick(endpoints, tried),
            Algorithm::PeakEwma(s) => s.pick(endpoints, tried),
            Algorithm::Hash(s) => s.pick(endpoints, ctx, tried),
        }
    }
}

/// True when endpoint `i` exists, is routable now and has not been tried for this request.
#[inline]
fn eligible(endpoints: &[Arc<Endpoint>], i: usize, tried: &[usize]) -> bool {
    endpoints.get(i).is_some_and(|e| e.is_routable()) && !tried.contains(&i)
}

/// The first eligible endpoint at or after `start`, wrapping around: the fallback that makes
/// every selector find a routable endpoint whenever one exists.
#[inline(never)]
fn scan_from(endpoints: &[Arc<Endpoint>], start: usize, tried: &[usize]) -> Option<usize> {
    let n = endpoints.len();
    let start = if start < n { start } else { 0 };
    (start..n)
        .chain(0..start)
        .find(|&i| eligible(endpoints, i, tried))
}

/// Least share of its weight an endpoint gets at the start of its slow start (Envoy's
/// `min_weight_percent` default).
const RAMP_FLOOR: f64 = 0.1;

/// Slow start (see `Service::pick`): `picked` began ramping up `since_ns` ago on a window of
/// `window_ns`. The pick stands with probability equal to the share of the window passed (at
/// least [`RAMP_FLOOR`]); otherwise the selector picks once more without it, so a new or
/// recovered endpoint's share of requests grows linearly over the window. Once the window
/// has passed the ramp is ended on the endpoint, and later picks skip this.
#[cold]
#[inline(never)]
pub fn ramp_pick(
    selector: &Selector,
    endpoints: &[Arc<Endpoint>],
    ctx: &PickContext<'_>,
    tried: &[usize],
    (picked, since_ns, window_ns): (usize, u64, u64),
) -> usize {
    let elapsed = crate::endpoint::now_ns().saturating_sub(since_ns);
    if elapsed >= window_ns {
        endpoints[picked].set_ramp_since_ns(0);
        return picked;
    }
    let share = (elapsed as f64 / window_ns as f64).max(RAMP_FLOOR);
    let draw = rng::with(|r| r.next_u64()) as f64 / u64::MAX as f64;
    if draw < share || tried.len() >= MAX_RAMP_TRIED {
        return picked;
    }
    let mut without = [0usize; MAX_RAMP_TRIED + 1];
    without[..tried.len()].copy_from_slice(tried);
    without[tried.len()] = picked;
    selector
        .pick(endpoints, ctx, &without[..=tried.len()])
        .unwrap_or(picked)
}

/// Most tried endpoints a slow-start re-pick copies (a request tries at most 6).
const MAX_RAMP_TRIED: usize = 8;

/// Panic mode's pick (see `Service::pick`): an endpoint excluded by nothing but its active
/// check, not in `tried`, from a random start. Lock-free and allocation-free like `pick`.
#[inline(never)]
pub fn pick_ignoring_active(endpoints: &[Arc<Endpoint>], tried: &[usize]) -> Option<usize> {
    let n = endpoints.len();
    if n == 0 {
        return None;
    }
    let start = rng::below(n);
    (start..n)
        .chain(0..start)
        .find(|&i| endpoints[i].is_routable_ignoring_active() && !tried.contains(&i))
}

/// Endpoints for tests: weights as given, distinct addresses.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use crate::endpoint::Endpoint;

    use crate::model::EndpointKey;

    pub(crate) fn endpoints(weights: &[u32]) -> Vec<Arc<Endpoint>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let port = u16::try_from(9000 + i).expect("test endpoint counts fit a port");
                let key = EndpointKey {
                    source: "t".into(),
                    addr: ([127, 0, 0, 1], port).into(),
                };
                Arc::new(Endpoint::new(key, w))
            })
            .collect()
    }
}
