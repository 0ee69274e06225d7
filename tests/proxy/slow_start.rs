//! Slow start: an endpoint that is new or just recovered gets a share of requests that grows
//! with the time since, from 10% of its fair share to all of it at the end of the window;
//! hash selectors are left alone.

use std::sync::Arc;
use std::time::Duration;

use berth::balance::PickContext;

use berth::endpoint::{now_ns, Endpoint};
use berth::metrics::StatusCache;
use berth::model::{Balance, EndpointKey, HashOn, Resilience, ServiceSpec};
use berth::state::snapshot::Service;
use http::HeaderMap;

const MS: u64 = 1_000_000;
const PICKS: usize = 20_000;

fn service(balance: Balance) -> Service {
    let spec = Arc::new(ServiceSpec {
        name: "ramp".into(),
        layer: berth::model::Layer::Http,
        listeners: Vec::new(),
        hosts: Vec::new(),
        path: "/".into(),
        strip_prefix: false,
        hsts: None,
        balance,
        retries: 2,
        request_timeout: Duration::from_secs(60),
        drain: Duration::from_secs(10),
        health: None,
        resilience: Resilience {
            slow_start: Duration::from_secs(1),
            ..Resilience::default()
        },
        upstream: Default::default(),
        proxy_protocol: None,
        tcp_idle: std::time::Duration::from_secs(3600),
        keep_route: Duration::from_secs(300),
        acme: false,
        policies: Default::default(),
        shape: Default::default(),
        compress: None,
        sticky: None,
    });
    let endpoints = (1..=2)
        .map(|i| {
            let key = EndpointKey {
                source: format!("e{i}").into(),
                addr: ([10, 0, 0, i], 80).into(),
            };
            Arc::new(Endpoint::new(key, 1))
        })
        .collect();
    Service::new(spec, endpoints, &mut StatusCache::default())
}

/// Share of `PICKS` idle picks that go to the second endpoint, ramping for `ms` of its 1 s
/// window.
fn share_of_new(s: &Service, ms: u64) -> f64 {
    // The process clock starts near 0: let it pass the longest ramp asked for (a real sleep:
    // the condition is the clock itself, and this is exactly what is left of it).
    std::thread::sleep(Duration::from_nanos((2_000 * MS).saturating_sub(now_ns())));
    s.endpoints[0].set_ramp_since_ns(0);
    s.endpoints[1].set_ramp_since_ns(now_ns() - ms * MS);
    let headers = HeaderMap::new();
    let ctx = PickContext {
        client_ip: [192, 0, 2, 1].into(),
        headers: &headers,
    };
    let new = (0..PICKS).filter(|_| s.pick(&ctx, &[]) == Some(1)).count();
    new as f64 / PICKS as f64
}

#[test]
fn share_grows_over_the_window() {
    for balance in [
        Balance::LeastRequest,
        Balance::RoundRobin,
        Balance::PeakEwma,
    ] {
        let s = service(balance.clone());
        // Fair share 50%: 10% of it at first, half of it half-way, all of it after.
        let start = share_of_new(&s, 0);
        let half = share_of_new(&s, 500);
        let done = share_of_new(&s, 1_100);
        assert!((0.02..0.12).contains(&start), "{balance}: {start}");
        assert!((0.15..0.4).contains(&half), "{balance}: {half}");
        assert!((0.45..0.55).contains(&done), "{balance}: {done}");
        assert_eq!(s.endpoints[1].ramp_since_ns(), 0, "the ramp ends");
    }
}

#[test]
fn hash_is_not_ramped() {
    let s = service(Balance::Hash(HashOn::ClientIp));
    let share = share_of_new(&s, 0);
    assert!(
        share == 0.0 || share == 1.0,
        "one client keeps one endpoint: {share}"
    );
}

#[test]
fn a_new_or_recovered_endpoint_ramps() {
    let s = service(Balance::LeastRequest);
    let e = &s.endpoints[0];
    assert!(e.ramp_since_ns() > 0, "a new endpoint ramps");
    e.set_ramp_since_ns(0);
    e.set_active_failing(true);
    assert_eq!(e.ramp_since_ns(), 0);
    e.set_active_failing(false);
    assert!(e.ramp_since_ns() > 0, "a recovered endpoint ramps again");
}
