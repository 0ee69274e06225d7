//! Unit tests of `endpoint`.

use super::*;

fn ep() -> Arc<Endpoint> {
    let key = EndpointKey {
        source: "t".into(),
        addr: "127.0.0.1:1".parse().expect("literal address"),
    };
    Arc::new(Endpoint::new(key, 0))
}

#[test]
fn weight_is_at_least_one() {
    assert_eq!(ep().weight(), 1);
}

#[test]
fn in_flight_guard_counts() {
    let e = ep();
    let a = e.begin_request();
    let b = e.begin_request();
    assert_eq!(e.in_flight(), 2);
    drop(a);
    assert_eq!(e.in_flight(), 1);
    drop(b);
    assert_eq!(e.in_flight(), 0);
}

#[test]
fn ewma_takes_peaks_and_decays() {
    let e = ep();
    e.observe_latency(Duration::from_millis(50));
    assert_eq!(e.latency_ns(), 50_000_000);
    std::thread::sleep(Duration::from_millis(20));
    e.observe_latency(Duration::from_millis(1));
    let after = e.latency_ns();
    assert!(after < 50_000_000 && after > 1_000_000, "{after}");
}

#[test]
fn unknown_latency_is_probed_once_then_penalised() {
    let e = ep();
    assert_eq!(e.ewma_cost(), 0);
    let _pending = e.begin_request();
    assert!(e.ewma_cost() > 1 << 40);
    e.observe_latency(Duration::from_micros(300));
    assert_eq!(e.ewma_cost(), 600_000);
}

#[test]
fn drain_and_remove_exclude() {
    let e = ep();
    assert!(e.is_routable());
    e.drain();
    assert!(!e.is_routable());
    assert_eq!(e.exclusion_reason(), Some("draining"));
    e.mark_removed();
    assert_eq!(e.exclusion_reason(), Some("removed"));
}

#[test]
fn admin_drain_is_undone_by_admin_only() {
    let e = ep();
    assert!(e.set_admin_drain(true));
    assert!(!e.set_admin_drain(true));
    assert_eq!(e.exclusion_reason(), Some("drained by admin"));
    e.set_availability(Availability::default());
    assert!(!e.is_routable(), "provider updates keep the admin drain");
    assert!(e.set_admin_drain(false));
    assert!(e.is_routable());
}

#[test]
fn availability_replaces_provider_bits_only() {
    let e = ep();
    let unhealthy = Availability {
        health: Health::Unhealthy,
        paused: false,
    };
    e.set_availability(unhealthy);
    assert_eq!(e.exclusion_reason(), Some("docker health: unhealthy"));
    e.set_availability(Availability {
        health: Health::Healthy,
        paused: true,
    });
    assert_eq!(e.exclusion_reason(), Some("paused"));
    e.set_availability(Availability::default());
    assert!(e.is_routable());
    e.drain();
    e.set_availability(Availability::default());
    assert!(e.is_draining(), "a drain outlives provider updates");
}

#[test]
fn active_check_bit_is_its_own() {
    let e = ep();
    assert!(e.set_active_failing(true));
    assert!(!e.set_active_failing(true), "no change the second time");
    assert!(!e.is_routable() && e.is_routable_ignoring_active());
    assert_eq!(e.exclusion_reason(), Some("active check: failing"));
    e.set_availability(Availability::default());
    assert!(
        e.is_active_failing(),
        "provider updates keep the active bit"
    );
    e.drain();
    assert!(!e.is_routable_ignoring_active());
    assert!(e.set_active_failing(false));
    assert_eq!(e.exclusion_reason(), Some("draining"));
}
