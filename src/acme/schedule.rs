//! When to order (pure): renewal at two thirds of a certificate's lifetime, exponential
//! backoff with jitter after a failure, and the window in which a certificate that could not
//! be renewed is warned about.
//!
//! Let's Encrypt's 90-day certificates renew 30 days before they expire, as its own
//! guidance asks; a short-lived certificate (Pebble's test ones, or 6-day profiles) renews at
//! the same proportion. A failed order waits `backoff`, then twice as long after each further
//! failure, up to a day, each wait jittered ±20 % so replicas and names do not retry in step;
//! a CA's `Retry-After` (or a rate-limit answer) is a floor under the wait.

use std::time::{Duration, SystemTime};

/// The longest wait between two attempts for one name.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// A rate-limited order waits at least this long (Let's Encrypt's limits are hourly).
pub const RATE_LIMITED: Duration = Duration::from_secs(3600);
/// A certificate whose renewal keeps failing is warned about from this long before it expires.
pub const WARN_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);

/// When a certificate valid over `validity` (not before, not after) is due for renewal.
pub fn renew_at((not_before, not_after): (SystemTime, SystemTime)) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    not_before + lifetime * 2 / 3
}

/// Whether a certificate expiring at `not_after` is in its warning window at `now`.
pub fn in_warning(not_after: SystemTime, now: SystemTime) -> bool {
    not_after
        .duration_since(now)
        .map_or(true, |left| left <= WARN_BEFORE)
}

/// The wait after a rate-limit answer: until the time its detail names (Let's Encrypt writes
/// `retry after 2026-01-01 12:00:00 UTC`), at least a minute; an hour when it names none.
pub fn rate_limited(detail: &str, now: SystemTime) -> Duration {
    let lower = detail.to_ascii_lowercase();
    let named = lower.find("retry after ").and_then(|at| {
        let rest = detail.get(at + "retry after ".len()..)?;
        let stamp = rest.get(..19)?;
        humantime::parse_rfc3339_weak(stamp).ok()
    });
    match named {
        Some(at) => at
            .duration_since(now)
            .unwrap_or_default()
            .clamp(Duration::from_secs(60), MAX_BACKOFF),
        None => RATE_LIMITED,
    }
}

/// Failures of one name so far, and the wait they earn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Counts a failure; the wait before the next attempt. `jitter` in [0, 1) spreads it by
    /// ±20 %; `floor` is what the CA asked for (`Retry-After`, a rate limit).
    pub fn failed(&mut self, base: Duration, jitter: f64, floor: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doubled = base.saturating_mul(1 << (self.failures - 1).min(20));
        let wait = doubled
            .min(MAX_BACKOFF)
            .mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0));
        floor.map_or(wait, |f| wait.max(f))
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    pub fn failures(self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_waits_until_the_time_the_ca_names() {
        let now = humantime::parse_rfc3339("2026-01-01T10:00:00Z").expect("time");
        let detail = "too many certificates (5) already issued for this exact set of \
                      identifiers in the last 168h0m0s, retry after 2026-01-01 12:30:00 UTC: see \
                      https://letsencrypt.org/docs/rate-limits/";
        assert_eq!(rate_limited(detail, now), Duration::from_secs(9000));
        let soon = "Retry after 2026-01-01 10:00:05 UTC";
        assert_eq!(
            rate_limited(soon, now),
            Duration::from_secs(60),
            "at least a minute"
        );
        assert_eq!(rate_limited("too many new orders", now), RATE_LIMITED);
        assert_eq!(rate_limited("retry after soon", now), RATE_LIMITED);
    }

    #[test]
    fn renews_at_two_thirds_of_the_lifetime() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ninety_days = Duration::from_secs(90 * 86400);
        let at = renew_at((start, start + ninety_days));
        assert_eq!(at, start + Duration::from_secs(60 * 86400));
        assert_eq!(renew_at((start, start)), start, "no lifetime: at once");
    }

    #[test]
    fn backoff_doubles_caps_and_honours_the_floor() {
        let base = Duration::from_secs(60);
        let mut b = Backoff::default();
        assert_eq!(b.failed(base, 0.5, None), Duration::from_secs(60));
        assert_eq!(b.failed(base, 0.5, None), Duration::from_secs(120));
        assert_eq!(b.failed(base, 0.5, None), Duration::from_secs(240));
        assert_eq!(b.failed(base, 0.0, None), Duration::from_secs(384), "-20 %");
        for _ in 0..40 {
            b.failed(base, 0.5, None);
        }
        assert_eq!(b.failed(base, 0.5, None), MAX_BACKOFF);
        b.succeeded();
        let floor = Some(RATE_LIMITED);
        assert_eq!(b.failed(base, 0.5, floor), RATE_LIMITED);
    }

    #[test]
    fn warning_window() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert!(in_warning(now + Duration::from_secs(6 * 86400), now));
        assert!(!in_warning(now + Duration::from_secs(8 * 86400), now));
        assert!(in_warning(now - Duration::from_secs(1), now), "expired");
    }
}
