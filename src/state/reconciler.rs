//! The reconciler (control plane): providers' updates in, published snapshots out.
//!
//! It owns the desired view of every provider, the live `Arc<Endpoint>` of every endpoint key
//! (reused across rebuilds so counters and state survive), and the current config's
//! request-path settings. It applies a burst of inputs, then rebuilds one whole new
//! [`Snapshot`] and stores it in the shared `ArcSwap`. Invariants: one task owns it; the data
//! plane only ever sees complete snapshots; a drain takes effect on the endpoint's atomic
//! flag at once, before any rebuild.
//!
//! Submodules: `listeners` (the listener set the route tables follow), `group` (endpoints
//! grouped into services for a build).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::discovery::Input;
use crate::endpoint::outlier;
use crate::endpoint::Endpoint;
use crate::health::{Checker, Notify};
use crate::metrics::{self as m, StatusCache, TcpCounters};
use crate::model::{EndpointKey, EndpointSpec, ProviderId, ServiceSpec, Update};
use crate::state::route::RouteTableBuilder;
use crate::state::snapshot::{Service, ServiceRoute, ServiceShared, Snapshot};

/// Quiet time that ends a burst of inputs.
const COALESCE_QUIET: Duration = Duration::from_millis(2);
/// Longest a burst may delay a rebuild.
const COALESCE_MAX: Duration = Duration::from_millis(20);

/// A provider's endpoint with the order in which it was last upserted, and first listed.
#[derive(Debug)]
struct Desired {
    spec: EndpointSpec,
    /// When it was last upserted or reset: the newest endpoint's spec is its service's.
    seq: u64,
    /// When the provider first listed it (kept across upserts and resets): the service
    /// whose endpoints were listed first claims a contested route, so a reload or a resync
    /// never hands a route to another service.
    since: u64,
}

/// Owner of endpoint state and builder of snapshots.
#[derive(Debug)]
pub struct Reconciler {
    listeners: ListenerSet,
    config: Arc<Config>,
    views: BTreeMap<ProviderId, HashMap<EndpointKey, Desired>>,
    live: HashMap<EndpointKey, Arc<Endpoint>>,
    published: Arc<ArcSwap<Snapshot>>,
    generation: u64,
    seq: u64,
    gauged_services: Vec<Arc<str>>,
    /// Status counters reused across rebuilds (registering them dominates a rebuild).
    counters: RefCell<StatusCache>,
    /// Per-service state kept across rebuilds (retry budget), by service name.
    shared: RefCell<HashMap<Arc<str>, Arc<ServiceShared>>>,
    /// One active checker per endpoint with a check; kept across rebuilds while unchanged.
    checkers: HashMap<EndpointKey, Checker>,
    /// Checkers wake the reconciler through this after a health flip.
    health_tx: Notify,
    health_rx: Option<mpsc::Receiver<()>>,
    /// Services in panic mode, to log and count each transition once.
    panicking: HashSet<Arc<str>>,
    /// Discovered services kept without endpoints for their `keep_route`.
    vacancies: Vacancies,
}

impl Reconciler {
    /// A reconciler for `config`'s listeners, with an empty snapshot already published.
    pub fn new(config: Arc<Config>) -> Self {
        let listeners = ListenerSet::from_config(&config);
        let (health_tx, health_rx) = mpsc::channel(1);
        let mut this = Self {
            published: Arc::new(ArcSwap::from_pointee(empty_snapshot(&listeners, &config))),
            listeners,
            config,
            views: BTreeMap::new(),
            live: HashMap::new(),
            generation: 0,
            seq: 0,
            gauged_services: Vec::new(),
            counters: RefCell::default(),
            shared: RefCell::default(),
            checkers: HashMap::new(),
            health_tx,
            health_rx: Some(health_rx),
            panicking: HashSet::new(),
            vacancies: Vacancies::default(),
        };
        this.publish();
        this
    }

    /// The shared cell the data plane loads snapshots from.
    pub fn published(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.published)
    }

    /// Applies inputs until the channel closes, rebuilding once per burst: after the first
    /// input it keeps taking inputs until `COALESCE_QUIET` passes without one (at most
    /// `COALESCE_MAX`), so 500 containers starting together cost a few rebuilds, not 500.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        let mut events = Vec::new();
        let Some(mut health_rx) = self.health_rx.take() else {
            return;
        };
        let mut sweep = tokio::time::interval(outlier::SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ejections = outlier::ejections();
        loop {
            let first = tokio::select! {
                first = rx.recv() => first,
                Some(()) = health_rx.recv() => {
                    self.refresh();
                    continue;
                }
                _ = sweep.tick() => {
                    // Expired ejections return; new ones (from the data plane) and
                    // returns refresh the gauges and panic flags.
                    let returned = self.published.load().sweep_outliers();
                    let now = outlier::ejections();
                    if self.vacancies.expired(Instant::now()) {
                        self.publish();
                    } else if returned || now != ejections {
                        ejections = now;
                        self.refresh();
                    }
                    continue;
                }
            };
            let Some(first) = first else { break };
            let deadline = Instant::now() + COALESCE_MAX;
            let mut batch = 1;
            self.take(first, &mut events);
            loop {
                let quiet = COALESCE_QUIET.min(deadline.saturating_duration_since(Instant::now()));
                match tokio::time::timeout(quiet, rx.recv()).await {
                    Ok(Some(next)) => {
                        self.take(next, &mut events);
                        batch += 1;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            debug!(batch, "reconciler applying burst");
            self.publish();
            let now = SystemTime::now();
            for at in events.drain(..) {
                let delay = now.duration_since(at).unwrap_or_default();
                metrics::histogram!(m::DISCOVERY_CONVERGENCE_SECONDS).record(delay.as_secs_f64());
            }
        }
    }

    fn take(&mut self, input: Input, events: &mut Vec<SystemTime>) {
        if let Input::Event { at, .. } = &input {
            events.push(*at);
        }
        self.apply(input);
    }

    /// Applies one input to the desired state (drains and removals take effect on the
    /// endpoint at once, before the rebuild).
    pub fn apply(&mut self, input: Input) {
        match input {
            Input::Config(config) => self.config = config,
            Input::Republish => {}
            Input::Update(update) | Input::Event { update, .. } => self.apply_update(update),
        }
    }

    fn apply_update(&mut self, update: Update) {
        match update {
            Update::Reset {
                provider,
                endpoints,
            } => {
                let old = self.views.remove(&provider).unwrap_or_default();
                let view: HashMap<_, _> = endpoints
                    .into_iter()
                    .map(|spec| {
                        let since = old.get(&spec.key).map(|d| d.since);
                        (spec.key.clone(), self.desired(spec, since))
                    })
                    .collect();
                self.views.insert(provider, view);
            }
            Update::Upsert { provider, endpoint } => {
                let since = self
                    .views
                    .get(&provider)
                    .and_then(|v| v.get(&endpoint.key))
                    .map(|d| d.since);
                let desired = self.desired(endpoint, since);
                self.views
                    .entry(provider)
                    .or_default()
                    .insert(desired.spec.key.clone(), desired);
            }
            Update::Remove(key) => {
                for view in self.views.values_mut() {
                    if let Some(gone) = view.remove(&key) {
                        self.vacancies.removed(&gone.spec.service.name);
                    }
                }
                self.checkers.remove(&key);
                if let Some(endpoint) = self.live.remove(&key) {
                    endpoint.mark_removed();
                }
            }
            Update::Drain(key) => {
                if let Some(endpoint) = self.live.get(&key) {
                    endpoint.drain();
                }
            }
        }
    }

    /// `spec` upserted now; first listed at `since`, else now.
    fn desired(&mut self, spec: EndpointSpec, since: Option<u64>) -> Desired {
        self.seq += 1;
        Desired {
            spec,
            seq: self.seq,
            since: since.unwrap_or(self.seq),
        }
    }

    /// Builds a new snapshot from the desired state and publishes it.
    pub fn publish(&mut self) {
        self.sync_live();
        self.generation += 1;
        let groups = group::services(&self.views, &self.live);
        let present = groups.iter().map(|g| &*g.spec.name).collect();
        self.vacancies
            .track(&self.views, &present, (Instant::now(), SystemTime::now()));
        let snapshot = self.build(groups);
        self.refresh_panic(&snapshot);
        self.set_gauges(&snapshot);
        self.published.store(Arc::new(snapshot));
        metrics::counter!(m::SNAPSHOT_BUILDS_TOTAL).increment(1);
    }

    /// Creates endpoints for new keys, updates weights, retires keys no provider lists.
    fn sync_live(&mut self) {
        let mut wanted: HashMap<&EndpointKey, &Desired> = HashMap::new();
        for view in self.views.values() {
            wanted.extend(view.iter());
        }
        self.live.retain(|key, endpoint| {
            let keep = wanted.contains_key(key);
            if !keep {
                endpoint.mark_removed();
            }
            keep
        });
        for (key, desired) in wanted {
            let endpoint = self
                .live
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Endpoint::new(key.clone(), desired.spec.weight)));
            endpoint.set_weight(desired.spec.weight);
            endpoint.set_availability(desired.spec.availability);
            endpoint.set_origin(&desired.spec.origin);
        }
        self.sync_checkers();
    }

    /// Starts a checker for each endpoint whose service has an active check, keeps running
    /// ones whose check is unchanged, restarts changed ones (the endpoint keeps its up/down
    /// state), and stops the rest (clearing their exclusion).
    fn sync_checkers(&mut self) {
        let mut wanted: HashMap<&EndpointKey, &Arc<ServiceSpec>> = HashMap::new();
        for view in self.views.values() {
            wanted.extend(view.iter().map(|(k, d)| (k, &d.spec.service)));
        }
        let live = &self.live;
        self.checkers.retain(|key, checker| {
            let keep = wanted.get(key).is_some_and(|s| {
                s.health
                    .as_ref()
                    .is_some_and(|check| checker.runs(&s.name, check))
            });
            if let Some(s) = wanted.get(key).filter(|_| keep) {
                checker.set_tls(s.upstream.tls.as_ref());
            }
            // A changed check restarts below and keeps the state; no check clears it.
            let unchecked = !wanted.get(key).is_some_and(|s| s.health.is_some());
            if !keep && unchecked {
                if let Some(endpoint) = live.get(key) {
                    endpoint.set_active_failing(false);
                    endpoint.set_health_status(None);
                }
            }
            keep
        });
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        for (key, service) in wanted {
            let (Some(check), Some(endpoint)) = (&service.health, self.live.get(key)) else {
                continue;
            };
            if self.checkers.contains_key(key) {
                continue;
            }
            let checker = Checker::spawn(
                Arc::clone(endpoint),
                Arc::clone(&service.name),
                check.clone(),
                service.upstream.tls.as_ref(),
                self.health_tx.clone(),
            );
            self.checkers.insert(key.clone(), checker);
        }
    }

    /// After a health flip: panic flags and gauges of the current snapshot, no rebuild.
    fn refresh(&mut self) {
        let snapshot = self.published.load_full();
        self.refresh_panic(&snapshot);
        self.set_gauges(&snapshot);
    }

    /// Sets each service's panic flag from its endpoints' live state; logs and counts
    /// entering and leaving panic mode once per transition.
    fn refresh_panic(&mut self, snapshot: &Snapshot) {
        let mut now = HashSet::new();
        for service in &snapshot.services {
            let panic = service.should_panic();
            service.panic.store(panic, Relaxed);
            if !panic {
                continue;
            }
            let name = &service.spec.name;
            now.insert(Arc::clone(name));
            if !self.panicking.contains(name) {
                warn!(service = %name, "panic mode: every endpoint fails its active check; routing to all of them");
                metrics::counter!(m::PANIC_MODE_TOTAL, "service" => name.to_string()).increment(1);
                metrics::gauge!(m::PANIC_MODE, "service" => name.to_string()).set(1.0);
            }
        }
        for name in self.panicking.difference(&now) {
            info!(service = %name, "panic mode over");
            metrics::gauge!(m::PANIC_MODE, "service" => name.to_string()).set(0.0);
        }
        self.panicking = now;
    }

    fn build(&self, groups: Vec<Grouped>) -> Snapshot {
        let mut builders: Vec<RouteTableBuilder<Arc<ServiceRoute>>> = (0..self.listeners.len())
            .map(|_| RouteTableBuilder::new())
            .collect();
        let mut warnings: BTreeMap<Arc<str>, Vec<String>> = BTreeMap::new();
        let mut services = Vec::with_capacity(groups.len());
        let mut counters = self.counters.borrow_mut();
        let mut shared = self.shared.borrow_mut();
        let mut kept = HashMap::with_capacity(groups.len());
        for Grouped {
            spec,
            endpoints,
            warnings: left_out,
        } in groups
        {
            let state = shared.remove(&spec.name).unwrap_or_default();
            kept.insert(Arc::clone(&spec.name), Arc::clone(&state));
            let outlier = spec.resilience.outlier;
            let service = Service::new(spec, endpoints, &mut counters)
                .with_outlier(outlier)
                .with_shared(state, self.config.defaults.retry_budget);
            service.end_shared_ramps();
            let service = Arc::new(service);
            let mut problems = left_out;
            problems.extend(self.add_routes(&mut builders, &service, &mut counters));
            if !problems.is_empty() {
                warnings.insert(Arc::clone(&service.spec.name), problems);
            }
            services.push(service);
        }
        for vacant in self.vacancies.kept() {
            let state = shared.remove(&vacant.spec.name).unwrap_or_default();
            kept.insert(Arc::clone(&vacant.spec.name), Arc::clone(&state));
            let service = Service::new(Arc::clone(&vacant.spec), Vec::new(), &mut counters)
                .with_shared(state, self.config.defaults.retry_budget)
                .vacant_since(vacant.since);
            let service = Arc::new(service);
            // A live service that took its route meanwhile keeps it.
            let _ = self.add_routes(&mut builders, &service, &mut counters);
            services.push(service);
        }
        counters.sweep();
        *shared = kept;
        let listeners = listener_routes(&self.listeners, &self.config, builders);
        services.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        Snapshot {
            generation: self.generation,
            listeners,
            services,
            warnings,
            timeouts: self.config.defaults.timeouts.clone(),
            shutdown_grace: self.config.defaults.drain,
        }
    }

    /// Adds a service's routes to its listeners' tables; returns the problems found.
    fn add_routes(
        &self,
        builders: &mut [RouteTableBuilder<Arc<ServiceRoute>>],
        service: &Arc<Service>,
        counters: &mut StatusCache,
    ) -> Vec<String> {
        let spec = &service.spec;
        let mut problems = Vec::new();
        let targets: Vec<usize> = if spec.listeners.is_empty() {
            self.listeners.http_indices().collect()
        } else {
            spec.listeners
                .iter()
                .filter_map(|name| {
                    let found = self.listeners.index_of(name);
                    if found.is_none() {
                        problems.push(format!("unknown listener `{name}`"));
                    }
                    found
                })
                .collect()
        };
        for index in targets {
            if let Some(problem) = self.listeners.refuses(index, spec.layer) {
                problems.push(problem);
                continue;
            }
            let route = Arc::new(ServiceRoute {
                service: Arc::clone(service),
                requests: counters.get(
                    m::REQUESTS_TOTAL,
                    ("listener", self.listeners.name(index)),
                    ("service", &spec.name),
                ),
                tcp: self
                    .listeners
                    .is_l4(index)
                    .then(|| TcpCounters::new(self.listeners.name(index), &spec.name)),
            });
            if let Err(conflict) = builders[index].add(&spec.hosts, &spec.path, route) {
                let problem = format!(
                    "route rejected on listener `{}`: {conflict}",
                    self.listeners.name(index)
                );
                warn!(service = %spec.name, "{problem}");
                metrics::counter!(m::ROUTE_CONFLICTS_TOTAL).increment(1);
                problems.push(problem);
            }
        }
        problems
    }

    /// `berth_endpoints{service,state}`; services that disappeared are set to zero.
    fn set_gauges(&mut self, snapshot: &Snapshot) {
        let mut names = Vec::with_capacity(snapshot.services.len());
        for service in &snapshot.services {
            let routable = service.routable_count();
            let name = service.spec.name.to_string();
            let total = service.endpoints.len();
            metrics::gauge!(m::ENDPOINTS, "service" => name.clone(), "state" => "routable")
                .set(routable as f64);
            metrics::gauge!(m::ENDPOINTS, "service" => name, "state" => "excluded")
                .set((total - routable) as f64);
            names.push(Arc::clone(&service.spec.name));
        }
        // A set: with thousands of services, a scan of `names` per old name was quadratic.
        let now: HashSet<&Arc<str>> = names.iter().collect();
        for gone in self.gauged_services.iter().filter(|n| !now.contains(n)) {
            for state in ["routable", "excluded"] {
                metrics::gauge!(m::ENDPOINTS, "service" => gone.to_string(), "state" => state)
                    .set(0.0);
            }
        }
        self.gauged_services = names;
    }
}

mod group;
mod listeners;
#[cfg(test)]
mod tests;
mod vacant;

use group::Grouped;
pub use listeners::ListenerSet;
use listeners::{empty_snapshot, listener_routes};
use vacant::Vacancies;
