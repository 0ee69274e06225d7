//! The `health.*` labels: an active check's settings (control plane, pure).
//!
//! Parsed and validated when the container is evaluated, so a bad value rejects the
//! container at once; the active checker uses [`HealthLabels`] later. With
//! `health.path` the check is an HTTP `GET` of that path; without it, a TCP connect.
//! Invariants: `health.interval` is required as soon as any `health.*` label is set;
//! `0 < timeout <= interval`; `rise, fall >= 1`; `100 <= status.0 <= status.1 <= 599`.

use std::time::Duration;

use super::reader::{int_in, positive_duration, request_path, Labels};

/// Consecutive passes that make an endpoint healthy, when `health.rise` is absent.
pub const DEFAULT_RISE: u32 = 2;
/// Consecutive failures that make an endpoint unhealthy, when `health.fall` is absent.
pub const DEFAULT_FALL: u32 = 3;
/// Statuses that pass an HTTP check, when `health.status` is absent.
pub const DEFAULT_STATUS: (u16, u16) = (200, 399);
/// Upper bound of the default timeout (the default is `min(interval, this)`).
pub const DEFAULT_TIMEOUT_CAP: Duration = Duration::from_secs(5);

/// Every `health.*` suffix.
pub(super) const SUFFIXES: [&str; 6] = [
    "health.path",
    "health.interval",
    "health.timeout",
    "health.rise",
    "health.fall",
    "health.status",
];

/// An active health check, from a container's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthLabels {
    /// HTTP request path (may carry a query); `None`: TCP connect check.
    pub path: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Inclusive range of passing HTTP statuses.
    pub status: (u16, u16),
}

/// The check the labels ask for; `None` when no `health.*` label is set, or when they are
/// invalid (then the problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>) -> Option<HealthLabels> {
    let present: Vec<&str> = SUFFIXES.into_iter().filter(|s| labels.has(s)).collect();
    if present.is_empty() {
        return None;
    }
    let before = labels.problem_count();
    let path = labels.parse("health.path", request_path);
    let interval = labels.parse("health.interval", positive_duration);
    let timeout = labels.parse("health.timeout", positive_duration);
    let rise = labels.parse("health.rise", int_in(1, u32::MAX));
    let fall = labels.parse("health.fall", int_in(1, u32::MAX));
    let status = labels.parse("health.status", status_range);
    if !labels.has("health.interval") {
        let set: Vec<String> = present.iter().map(|s| labels.key(s)).collect();
        labels.problem(format!(
            "{} set without {}: add {} (like 10s) to enable the check, or remove them",
            set.join(", "),
            labels.key("health.interval"),
            labels.key("health.interval"),
        ));
    }
    if labels.has("health.status") && !labels.has("health.path") {
        labels.problem(format!(
            "label {} needs {}: without a path the check is a TCP connect, which has no status",
            labels.key("health.status"),
            labels.key("health.path"),
        ));
    }
    let interval = interval?;
    let timeout = timeout.unwrap_or(interval.min(DEFAULT_TIMEOUT_CAP));
    if timeout > interval {
        labels.problem(format!(
            "label {}={}: longer than {}={}; a check must end before the next one starts",
            labels.key("health.timeout"),
            labels.raw("health.timeout").unwrap_or_default(),
            labels.key("health.interval"),
            labels.raw("health.interval").unwrap_or_default(),
        ));
    }
    if labels.problem_count() > before {
        return None;
    }
    Some(HealthLabels {
        path,
        interval,
        timeout,
        rise: rise.unwrap_or(DEFAULT_RISE),
        fall: fall.unwrap_or(DEFAULT_FALL),
        status: status.unwrap_or(DEFAULT_STATUS),
    })
}

/// `200` or `200-399`: an inclusive range of HTTP statuses.
fn status_range(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let code = |c: &str| {
        c.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    match (code(lo), code(hi)) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
        _ => Err("expected a status like 200 or a range like 200-399, within 100..=599".into()),
    }
}
