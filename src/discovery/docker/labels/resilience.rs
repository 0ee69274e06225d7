//! The `outlier.*`, `limits.*` and `slow_start` labels: a service's failure policy over the
//! config's defaults (control plane, pure).
//!
//! Each label overrides one field of `defaults` (`defaults.outlier`, `defaults.limits`,
//! `defaults.slow_start`); a bad value is a problem recorded in `labels`, which rejects the
//! container. Invariant: `outlier.max_ejection >= outlier.base_ejection`.

use super::reader::Labels;
use crate::model::value::{boolean, duration, int_in, positive_duration};
use crate::model::Resilience;

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 8] = [
    "outlier.consecutive_failures",
    "outlier.base_ejection",
    "outlier.max_ejection",
    "outlier.max_ejected_percent",
    "outlier.gateway_errors_only",
    "limits.max_in_flight",
    "limits.max_pending",
    "slow_start",
];

/// The labels' policy over `base` (problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>, base: &Resilience) -> Resilience {
    let mut r = *base;
    let o = &mut r.outlier;
    let any = u32::MAX;
    if let Some(v) = labels.parse("outlier.consecutive_failures", int_in(0, any)) {
        o.consecutive_failures = v;
    }
    let base_set = labels.parse("outlier.base_ejection", positive_duration);
    let max_set = labels.parse("outlier.max_ejection", positive_duration);
    o.base_ejection = base_set.unwrap_or(o.base_ejection);
    o.max_ejection = max_set.unwrap_or(o.max_ejection.max(o.base_ejection));
    if max_set.is_some() && o.max_ejection < o.base_ejection {
        labels.problem(format!(
            "label {}={}: shorter than the base ejection ({}); use at least the base",
            labels.key("outlier.max_ejection"),
            labels.raw("outlier.max_ejection").unwrap_or_default(),
            humantime::format_duration(o.base_ejection),
        ));
    }
    if let Some(v) = labels.parse("outlier.max_ejected_percent", int_in(0, 100)) {
        // Invariant: int_in(0, 100) only gives values that fit a u8.
        o.max_ejected_percent = u8::try_from(v).unwrap_or(100);
    }
    if let Some(v) = labels.parse("outlier.gateway_errors_only", boolean) {
        o.gateway_errors_only = v;
    }
    if let Some(v) = labels.parse("limits.max_in_flight", int_in(0, any)) {
        r.limits.max_in_flight = v;
    }
    if let Some(v) = labels.parse("limits.max_pending", int_in(0, any)) {
        r.limits.max_pending = v;
    }
    if let Some(v) = labels.parse("slow_start", duration) {
        r.slow_start = v;
    }
    r
}
