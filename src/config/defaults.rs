//! The typed `defaults:` section (control plane, plain data): what a service inherits when
//! it sets nothing. The settings themselves (timeouts, outlier detection, limits, slow
//! start, retry budget) are `model` types.

use std::time::Duration;

use crate::model::{
    Balance, BudgetSettings, HealthCheck, Layer, Limits, Outlier, Resilience, Timeouts,
};

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
