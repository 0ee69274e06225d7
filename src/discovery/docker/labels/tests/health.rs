//! The `health.*` labels.

use std::time::Duration;

use super::*;
use crate::model::{HealthCheck, DEFAULT_FALL, DEFAULT_RISE, DEFAULT_STATUS, DEFAULT_TIMEOUT_CAP};

// ---- health.* ----

fn health(c: Container) -> HealthCheck {
    accepted(c).health.expect("a health check")
}

#[test]
fn health_interval_alone_is_a_tcp_check_with_defaults() {
    let h = health(container().label("berth.health.interval", "10s"));
    assert_eq!(
        h,
        HealthCheck {
            path: None,
            interval: secs(10),
            timeout: DEFAULT_TIMEOUT_CAP,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            status: DEFAULT_STATUS,
        }
    );
    let h = health(container().label("berth.health.interval", "1s"));
    assert_eq!(
        h.timeout,
        secs(1),
        "default timeout is capped by the interval"
    );
}

#[test]
fn health_every_label() {
    let h = health(
        container()
            .label("berth.health.path", "/healthz?full=1")
            .label("berth.health.interval", "5s")
            .label("berth.health.timeout", "500ms")
            .label("berth.health.rise", "1")
            .label("berth.health.fall", "10")
            .label("berth.health.status", "200-204"),
    );
    assert_eq!(h.path.as_deref(), Some("/healthz?full=1"));
    assert_eq!(
        (h.interval, h.timeout),
        (secs(5), Duration::from_millis(500))
    );
    assert_eq!((h.rise, h.fall, h.status), (1, 10, (200, 204)));
    let h = health(
        container()
            .label("berth.health.path", "/")
            .label("berth.health.interval", "5s")
            .label("berth.health.status", "204"),
    );
    assert_eq!(h.status, (204, 204));
}

#[test]
fn health_needs_an_interval() {
    assert_eq!(
        rejected(
            container()
                .label("berth.health.path", "/healthz")
                .label("berth.health.rise", "2")
        ),
        "berth.health.path, berth.health.rise set without berth.health.interval: \
         add berth.health.interval (like 10s) to enable the check, or remove them"
    );
}

#[test]
fn health_status_needs_a_path() {
    let reason = rejected(
        container()
            .label("berth.health.interval", "5s")
            .label("berth.health.status", "200"),
    );
    assert_eq!(
        reason,
        "label berth.health.status needs berth.health.path: \
         without a path the check is a TCP connect, which has no status"
    );
}

#[test]
fn health_timeout_within_interval() {
    assert_eq!(
        rejected(
            container()
                .label("berth.health.interval", "1s")
                .label("berth.health.timeout", "2s")
        ),
        "label berth.health.timeout=2s: longer than berth.health.interval=1s; \
         a check must end before the next one starts"
    );
}

#[test]
fn health_bad_values() {
    let with = |k: &str, v: &str| {
        rejected(
            container()
                .label("berth.health.interval", "5s")
                .label("berth.health.path", "/h")
                .label(k, v),
        )
    };
    assert_eq!(
        with("berth.health.rise", "0"),
        "label berth.health.rise=0: expected a whole number of at least 1"
    );
    assert_eq!(
        with("berth.health.fall", "x"),
        "label berth.health.fall=x: expected a whole number of at least 1"
    );
    for bad in ["399-200", "600", "99", "ok", "200-", "2xx"] {
        assert_eq!(
            with("berth.health.status", bad),
            format!(
                "label berth.health.status={bad}: expected a status like 200 or a range \
                 like 200-399, within 100..=599"
            )
        );
    }
    assert!(with("berth.health.interval", "0s").contains("must be longer than 0"));
    assert!(with("berth.health.interval", "10").contains("a unit is required"));
    assert!(with("berth.health.timeout", "0ms").contains("must be longer than 0"));
    assert!(with("berth.health.path", "healthz").starts_with("label berth.health.path=healthz: "));
}

#[test]
fn labels_health_reaches_the_service_spec() {
    let a = accepted(
        container()
            .label("berth.health.path", "/h")
            .label("berth.health.interval", "2s"),
    );
    assert_eq!(a.endpoint.service.health, a.health);
    assert!(accepted(container()).endpoint.service.health.is_none());
}
