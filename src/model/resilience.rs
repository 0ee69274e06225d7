//! A service's failure policy (vocabulary): passive outlier detection, circuit breaking,
//! slow start and the retry budget. From `defaults`, overridden per service.

use std::time::Duration;

/// A service's failure policy besides health checks: passive outlier detection, circuit
/// breaking and slow start. From `defaults`, overridden per service (a static service's
/// `outlier:`, `limits:`, `slow_start:`; the labels `outlier.*`, `limits.*`, `slow_start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resilience {
    pub outlier: Outlier,
    pub limits: Limits,
    /// 0: a new endpoint gets its full weight at once.
    pub slow_start: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Self {
            outlier: Outlier::default(),
            limits: Limits::default(),
            slow_start: DEFAULT_SLOW_START,
        }
    }
}

/// `defaults.slow_start` when absent.
pub const DEFAULT_SLOW_START: Duration = Duration::from_secs(10);

/// Circuit breaking, see `endpoint::queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests one endpoint serves at once; 0: no limit.
    pub max_in_flight: u32,
    /// Requests that may wait for a free endpoint when every one is at `max_in_flight`
    /// (each for at most the connect timeout); 0: none wait.
    pub max_pending: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 0,
            max_pending: 100,
        }
    }
}

/// Passive outlier detection (`defaults.outlier`), see `endpoint::outlier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outlier {
    /// Failures in a row that eject an endpoint; 0 turns detection off.
    pub consecutive_failures: u32,
    /// An ejection lasts `base_ejection` × the endpoint's ejection count ...
    pub base_ejection: Duration,
    /// ... and at most this.
    pub max_ejection: Duration,
    /// Most endpoints of a service ejected at once, in percent of its endpoints (0..=100).
    pub max_ejected_percent: u8,
    /// Count only gateway failures (connect errors, 502, 503, 504), not every 5xx.
    pub gateway_errors_only: bool,
}

impl Default for Outlier {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejected_percent: 50,
            gateway_errors_only: false,
        }
    }
}

/// `defaults.retry_budget`: how many retries a service may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSettings {
    /// Retries allowed, in percent of requests in the window (0..=100).
    pub percent: u8,
    /// Retries always allowed per window, whatever the traffic.
    pub min_retries: u32,
    /// Length of the sliding window.
    pub window: Duration,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            percent: 20,
            min_retries: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl BudgetSettings {
    /// The length of one of the window's `buckets` time buckets, at least 1 ns.
    pub fn bucket_ns(&self, buckets: u64) -> u64 {
        let window = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        (window / buckets).max(1)
    }

    /// Retries allowed for `requests` in a window.
    pub fn allowed(&self, requests: u64) -> u64 {
        (requests * u64::from(self.percent) / 100).max(u64::from(self.min_retries))
    }
}
