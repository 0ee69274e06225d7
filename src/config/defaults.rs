//! The typed `defaults:` section and the failure policy a service inherits from it
//! (control plane, plain data): timeouts, outlier detection, limits, slow start.

use std::time::Duration;

use super::Layer;
use crate::balance::Balance;
use crate::health::HealthCheck;
use crate::state::retry_budget::BudgetSettings;

#[derive(Clone, Debug, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    pub idle: Duration,
    pub header_read: Duration,
    /// An L4 connection with no byte either way for this long is closed (services may
    /// override it).
    pub tcp_idle: Duration,
}

/// `defaults.timeouts.tcp_idle` when the file sets none: Envoy's TCP proxy default, long
/// enough for a pooled database connection, short enough to reap a vanished peer.
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    pub balance: Balance,
    pub retries: u8,
    pub drain: Duration,
    pub timeouts: Timeouts,
    /// `defaults.health`: the active check of static services and containers that set none.
    pub health: Option<HealthCheck>,
    /// `defaults.outlier`: passive outlier detection of every service.
    pub outlier: Outlier,
    /// `defaults.retry_budget`: the share of requests each service may retry.
    pub retry_budget: BudgetSettings,
    /// `defaults.limits`: circuit breaking of every service.
    pub limits: Limits,
    /// `defaults.slow_start`: how long a new endpoint takes to reach its full weight.
    pub slow_start: Duration,
}

impl Defaults {
    /// The failure policy of a service that overrides nothing.
    pub fn resilience(&self) -> Resilience {
        Resilience {
            outlier: self.outlier,
            limits: self.limits,
            slow_start: self.slow_start,
        }
    }

    /// `health` as a service of `layer` inherits it: an L4 service speaks no HTTP, so it
    /// gets the TCP connect check at the same interval (its own `health.path` may still ask
    /// for HTTP).
    pub fn health_for(&self, layer: Layer) -> Option<HealthCheck> {
        let check = self.health.clone()?;
        Some(match layer {
            Layer::Http => check,
            Layer::Tcp => HealthCheck {
                path: None,
                ..check
            },
        })
    }
}

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

/// Circuit breaking, see `state::queue`.
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

/// Passive outlier detection (`defaults.outlier`), see `state::outlier`.
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
