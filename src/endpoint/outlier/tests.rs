//! Unit tests of `outlier`.

use super::*;
use crate::model::EndpointKey;
use proptest::prelude::*;

const MS: u64 = 1_000_000;

fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
    (0..n)
        .map(|i| {
            let key = EndpointKey {
                source: "t".into(),
                addr: format!("127.0.0.1:{}", 1000 + i).parse().expect("address"),
            };
            Arc::new(Endpoint::new(key, 1))
        })
        .collect()
}

fn settings(failures: u32, percent: u8) -> Outlier {
    Outlier {
        consecutive_failures: failures,
        base_ejection: Duration::from_millis(300),
        max_ejection: Duration::from_millis(1000),
        max_ejected_percent: percent,
        gateway_errors_only: false,
    }
}

fn service(failures: u32, percent: u8, eps: &[Arc<Endpoint>]) -> ServiceOutlier {
    ServiceOutlier::new(settings(failures, percent), &Arc::from("svc"), eps)
}

#[test]
fn cap_is_percent_but_at_least_one_and_never_all() {
    assert_eq!(ejection_cap(0, 50), 0);
    assert_eq!(ejection_cap(1, 100), 0, "a lone endpoint is never ejected");
    assert_eq!(ejection_cap(2, 50), 1);
    assert_eq!(ejection_cap(3, 50), 1);
    assert_eq!(ejection_cap(10, 10), 1);
    assert_eq!(ejection_cap(10, 5), 1, "at least one");
    assert_eq!(ejection_cap(10, 0), 0, "0% turns ejection off");
    assert_eq!(ejection_cap(4, 100), 3, "never all");
}

#[test]
fn consecutive_failures_eject_and_a_success_resets() {
    let eps = endpoints(3);
    let s = service(3, 50, &eps);
    s.observe(&eps[0], 500);
    s.observe(&eps[0], 502);
    s.observe(&eps[0], 200);
    s.observe(&eps[0], 404);
    assert_eq!(eps[0].outlier().consecutive_failures(), 0);
    s.observe(&eps[0], 503);
    s.observe(&eps[0], 500);
    assert!(eps[0].is_routable());
    s.observe(&eps[0], 504);
    assert!(eps[0].is_ejected() && !eps[0].is_routable());
    assert_eq!(eps[0].exclusion_reason(), Some("ejected"));
    assert_eq!(eps[0].outlier().times_ejected(), 1);
    assert_eq!(s.ejected(), 1);
}

#[test]
fn gateway_errors_only_ignores_plain_5xx() {
    let eps = endpoints(2);
    let mut cfg = settings(2, 50);
    cfg.gateway_errors_only = true;
    let s = ServiceOutlier::new(cfg, &Arc::from("svc"), &eps);
    for _ in 0..10 {
        s.observe(&eps[0], 500);
    }
    assert!(eps[0].is_routable());
    s.observe(&eps[0], 502);
    s.observe(&eps[0], 504);
    assert!(eps[0].is_ejected());
}

#[test]
fn zero_failures_disables() {
    let eps = endpoints(2);
    let s = service(0, 50, &eps);
    for _ in 0..100 {
        s.observe(&eps[0], 502);
    }
    assert!(eps[0].is_routable());
}

#[test]
fn ejection_grows_with_times_ejected_up_to_the_max_and_returns() {
    let eps = endpoints(2);
    let s = service(1, 50, &eps);
    let e = &eps[0];
    let mut now = 1_000 * MS;
    let mut lengths = Vec::new();
    for _ in 0..5 {
        assert!(s.try_eject(e, now));
        let until = e.outlier().ejected_until_ns().expect("ejected");
        lengths.push((until - now) / MS);
        assert!(!s.sweep(&eps, until - 1), "not before its time");
        assert!(e.is_ejected());
        assert!(s.sweep(&eps, until));
        assert!(e.is_routable() && s.ejected() == 0);
        now = until + MS;
    }
    assert_eq!(lengths, [300, 600, 900, 1000, 1000]);
}

#[test]
fn times_ejected_decays_every_base_without_ejection() {
    let eps = endpoints(2);
    let s = service(1, 50, &eps);
    let e = &eps[0];
    let mut now = 0;
    for _ in 0..3 {
        s.try_eject(e, now);
        now = e.outlier().ejected_until_ns().expect("ejected");
        s.sweep(&eps, now);
    }
    assert_eq!(e.outlier().times_ejected(), 3);
    s.sweep(&eps, now + 299 * MS);
    assert_eq!(e.outlier().times_ejected(), 3);
    s.sweep(&eps, now + 300 * MS);
    assert_eq!(e.outlier().times_ejected(), 2);
    s.sweep(&eps, now + 600 * MS);
    s.sweep(&eps, now + 900 * MS);
    assert_eq!(e.outlier().times_ejected(), 0);
    s.try_eject(e, now + 1000 * MS);
    let until = e.outlier().ejected_until_ns().expect("ejected");
    assert_eq!(
        until - (now + 1000 * MS),
        300 * MS,
        "back to the base length"
    );
}

#[test]
fn cap_holds_with_two_failing_endpoints() {
    let eps = endpoints(2);
    let s = service(2, 50, &eps);
    for _ in 0..10 {
        s.observe(&eps[0], 500);
        s.observe(&eps[1], 500);
    }
    assert_eq!(eps.iter().filter(|e| e.is_ejected()).count(), 1);
}

#[test]
fn a_rebuilt_service_counts_ejected_endpoints() {
    let eps = endpoints(3);
    let s = service(1, 50, &eps);
    assert!(s.try_eject(&eps[0], 0));
    let rebuilt = service(1, 50, &eps);
    assert_eq!(rebuilt.ejected(), 1);
    assert!(!rebuilt.try_eject(&eps[1], 0), "cap of 1 reached");
}

#[test]
fn concurrent_failures_never_exceed_the_cap() {
    let eps = endpoints(8);
    let s = Arc::new(service(1, 50, &eps));
    let eps = Arc::new(eps);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (s, eps) = (Arc::clone(&s), Arc::clone(&eps));
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    s.observe(&eps[(i + t) % 8], 502);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let ejected = eps.iter().filter(|e| e.is_ejected()).count();
    assert_eq!(ejected, 4);
    assert_eq!(s.ejected(), 4);
}

#[derive(Clone, Debug)]
enum Op {
    Outcome(usize, u16),
    Advance(u64),
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..n, prop::sample::select(vec![200u16, 404, 500, 502, 503, 504]))
            .prop_map(|(i, s)| Op::Outcome(i, s)),
        1 => (0u64..2_000).prop_map(|ms| Op::Advance(ms * MS)),
    ]
}

proptest! {
    /// Whatever the outcomes and however time passes, never more endpoints ejected
    /// than the cap, and the service's count matches the ejected endpoints.
    #[test]
    fn never_more_than_the_cap_ejected(
        n in 1usize..8,
        percent in 0u8..=100,
        failures in 1u32..4,
        ops in prop::collection::vec(op(8), 0..300),
    ) {
        let eps = endpoints(n);
        let s = service(failures, percent, &eps);
        let cap = ejection_cap(n, percent) as usize;
        let mut now = 0;
        for op in ops {
            match op {
                Op::Outcome(i, status) => {
                    let e = &eps[i % n];
                    let state = e.outlier();
                    // `observe` with an injected clock.
                    if is_failure(&s.settings, status) {
                        let f = state.consecutive.fetch_add(1, Relaxed) + 1;
                        if f >= failures {
                            s.try_eject(e, now);
                        }
                    } else {
                        state.consecutive.store(0, Relaxed);
                    }
                }
                Op::Advance(d) => {
                    now += d;
                    s.sweep(&eps, now);
                }
            }
            let ejected = eps.iter().filter(|e| e.is_ejected()).count();
            prop_assert!(ejected <= cap, "{ejected} ejected, cap {cap}");
            prop_assert_eq!(ejected, s.ejected() as usize);
            if n >= 1 {
                prop_assert!(eps.iter().any(|e| e.is_routable()));
            }
        }
    }
}

#[test]
fn an_endpoint_that_never_answered_is_ejected_briefly() {
    let eps = endpoints(2);
    let mut s = service(2, 50, &eps);
    s.set_settings(
        Outlier {
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            ..settings(2, 50)
        },
        eps.len(),
    );
    assert!(eps[0].outlier().unproven());
    s.observe(&eps[0], 502);
    s.observe(&eps[0], 502);
    let until = eps[0].outlier().ejected_until_ns().expect("ejected");
    assert!(until - now_ns() <= 1_000 * MS, "1 s, not 30 s");
    assert!(
        eps[0].outlier().unproven(),
        "still unproven after the ejection"
    );
    s.sweep(&eps, until);
    assert!(eps[0].is_routable());
    s.observe(&eps[0], 200);
    assert!(!eps[0].outlier().unproven());
    s.observe(&eps[0], 502);
    s.observe(&eps[0], 502);
    let until = eps[0].outlier().ejected_until_ns().expect("ejected again");
    assert!(
        until - now_ns() > 50_000 * MS,
        "a proven endpoint gets base × 2 = 60 s"
    );
}
