//! Property tests of the selectors through the public `Selector` API: safety (never a
//! non-routable or tried endpoint, `None` only when nothing is left), weights, and Maglev's
//! consistency (few keys move when the endpoint set changes; keys spread evenly).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use berth::balance::{PickContext, Selector};

use berth::endpoint::Endpoint;
use berth::model::{Balance, EndpointKey, HashOn};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

fn endpoint(port: u16, weight: u32) -> Arc<Endpoint> {
    let key = EndpointKey {
        source: "t".into(),
        addr: ([127, 0, 0, 1], port).into(),
    };
    Arc::new(Endpoint::new(key, weight))
}

fn endpoints(weights: &[u32]) -> Vec<Arc<Endpoint>> {
    (9000u16..)
        .zip(weights)
        .map(|(port, &w)| endpoint(port, w))
        .collect()
}

fn every_balance() -> Vec<Balance> {
    [
        "round_robin",
        "least_request",
        "peak_ewma",
        "hash(header:x-user)",
        "hash(cookie:sid)",
        "hash(client_ip)",
    ]
    .iter()
    .map(|s| s.parse().expect("valid balance"))
    .collect()
}

fn client(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i))
}

fn headers(user: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(user) {
        h.insert("x-user", v.clone());
        if let Ok(c) = HeaderValue::from_str(&format!("a=b; sid={user}")) {
            h.insert("cookie", c);
        }
    }
    h
}

/// Endpoint each of `keys` client IPs lands on, as the endpoint's port.
fn placement(balance: &Balance, eps: &[Arc<Endpoint>], keys: u32) -> Vec<u16> {
    let selector = Selector::new(balance, eps);
    let h = HeaderMap::new();
    (0..keys)
        .map(|k| {
            let ctx = PickContext {
                client_ip: client(k),
                headers: &h,
            };
            let i = selector.pick(eps, &ctx, &[]).expect("all routable");
            eps[i].addr().port()
        })
        .collect()
}

fn share_of(counts: &[u32], i: usize) -> f64 {
    f64::from(counts[i]) / f64::from(counts.iter().sum::<u32>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn never_non_routable_nor_tried(
        weights in prop::collection::vec(1u32..10, 1..40),
        mask in prop::collection::vec(any::<bool>(), 40),
        tried in prop::collection::vec(0usize..45, 0..=6),
        users in prop::collection::vec("[a-z0-9]{0,12}", 8),
    ) {
        let eps = endpoints(&weights);
        eps.iter().zip(&mask).filter(|(_, &up)| !up).for_each(|(e, _)| e.drain());
        let ok = |i: usize| eps[i].is_routable() && !tried.contains(&i);
        let any_left = (0..eps.len()).any(ok);
        for balance in every_balance() {
            let selector = Selector::new(&balance, &eps);
            for (k, user) in (0u32..).zip(users.iter().cycle().take(40)) {
                let h = headers(user);
                let ctx = PickContext { client_ip: client(k), headers: &h };
                match selector.pick(&eps, &ctx, &tried) {
                    Some(i) => prop_assert!(ok(i), "{balance}: picked {i}"),
                    None => prop_assert!(!any_left, "{balance}: None with endpoints left"),
                }
            }
        }
    }

    #[test]
    fn round_robin_is_exact_over_a_period(weights in prop::collection::vec(1u32..20, 1..20)) {
        let eps = endpoints(&weights);
        let selector = Selector::new(&Balance::RoundRobin, &eps);
        let g = weights.iter().copied().fold(0, gcd);
        let period: u32 = weights.iter().map(|w| w / g).sum();
        let h = HeaderMap::new();
        let ctx = PickContext { client_ip: client(1), headers: &h };
        let mut counts = vec![0u32; eps.len()];
        for _ in 0..period {
            counts[selector.pick(&eps, &ctx, &[]).expect("all routable")] += 1;
        }
        let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
        prop_assert_eq!(counts, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn idle_p2c_follows_weights(weights in prop::collection::vec(1u32..6, 2..7)) {
        let eps = endpoints(&weights);
        let total: u32 = weights.iter().sum();
        let h = HeaderMap::new();
        let ctx = PickContext { client_ip: client(1), headers: &h };
        for balance in [Balance::LeastRequest, Balance::PeakEwma] {
            let selector = Selector::new(&balance, &eps);
            let mut counts = vec![0u32; eps.len()];
            for _ in 0..20_000 {
                counts[selector.pick(&eps, &ctx, &[]).expect("all routable")] += 1;
            }
            for (i, w) in weights.iter().enumerate() {
                let want = f64::from(*w) / f64::from(total);
                prop_assert!((share_of(&counts, i) - want).abs() < 0.03, "{balance} {counts:?}");
            }
        }
    }

    #[test]
    fn maglev_spreads_keys_evenly_and_by_weight(
        weights in prop::collection::vec(1u32..4, 2..12),
    ) {
        let eps = endpoints(&weights);
        let total: u32 = weights.iter().sum();
        let ports = placement(&Balance::Hash(HashOn::ClientIp), &eps, 30_000);
        let mut counts = vec![0u32; eps.len()];
        ports.iter().for_each(|p| counts[usize::from(p - 9000)] += 1);
        for (i, w) in weights.iter().enumerate() {
            let want = f64::from(*w) / f64::from(total);
            let got = share_of(&counts, i);
            prop_assert!((got - want).abs() < want * 0.15, "{counts:?} vs {weights:?}");
        }
    }

    #[test]
    fn maglev_removal_moves_little_but_its_keys(n in 3usize..30, gone in 0usize..30) {
        let gone = gone % n;
        let hash = Balance::Hash(HashOn::ClientIp);
        let all = endpoints(&vec![1; n]);
        let mut rest = all.clone();
        let gone_port = rest.remove(gone).addr().port();
        let keys = 10_000;
        let before = placement(&hash, &all, keys);
        let after = placement(&hash, &rest, keys);
        let collateral = before.iter().zip(&after)
            .filter(|(b, a)| **b != gone_port && b != a)
            .count();
        // Maglev is near-minimal, not minimal: allow 2% of all keys to shift among survivors.
        prop_assert!(collateral as f64 <= 0.02 * f64::from(keys), "{collateral} of {keys} moved");
    }

    #[test]
    fn maglev_addition_moves_about_one_nth(n in 2usize..30) {
        let hash = Balance::Hash(HashOn::ClientIp);
        let grown = endpoints(&vec![1; n + 1]);
        let keys = 10_000;
        let before = placement(&hash, &grown[..n], keys);
        let after = placement(&hash, &grown, keys);
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let bound = 1.5 / (n + 1) as f64 + 0.01;
        prop_assert!((moved as f64) <= bound * f64::from(keys), "{moved} of {keys} moved");
    }

    #[test]
    fn draining_moves_only_the_drained_keys(n in 2usize..20, drained in 0usize..20) {
        let drained = drained % n;
        let hash = Balance::Hash(HashOn::ClientIp);
        let eps = endpoints(&vec![1; n]);
        let keys = 5_000;
        let before = placement(&hash, &eps, keys);
        eps[drained].drain();
        let after = placement(&hash, &eps, keys);
        let drained_port = eps[drained].addr().port();
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(*b == drained_port || b == a);
            prop_assert!(*a != drained_port);
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
