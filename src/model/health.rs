//! Active health-check settings (vocabulary): what a check is, and what the admin API shows
//! of one endpoint's check.
//!
//! [`HealthCheck`] is the one description of an active check, shared by the `berth.health.*`
//! labels, `defaults.health` and a static service's `health:`. An HTTP check (`path` set) is
//! an HTTP/1.1 `GET` (over TLS for a service with `https` endpoints) that passes on a status
//! within `status`; a TCP check (no `path`) passes when a connection is established. Both
//! must finish within `timeout`.

use std::fmt;
use std::time::Duration;

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

/// What the admin API shows of an endpoint's active check.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HealthStatus {
    /// The check, e.g. `http GET /health status 200-399 every 10s (...)`.
    pub check: String,
    pub healthy: bool,
    pub consecutive_passes: u32,
    pub consecutive_failures: u32,
    /// `pass`, or why the last check failed; `None` before the first check.
    pub last_result: Option<String>,
    /// When the last check ended, in milliseconds since the Unix epoch.
    pub last_check_unix_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
