//! The `health.*` labels: an active check's settings (control plane, pure).
//!
//! Parsed and validated when the container is evaluated, so a bad value rejects the
//! container at once; the result is the shared [`HealthCheck`]. With
//! `health.path` the check is an HTTP `GET` of that path; without it, a TCP connect.
//! Invariants: `health.interval` is required as soon as any `health.*` label is set;
//! `0 < timeout <= interval`; `rise, fall >= 1`; `100 <= status.0 <= status.1 <= 599`.

use super::reader::Labels;
use crate::model::value::{int_in, positive_duration, request_path, status_range};
use crate::model::{default_timeout, HealthCheck, DEFAULT_FALL, DEFAULT_RISE, DEFAULT_STATUS};

/// Every `health.*` suffix.
pub(super) const SUFFIXES: [&str; 6] = [
    "health.path",
    "health.interval",
    "health.timeout",
    "health.rise",
    "health.fall",
    "health.status",
];

/// The check the labels ask for; `None` when no `health.*` label is set, or when they are
/// invalid (then the problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>) -> Option<HealthCheck> {
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
    let timeout = timeout.unwrap_or(default_timeout(interval));
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
    Some(HealthCheck {
        path,
        interval,
        timeout,
        rise: rise.unwrap_or(DEFAULT_RISE),
        fall: fall.unwrap_or(DEFAULT_FALL),
        status: status.unwrap_or(DEFAULT_STATUS),
    })
}
