//! `peak_ewma`: power of two choices on latency × load (data plane).
//!
//! The cost of an endpoint is its peak-EWMA latency estimate times its requests in flight
//! plus one ([`Endpoint::ewma_cost`], maintained by the proxy); two distinct eligible
//! endpoints are drawn in proportion to their weights and the cheaper per unit of weight wins
//! (see [`super::p2c`]). A slow endpoint loses traffic as soon as one slow answer lands, and
//! wins it back gradually as the estimate decays.
//!
//! Invariants: those of [`super::p2c`] — no lock, no allocation, never a non-routable or
//! already tried endpoint, `None` only when none is left.

use std::sync::Arc;

use super::p2c::P2c;
use crate::state::endpoint::Endpoint;

/// Selector state for `peak_ewma`.
#[derive(Debug)]
pub(crate) struct PeakEwma {
    p2c: P2c,
}

impl PeakEwma {
    pub(crate) fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        Self {
            p2c: P2c::new(endpoints),
        }
    }

    #[inline]
    pub(crate) fn pick(&self, endpoints: &[Arc<Endpoint>], tried: &[usize]) -> Option<usize> {
        self.p2c.pick(endpoints, tried, Endpoint::ewma_cost)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::balance::test_support::endpoints;

    #[test]
    fn avoids_the_slow_endpoint() {
        let eps = endpoints(&[1, 1]);
        eps[0].observe_latency(Duration::from_millis(200));
        eps[1].observe_latency(Duration::from_millis(2));
        let pe = PeakEwma::new(&eps);
        for _ in 0..100 {
            assert_eq!(pe.pick(&eps, &[]), Some(1));
        }
        assert_eq!(pe.pick(&eps, &[1]), Some(0));
    }

    #[test]
    fn load_counts_against_a_fast_endpoint() {
        let eps = endpoints(&[1, 1]);
        eps[0].observe_latency(Duration::from_millis(3));
        eps[1].observe_latency(Duration::from_millis(2));
        // 2 ms × (1 + 1) in flight = 4 ms > 3 ms × 1.
        let _busy = eps[1].begin_request();
        let pe = PeakEwma::new(&eps);
        assert_eq!(pe.pick(&eps, &[]), Some(0));
    }

    #[test]
    fn never_picks_a_draining_endpoint() {
        let eps = endpoints(&[1, 1, 1]);
        eps[1].drain();
        let pe = PeakEwma::new(&eps);
        assert!((0..500).all(|_| pe.pick(&eps, &[]) != Some(1)));
    }
}
