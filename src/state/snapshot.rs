//! The routing snapshot (built by the control plane, read by the data plane).
//!
//! A [`Snapshot`] is immutable once published: per listener a route table whose targets are
//! [`Service`]s; per service its endpoints (shared `Arc<Endpoint>`s), its selector and its
//! pre-resolved metric handles; plus the request-path settings of the config it came from.
//! The data plane loads it once per request (`ArcSwap::load`) and never waits on its builder.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use metrics::{Counter, Histogram};

use crate::balance::{pick_ignoring_active, ramp_pick, PickContext, Selector};
use crate::endpoint::outlier::ServiceOutlier;
use crate::endpoint::queue::Queue;
use crate::endpoint::{now_ns, Endpoint};
use crate::metrics::{self as m, EndpointSeries, StatusCache, StatusCounters, TcpCounters};
use crate::model::sticky::StickyIndex;
use crate::model::{BudgetSettings, Outlier, ServiceSpec, Timeouts};
use crate::state::retry_budget::RetryBudget;
use crate::state::route::RouteTable;

/// Everything the data plane needs to route and proxy, at one instant.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases with every published snapshot.
    pub generation: u64,
    /// Indexed like the listeners the data plane was started with.
    pub listeners: Vec<ListenerRoutes>,
    /// Every service, including those no listener routes to, for the admin API.
    pub services: Vec<Arc<Service>>,
    /// Problems found while building (route conflicts, unknown listeners), by service name.
    pub warnings: BTreeMap<Arc<str>, Vec<String>>,
    pub timeouts: Timeouts,
    /// Grace for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Snapshot {
    /// Sweeps every service's outlier ejections at the current time; true when an endpoint
    /// returned.
    pub fn sweep_outliers(&self) -> bool {
        let now = now_ns();
        let mut returned = false;
        for service in &self.services {
            returned |= service.outlier.sweep(&service.endpoints, now);
        }
        returned
    }
}

/// One listener's routes and the settings its connections use.
#[derive(Debug)]
pub struct ListenerRoutes {
    pub name: Arc<str>,
    pub trusted_ips: Vec<IpNet>,
    pub routes: RouteTable<Arc<ServiceRoute>>,
    /// What matched no route: requests (`requests_total{code="404"}`) on an http/https
    /// listener, connections (`tcp_connections_total{result="no_route"}`) on an L4 one.
    pub no_route: Counter,
}

/// A service as seen through one listener: the service plus that listener's counters.
#[derive(Debug)]
pub struct ServiceRoute {
    pub service: Arc<Service>,
    /// `requests_total{listener,service,code}`.
    pub requests: StatusCounters,
    /// On an L4 listener (`Some` exactly there): the connection counters.
    pub tcp: Option<TcpCounters>,
}

/// A service with its endpoints and selector.
#[derive(Debug)]
pub struct Service {
    pub spec: Arc<ServiceSpec>,
    pub endpoints: Vec<Arc<Endpoint>>,
    pub selector: Selector,
    /// Per endpoint, same order: its metric series (`upstream_requests_total`, latency).
    pub series: Vec<EndpointSeries>,
    pub duration: Histogram,
    pub connect_errors: Counter,
    pub retries: Counter,
    /// `circuit_open_total{service,reason}`, by [`Refusal`](crate::endpoint::queue::Refusal):
    /// `max_pending`, `queue_timeout`.
    pub circuit_open: [Counter; 2],
    /// Panic mode (Envoy's): every endpoint is out, and some only by their active check;
    /// then `pick` ignores active checks. Set by the reconciler (`Service::should_panic`).
    pub panic: AtomicBool,
    /// Passive outlier detection: settings, cap and ejected count (`endpoint::outlier`).
    pub outlier: ServiceOutlier,
    /// Slow start window in nanoseconds; 0 when off (or for a hash selector).
    pub slow_start_ns: u64,
    /// `defaults.retry_budget`, applied to `shared.budget`.
    pub budget: BudgetSettings,
    /// State that outlives this snapshot (the reconciler keeps it by service name).
    pub shared: Arc<ServiceShared>,
    /// A discovered service kept without endpoints since then (its `keep_route`).
    pub vacant_since: Option<std::time::SystemTime>,
    /// Sticky sessions: cookie values back to endpoint indexes; `None` when not sticky.
    pub sticky: Option<StickyIndex>,
}

/// Per-service state that outlives snapshots, like an `Arc<Endpoint>` does per endpoint.
#[derive(Debug, Default)]
pub struct ServiceShared {
    pub budget: RetryBudget,
    /// Requests waiting for an endpoint under `limits.max_in_flight` (circuit breaking).
    pub queue: Arc<Queue>,
    /// The clients' buckets of `rate_limit`, made at the first limited request.
    pub rate: std::sync::OnceLock<crate::state::rate_limiter::RateLimiter>,
    /// The clients' requests in flight under `in_flight.per_client`, made at first use.
    pub client_in_flight: std::sync::OnceLock<Arc<crate::state::rate_limiter::ClientCounts>>,
}

impl Service {
    /// Builds a service, its selector and its metric handles (off the hot path).
    pub fn new(
        spec: Arc<ServiceSpec>,
        endpoints: Vec<Arc<Endpoint>>,
        counters: &mut StatusCache,
    ) -> Self {
        let name = spec.name.to_string();
        let selector = Selector::new(&spec.balance, &endpoints);
        let slow_start_ns = match selector.ramps() {
            true => u64::try_from(spec.resilience.slow_start.as_nanos()).unwrap_or(u64::MAX),
            false => 0,
        };
        let series = endpoints
            .iter()
            .map(|e| counters.endpoint(&name, e.label()))
            .collect();
        let outlier = ServiceOutlier::new(Outlier::default(), &spec.name, &endpoints);
        let addrs = || endpoints.iter().map(|e| e.addr());
        let sticky =
            (spec.sticky.as_ref()).map(|s| StickyIndex::new(s, &name, &spec.path, addrs()));
        Self {
            outlier,
            duration: metrics::histogram!(m::REQUEST_DURATION_SECONDS, "service" => name.clone()),
            connect_errors: metrics::counter!(m::UPSTREAM_CONNECT_ERRORS_TOTAL, "service" => name.clone()),
            circuit_open: [
                metrics::counter!(m::CIRCUIT_OPEN_TOTAL, "service" => name.clone(), "reason" => "max_pending"),
                metrics::counter!(m::CIRCUIT_OPEN_TOTAL, "service" => name.clone(), "reason" => "queue_timeout"),
            ],
            retries: metrics::counter!(m::RETRIES_TOTAL, "service" => name),
            spec,
            endpoints,
            selector,
            series,
            panic: AtomicBool::new(false),
            slow_start_ns,
            budget: BudgetSettings::default(),
            shared: Arc::default(),
            vacant_since: None,
            sticky,
        }
    }

    /// The same service, kept without endpoints since `since`.
    pub fn vacant_since(mut self, since: std::time::SystemTime) -> Self {
        self.vacant_since = Some(since);
        self
    }

    /// The same service sharing `shared` (its state from earlier snapshots) and counting
    /// retries against `budget`.
    pub fn with_shared(mut self, shared: Arc<ServiceShared>, budget: BudgetSettings) -> Self {
        self.shared = shared;
        self.budget = budget;
        self
    }

    /// True when the service may retry: it has retries and its budget allows one more now
    /// (then counted).
    pub fn try_retry(&self, now_ns: u64) -> bool {
        self.spec.retries > 0 && self.shared.budget.try_retry(now_ns, &self.budget)
    }

    /// Counts a request against the retry budget (only services that retry count).
    #[inline]
    pub fn count_request(&self, now_ns: u64) {
        if self.spec.retries > 0 {
            self.shared.budget.count_request(now_ns, &self.budget);
        }
    }

    /// The same service with outlier detection set to `settings` (default: `Outlier::default()`).
    pub fn with_outlier(mut self, settings: Outlier) -> Self {
        self.outlier.set_settings(settings, self.endpoints.len());
        self
    }

    /// Records the outcome of a request to `self.endpoints[index]` for outlier detection:
    /// the response's status, or 502 for a connect error or reset, 504 for a timeout.
    #[inline]
    pub fn observe(&self, index: usize, status: u16) {
        if let Some(endpoint) = self.endpoints.get(index) {
            self.outlier.observe(endpoint, status);
        }
    }

    /// Picks an endpoint not in `tried`; `None` when no routable one is left. In panic
    /// mode (checked only when the selector finds nothing, so free otherwise) it falls back
    /// to an endpoint excluded by nothing but its active check.
    #[inline]
    pub fn pick(&self, ctx: &PickContext<'_>, tried: &[usize]) -> Option<usize> {
        let picked = match self.selector.pick(&self.endpoints, ctx, tried) {
            None if self.panic.load(Relaxed) => pick_ignoring_active(&self.endpoints, tried),
            found => found,
        }?;
        let since = self.endpoints[picked].ramp_since_ns();
        if since == 0 || self.slow_start_ns == 0 {
            return Some(picked);
        }
        let ramp = (picked, since, self.slow_start_ns);
        Some(ramp_pick(&self.selector, &self.endpoints, ctx, tried, ramp))
    }

    /// True when the service should be in panic mode: it has endpoints, none is routable,
    /// and at least one is held out by its active check alone.
    pub fn should_panic(&self) -> bool {
        !self.endpoints.is_empty()
            && self.endpoints.iter().all(|e| !e.is_routable())
            && self
                .endpoints
                .iter()
                .any(|e| e.is_active_failing() && e.is_routable_ignoring_active())
    }

    /// Ends the slow start of every endpoint when all of them are ramping up (a new
    /// service, or all replaced at once): a ramp only means something next to endpoints
    /// already at full weight.
    pub fn end_shared_ramps(&self) {
        if self.endpoints.iter().all(|e| e.ramp_since_ns() != 0) {
            self.endpoints.iter().for_each(|e| e.set_ramp_since_ns(0));
        }
    }

    /// Number of endpoints a selector may pick now.
    pub fn routable_count(&self) -> usize {
        self.endpoints.iter().filter(|e| e.is_routable()).count()
    }
}
