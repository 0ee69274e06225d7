//! What a service inherits when it sets nothing (vocabulary): the typed `defaults:` section,
//! with the values berth uses when the file leaves a field out, and the timeouts.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Balance, BudgetSettings, HealthCheck, Layer, Limits, Outlier, Resilience, ServiceSpec,
    Upstream, DEFAULT_SLOW_START,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    pub idle: Duration,
    pub header_read: Duration,
    /// An L4 connection with no byte either way for this long is closed (services may
    /// override it).
    pub tcp_idle: Duration,
    /// `body_min_rate`: the slowest a request body may arrive, in bytes per second, averaged
    /// over the time berth waited for it (`None`: off).
    pub body_min_rate: Option<u64>,
    /// `body_grace`: how long a body may arrive slower than `body_min_rate` at first.
    pub body_grace: Duration,
}

/// The minimum request-body data rate, when on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes per second, more than zero.
    pub per_second: u64,
    pub grace: Duration,
}

impl Timeouts {
    /// The duration keys under `defaults.timeouts`, in [`Self::by_name`]'s order
    /// (`body_min_rate`, a rate, is the other key).
    pub const NAMES: [&'static str; 6] = [
        "connect",
        "request",
        "idle",
        "header_read",
        "tcp_idle",
        "body_grace",
    ];

    /// Each duration with its key under `defaults.timeouts`.
    pub fn by_name(&mut self) -> [(&'static str, &mut Duration); 6] {
        let [c, r, i, h, t, g] = Self::NAMES;
        let Self {
            connect,
            request,
            idle,
            header_read,
            tcp_idle,
            body_min_rate: _,
            body_grace,
        } = self;
        [
            (c, connect),
            (r, request),
            (i, idle),
            (h, header_read),
            (t, tcp_idle),
            (g, body_grace),
        ]
    }

    /// The minimum request-body data rate, when on.
    pub fn body_rate(&self) -> Option<MinRate> {
        self.body_min_rate.map(|per_second| MinRate {
            per_second,
            grace: self.body_grace,
        })
    }
}

/// `defaults.timeouts.body_grace` when the file sets none (Kestrel's).
pub const DEFAULT_BODY_GRACE: Duration = Duration::from_secs(5);

/// `defaults.timeouts.tcp_idle` when the file sets none: Envoy's TCP proxy default, long
/// enough for a pooled database connection, short enough to reap a vanished peer.
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(3600);

impl Default for Timeouts {
    fn default() -> Self {
        let secs = Duration::from_secs;
        Self {
            connect: secs(2),
            request: secs(60),
            idle: secs(90),
            header_read: secs(10),
            tcp_idle: DEFAULT_TCP_IDLE,
            // Off: streamed request bodies (gRPC client streams, live uploads) may pause
            // for as long as they like; the `request` timeout bounds an unanswered one.
            body_min_rate: None,
            body_grace: DEFAULT_BODY_GRACE,
        }
    }
}

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
    /// `defaults.keep_route`: how long a discovered service's route stays after its last
    /// endpoint is gone (answering 503, not 404).
    pub keep_route: Duration,
}

/// `defaults.keep_route` when the file sets none: long enough for a redeploy (`down` then
/// `up`), short enough that a service really removed soon stops being routed.
pub const DEFAULT_KEEP_ROUTE: Duration = Duration::from_secs(300);

impl Default for Defaults {
    fn default() -> Self {
        Self {
            balance: Balance::LeastRequest,
            retries: 2,
            drain: Duration::from_secs(10),
            timeouts: Timeouts::default(),
            health: None,
            outlier: Outlier::default(),
            retry_budget: BudgetSettings::default(),
            limits: Limits::default(),
            slow_start: DEFAULT_SLOW_START,
            keep_route: DEFAULT_KEEP_ROUTE,
        }
    }
}

impl Defaults {
    /// The settings of service `name` that overrides nothing: what a static service or a
    /// container's labels start from before their own settings apply.
    pub fn service(&self, name: Arc<str>, layer: Layer) -> ServiceSpec {
        ServiceSpec {
            name,
            layer,
            listeners: Vec::new(),
            hosts: Vec::new(),
            path: "/".to_owned(),
            strip_prefix: false,
            hsts: None,
            balance: self.balance.clone(),
            retries: self.retries,
            request_timeout: self.timeouts.request,
            drain: self.drain,
            health: self.health_for(layer),
            resilience: self.resilience(),
            upstream: Upstream::default(),
            proxy_protocol: None,
            tcp_idle: self.timeouts.tcp_idle,
            keep_route: self.keep_route,
            acme: false,
            policies: Default::default(),
            shape: Default::default(),
            compress: None,
            sticky: None,
        }
    }

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
