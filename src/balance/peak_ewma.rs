//! `peak_ewma`: power of two choices on latency × load (data plane).
//!
//! The cost of an endpoint is its peak-EWMA latency estimate (maintained by the proxy) times
//! its requests in flight per unit of weight, plus one: `latency × (in_flight + weight) /
//! weight`. With weight 1 that is exactly [`Endpoint::ewma_cost`]; a weight of `w` says the
//! endpoint serves `w` requests at once at that latency. (Dividing `ewma_cost` itself by the
//! weight would make an idle heavy endpoint beat an idle light one every time, so idle traffic
//! would not follow the weights.) Two distinct eligible endpoints are drawn in proportion to
//! their weights and the cheaper wins (see [`super::p2c`]). A slow endpoint loses traffic as
//! soon as one slow answer lands, and wins it back gradually as the estimate decays.
//!
//! Invariants: those of [`super::p2c`] — no lock, no allocation, never a non-routable or
//! already tried endpoint, `None` only when none is left.

use super::p2c::{ByCost, Cost, CostOf};
use crate::endpoint::Endpoint;

/// Selector state for `peak_ewma`.
pub(crate) type PeakEwma = ByCost<LatencyLoad>;

/// `peak_ewma`'s cost.
#[derive(Debug)]
pub(crate) struct LatencyLoad;

impl CostOf for LatencyLoad {
    #[inline]
    fn cost(e: &Endpoint) -> Cost {
        cost(e)
    }
}

/// Latency × (in flight + weight) / weight; `Endpoint::ewma_cost` when the weight is 1.
#[inline]
fn cost(e: &Endpoint) -> Cost {
    let weight = e.weight();
    // < 2^64 ns × 2^33 requests: fits a u128 with room to spare.
    let queue = u128::from(e.in_flight()) + u128::from(weight);
    Cost::new(u128::from(e.cost_latency_ns()) * queue, weight)
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
    fn weight_one_cost_is_ewma_cost() {
        let eps = endpoints(&[1]);
        let _busy = eps[0].begin_request();
        let c = cost(&eps[0]);
        assert!(c == Cost::new(eps[0].ewma_cost().into(), 1));
    }

    #[test]
    fn a_heavier_endpoint_takes_more_load_at_equal_latency() {
        let eps = endpoints(&[1, 3]);
        // weight 3 with 2 in flight: (2 + 3) / 3 < weight 1 with 1 in flight: (1 + 1) / 1.
        let _a = eps[0].begin_request();
        let _b = [eps[1].begin_request(), eps[1].begin_request()];
        let pe = PeakEwma::new(&eps);
        assert!((0..50).all(|_| pe.pick(&eps, &[]) == Some(1)));
    }

    #[test]
    fn never_picks_a_draining_endpoint() {
        let eps = endpoints(&[1, 1, 1]);
        eps[1].drain();
        let pe = PeakEwma::new(&eps);
        assert!((0..500).all(|_| pe.pick(&eps, &[]) != Some(1)));
    }
}
