//! Power of two choices over a per-endpoint cost (data plane), shared by `least_request`,
//! `peak_ewma` and the keyless fallback of `hash`.
//!
//! Two distinct eligible candidates are drawn in proportion to their weights (see
//! [`Sampler`]) and the one with the lower [`Cost`] wins. A cost is a ratio (load per unit of
//! weight) compared by cross-multiplying in `u128`, so nothing is rounded. Ties go to the first
//! draw, so when every endpoint is idle picks follow the weights exactly.
//!
//! Invariants: no lock, no allocation; the result is routable and not in `tried`; `None` only
//! when no endpoint is both. Drawing is bounded ([`DRAWS`] tries per candidate); when the first
//! candidate cannot be drawn that way a linear scan from a random start finds one if any
//! exists; the second falls back to a scan of the next [`SCAN`] endpoints after the first, and
//! when that finds none either, the first is returned alone.

use std::marker::PhantomData;
use std::sync::Arc;

use super::rng::{self, Wyrand};
use super::sampler::Sampler;
use super::{eligible, scan_from};
use crate::endpoint::Endpoint;

/// Random draws per candidate before falling back to scanning.
const DRAWS: usize = 4;
/// Endpoints after the first candidate scanned for a second one when drawing failed.
const SCAN: usize = 8;

/// A P2C chooser, built with the snapshot.
#[derive(Debug)]
pub(crate) struct P2c {
    sampler: Sampler,
}

impl P2c {
    pub(crate) fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        let weights: Vec<u32> = endpoints.iter().map(|e| e.weight()).collect();
        Self {
            sampler: Sampler::new(&weights),
        }
    }

    /// The cheaper of two eligible candidates under `cost` (per unit of weight).
    #[inline]
    pub(crate) fn pick(
        &self,
        endpoints: &[Arc<Endpoint>],
        tried: &[usize],
        cost: impl Fn(&Endpoint) -> Cost,
    ) -> Option<usize> {
        let n = self.sampler.len().min(endpoints.len());
        if n <= 1 {
            return (n == 1 && eligible(endpoints, 0, tried)).then_some(0);
        }
        let (a, b) = rng::with(|rng| {
            let a = self.draw(rng, endpoints, tried, usize::MAX);
            (a, a.and_then(|a| self.draw(rng, endpoints, tried, a)))
        });
        let a = a.or_else(|| scan_from(endpoints, rng::below(n), tried))?;
        let Some(b) = b.or_else(|| second_by_scan(endpoints, tried, a, n)) else {
            return Some(a);
        };
        Some(if cost(&endpoints[b]) < cost(&endpoints[a]) {
            b
        } else {
            a
        })
    }

    /// Up to [`DRAWS`] weighted draws for an eligible index other than `not`.
    #[inline]
    fn draw(
        &self,
        rng: &mut Wyrand,
        endpoints: &[Arc<Endpoint>],
        tried: &[usize],
        not: usize,
    ) -> Option<usize> {
        (0..DRAWS)
            .map(|_| self.sampler.sample(rng))
            .find(|&i| i != not && eligible(endpoints, i, tried))
    }
}

/// An eligible endpoint among the [`SCAN`] after `a`, other than `a`.
#[inline(never)]
fn second_by_scan(
    endpoints: &[Arc<Endpoint>],
    tried: &[usize],
    a: usize,
    n: usize,
) -> Option<usize> {
    (1..=n.min(SCAN))
        .map(|k| (a + k) % n)
        .find(|&i| i != a && eligible(endpoints, i, tried))
}

/// An endpoint's cost under one P2C policy (`least_request`, `peak_ewma`).
pub(crate) trait CostOf {
    fn cost(e: &Endpoint) -> Cost;
}

/// A P2C selector with a fixed cost: `least_request` and `peak_ewma` are this with their
/// [`CostOf`]. The cost is a type, not a function pointer, so it is inlined into the pick.
#[derive(Debug)]
pub(crate) struct ByCost<C> {
    p2c: P2c,
    cost: PhantomData<C>,
}

impl<C: CostOf> ByCost<C> {
    pub(crate) fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        Self {
            p2c: P2c::new(endpoints),
            cost: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn pick(&self, endpoints: &[Arc<Endpoint>], tried: &[usize]) -> Option<usize> {
        self.p2c.pick(endpoints, tried, C::cost)
    }
}

/// What an endpoint costs to pick: `load / per`, e.g. requests in flight per unit of weight.
/// Constructors keep `load < 2^96` and `per < 2^32`, so comparing by cross-multiplying in
/// `u128` is exact and cannot overflow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cost {
    load: u128,
    per: u128,
}

impl Cost {
    /// `load / per` with both parts as given (`per` is a weight, `load` a count or less than
    /// 2^64 ns × 2^32 requests).
    #[inline]
    pub(crate) fn new(load: u128, per: u32) -> Self {
        Self {
            load: load.min(MAX_LOAD),
            per: u128::from(per),
        }
    }
}

/// Largest load kept exact: 2^96 − 1 (far beyond any latency × requests product).
const MAX_LOAD: u128 = (1 << 96) - 1;

impl PartialEq for Cost {
    fn eq(&self, other: &Self) -> bool {
        self.load * other.per == other.load * self.per
    }
}

impl PartialOrd for Cost {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self.load * other.per).partial_cmp(&(other.load * self.per))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::endpoints;

    fn in_flight(e: &Endpoint) -> Cost {
        Cost::new(e.in_flight().into(), e.weight())
    }

    #[test]
    fn prefers_the_less_loaded_of_two() {
        let eps = endpoints(&[1, 1]);
        let _busy = [eps[0].begin_request(), eps[0].begin_request()];
        let p2c = P2c::new(&eps);
        for _ in 0..100 {
            assert_eq!(p2c.pick(&eps, &[], in_flight), Some(1));
        }
    }

    #[test]
    fn load_is_compared_per_unit_of_weight() {
        let eps = endpoints(&[1, 4]);
        // 3 in flight on weight 4 (0.75 each) beats 1 on weight 1.
        let _a = eps[0].begin_request();
        let _b: Vec<_> = (0..3).map(|_| eps[1].begin_request()).collect();
        let p2c = P2c::new(&eps);
        for _ in 0..100 {
            assert_eq!(p2c.pick(&eps, &[], in_flight), Some(1));
        }
    }

    #[test]
    fn finds_the_last_eligible_one_by_scanning() {
        let eps = endpoints(&[1; 50]);
        eps.iter().skip(1).for_each(|e| e.drain());
        let p2c = P2c::new(&eps);
        for _ in 0..100 {
            assert_eq!(p2c.pick(&eps, &[], in_flight), Some(0));
        }
        assert_eq!(p2c.pick(&eps, &[0], in_flight), None);
    }

    #[test]
    fn single_and_empty() {
        let one = endpoints(&[3]);
        let p2c = P2c::new(&one);
        assert_eq!(p2c.pick(&one, &[], in_flight), Some(0));
        assert_eq!(p2c.pick(&one, &[0], in_flight), None);
        assert_eq!(P2c::new(&[]).pick(&[], &[], in_flight), None);
    }
}
