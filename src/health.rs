//! Active health checks (control plane): what a check is, and the tasks that run them.
//!
//! [`HealthCheck`] is the one description of an active check, shared by the `berth.health.*`
//! labels, `defaults.health` and a static service's `health:`. An HTTP check (`path` set) is
//! an HTTP/1.1 `GET` (over TLS for a service with `https` endpoints) that passes on a status
//! within `status`; a TCP check (no `path`) passes when a connection is established. Both
//! must finish within `timeout`.
//!
//! Submodules: `probe` (one check against one address), `checker` (the per-endpoint task and
//! its rise/fall state machine).
//!
//! Invariants: checks never run on the data plane; their result lives on the
//! `Arc<Endpoint>` (one exclusion bit, read live by selectors, plus counters for the admin
//! API), so it survives every snapshot rebuild and config reload. A brand-new endpoint with an
//! active check starts *routable* (like Envoy and HAProxy) and leaves the rotation after its
//! first `fall` consecutive failures; a container with a Docker `HEALTHCHECK` is already held
//! back by that until Docker says `healthy`. A known endpoint keeps its state, also when its
//! check settings change (the checker restarts with fresh counters but the same up/down).

use std::fmt;
use std::time::Duration;

pub mod checker;
pub mod probe;

pub use checker::{Checker, HealthStatus, Notify};
pub use probe::{probe, ProbeError};

/// Consecutive passes that make an endpoint healthy, when `rise` is not given.
pub const DEFAULT_RISE: u32 = 2;
/// Consecutive failures that make an endpoint unhealthy, when `fall` is not given.
pub const DEFAULT_FALL: u32 = 3;
/// Statuses that pass an HTTP check, when `status` is not given.
pub const DEFAULT_STATUS: (u16, u16) = (200, 399);
/// Upper bound of the default timeout (the default is `min(interval, this)`).
pub const DEFAULT_TIMEOUT_CAP: Duration = Duration::from_secs(5);

/// An active health check's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// HTTP request path (may carry a query); `None`: TCP connect check.
    pub path: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Inclusive range of passing HTTP statuses.
    pub status: (u16, u16),
}

impl HealthCheck {
    /// A check with the defaults for everything but `path` and `interval`.
    pub fn new(path: Option<String>, interval: Duration) -> Self {
        Self {
            path,
            interval,
            timeout: default_timeout(interval),
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            status: DEFAULT_STATUS,
        }
    }
}

impl fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(
                f,
                "http GET {path} status {}-{}",
                self.status.0, self.status.1
            )?,
            None => f.write_str("tcp connect")?,
        }
        write!(
            f,
            " every {} (timeout {}, rise {}, fall {})",
            humantime::format_duration(self.interval),
            humantime::format_duration(self.timeout),
            self.rise,
            self.fall
        )
    }
}

/// The timeout used when none is given: the interval, at most [`DEFAULT_TIMEOUT_CAP`].
pub fn default_timeout(interval: Duration) -> Duration {
    interval.min(DEFAULT_TIMEOUT_CAP)
}

/// `200` or `200-399`: an inclusive range of HTTP statuses within `100..=599`.
pub fn parse_status_range(s: &str) -> Result<(u16, u16), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(parse_status_range("200"), Ok((200, 200)));
        assert_eq!(parse_status_range("200-399"), Ok((200, 399)));
        for bad in ["", "99", "600", "399-200", "2xx", "200-"] {
            assert!(parse_status_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_and_defaults() {
        let c = HealthCheck::new(Some("/h".into()), Duration::from_secs(10));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT_CAP);
        assert_eq!(
            c.to_string(),
            "http GET /h status 200-399 every 10s (timeout 5s, rise 2, fall 3)"
        );
        let c = HealthCheck::new(None, Duration::from_millis(100));
        assert_eq!(c.timeout, Duration::from_millis(100));
    }
}
