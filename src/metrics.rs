//! Metric names and the Prometheus recorder (both planes).
//!
//! Every metric berth emits is named here, once. The hot path never looks a metric up by name
//! and labels: the snapshot builder resolves `Counter`/`Histogram` handles per listener,
//! service and endpoint ([`StatusCounters`], [`EndpointSeries`]), and requests only bump them.
//! Label values are bounded (listener, service, endpoint address, status code): never a raw
//! path or client, and at most [`ENDPOINT_SERIES_CAP`] endpoint addresses (the rest share
//! `endpoint="other"`). Gauges that mirror live state (in-flight requests per endpoint, the
//! `process_*` metrics) are set when `/metrics` is scraped, never on the hot path.

mod describe;
mod endpoint;
pub mod log_limit;

pub use endpoint::{set_in_flight, EndpointSeries, ENDPOINT_SERIES_CAP, OTHER};

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use metrics::{Counter, Label};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const REQUESTS_TOTAL: &str = "berth_requests_total";
pub const REQUEST_DURATION_SECONDS: &str = "berth_request_duration_seconds";
pub const UPSTREAM_REQUESTS_TOTAL: &str = "berth_upstream_requests_total";
pub const UPSTREAM_CONNECT_ERRORS_TOTAL: &str = "berth_upstream_connect_errors_total";
pub const RETRIES_TOTAL: &str = "berth_retries_total";
pub const CIRCUIT_OPEN_TOTAL: &str = "berth_circuit_open_total";
pub const ENDPOINTS: &str = "berth_endpoints";
pub const CONNECTIONS_ACTIVE: &str = "berth_connections_active";
pub const CONNECTIONS_CLOSED_TOTAL: &str = "berth_connections_closed_total";
pub const ACCESS_LOG_DROPPED_TOTAL: &str = "berth_access_log_dropped_total";
pub const CONFIG_RELOADS_TOTAL: &str = "berth_config_reloads_total";
pub const SNAPSHOT_BUILDS_TOTAL: &str = "berth_snapshot_builds_total";
pub const ROUTE_CONFLICTS_TOTAL: &str = "berth_route_conflicts_total";
pub const DOCKER_REJECTED_TOTAL: &str = "berth_docker_rejected_total";
pub const DOCKER_REJECTED: &str = "berth_docker_rejected_containers";
pub const DOCKER_EVENTS_TOTAL: &str = "berth_docker_events_total";
pub const SWARM_REJECTED_TOTAL: &str = "berth_swarm_rejected_total";
pub const SWARM_REJECTED: &str = "berth_swarm_rejected_services";
pub const SWARM_EVENTS_TOTAL: &str = "berth_swarm_events_total";
pub const SWARM_READS_TOTAL: &str = "berth_swarm_reads_total";
pub const HEALTH_CHECKS_TOTAL: &str = "berth_health_checks_total";
pub const ENDPOINT_HEALTHY: &str = "berth_endpoint_healthy";
pub const EJECTIONS_TOTAL: &str = "berth_ejections_total";
pub const PANIC_MODE_TOTAL: &str = "berth_panic_mode_total";
pub const PANIC_MODE: &str = "berth_panic_mode";
pub const DISCOVERY_CONVERGENCE_SECONDS: &str = "berth_discovery_convergence_seconds";
pub const TLS_HANDSHAKES_TOTAL: &str = "berth_tls_handshakes_total";
pub const TLS_HANDSHAKE_ERRORS_TOTAL: &str = "berth_tls_handshake_errors_total";
pub const TLS_RELOADS_TOTAL: &str = "berth_tls_reloads_total";
pub const REDIRECTS_TOTAL: &str = "berth_redirects_total";
pub const TCP_CONNECTIONS_TOTAL: &str = "berth_tcp_connections_total";
pub const TCP_BYTES_TOTAL: &str = "berth_tcp_bytes_total";
pub const PROXY_PROTOCOL_ERRORS_TOTAL: &str = "berth_proxy_protocol_errors_total";
pub const CLIENT_BODY_ERRORS_TOTAL: &str = "berth_client_body_errors_total";
pub const BAD_REQUESTS_TOTAL: &str = "berth_bad_requests_total";
pub const LOG_SUPPRESSED_TOTAL: &str = "berth_log_suppressed_total";
pub const CONNECTIONS_REFUSED_TOTAL: &str = "berth_connections_refused_total";
pub const ACCEPT_ERRORS_TOTAL: &str = "berth_accept_errors_total";
pub const ACME_ORDERS_TOTAL: &str = "berth_acme_orders_total";
pub const CERTIFICATE_EXPIRY_SECONDS: &str = "berth_certificate_expiry_seconds";
pub const POLICY_DENIED_TOTAL: &str = "berth_policy_denied_total";
pub const ENDPOINT_REQUEST_DURATION_SECONDS: &str = "berth_endpoint_request_duration_seconds";
pub const ENDPOINT_IN_FLIGHT: &str = "berth_endpoint_in_flight";
pub const BUILD_INFO: &str = "berth_build_info";
/// The process metrics, named as Prometheus client libraries name them (set at each scrape).
pub const PROCESS_METRICS: [&str; 8] = [
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
];

/// Records when the certificate serving `name` expires (Unix seconds); `source` is `file`
/// or `acme`.
pub fn certificate_expiry(name: &str, source: &'static str, not_after: std::time::SystemTime) {
    let secs = not_after
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(CERTIFICATE_EXPIRY_SECONDS, "name" => name.to_owned(), "source" => source)
        .set(secs);
}

/// Counts a client a policy of `service` refused (a cold path: the counter is looked up
/// here); `policy` like `allow`, `reason` like `ip`.
#[cold]
pub fn policy_denied(service: &str, policy: &'static str, reason: &'static str) {
    let labels = [
        ("service", service.to_owned()),
        ("policy", policy.to_owned()),
        ("reason", reason.to_owned()),
    ];
    metrics::counter!(POLICY_DENIED_TOTAL, &labels).increment(1);
}

/// `result` values of [`TCP_CONNECTIONS_TOTAL`] for a routed connection, in
/// [`TcpCounters::outcomes`] order; an unrouted one is `no_route` with no service (the
/// listener's counter).
pub const TCP_RESULTS: [&str; 5] = ["closed", "reset", "idle_timeout", "drained", "unavailable"];

/// The counters of an L4 service on one listener, resolved when the snapshot is built so a
/// connection looks nothing up; cloning shares them.
#[derive(Clone, Debug)]
pub struct TcpCounters {
    /// `tcp_connections_total{listener,service,result}`, by [`TCP_RESULTS`].
    pub outcomes: [Counter; 5],
    /// `tcp_bytes_total{service,direction="upstream"}`: client to endpoint.
    pub sent: Counter,
    /// `tcp_bytes_total{service,direction="downstream"}`: endpoint to client.
    pub received: Counter,
}

impl TcpCounters {
    pub fn new(listener: &str, service: &str) -> Self {
        let bytes = |direction: &'static str| metrics::counter!(TCP_BYTES_TOTAL, "service" => service.to_owned(), "direction" => direction);
        Self {
            outcomes: TCP_RESULTS.map(|r| tcp_outcome(listener, service, r)),
            sent: bytes("upstream"),
            received: bytes("downstream"),
        }
    }
}

/// `tcp_connections_total{listener,service,result}`.
pub fn tcp_outcome(listener: &str, service: &str, result: &'static str) -> Counter {
    metrics::counter!(TCP_CONNECTIONS_TOTAL,
        "listener" => listener.to_owned(), "service" => service.to_owned(), "result" => result)
}

/// Latency buckets (seconds) shared by the duration histograms: 100 µs to 30 s.
pub const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The process metrics' collector (reads `/proc/self` on Linux).
fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Sets the `process_*` gauges and counter from the process's current figures (a scrape).
pub fn collect_process() {
    process().collect();
}

/// Installs the process-wide Prometheus recorder once and returns its handle; later calls
/// (several in-process servers in tests) get the same handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                // Invariant: BUCKETS is a non-empty literal, the only failure `set_buckets` has.
                .expect("non-empty bucket list")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be global (a test harness); ours still renders
            // what it records, so a failure here only means metrics go to that recorder.
            let _ = metrics::set_global_recorder(recorder);
            describe::describe();
            process().describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// Status codes common enough to get a pre-resolved counter; others are looked up per use.
const COMMON_CODES: [u16; 14] = [
    200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 500, 502, 503, 504,
];

/// Counters of one metric for one label set, one per status code, resolved off the hot path;
/// cloning shares them.
#[derive(Clone, Debug)]
pub struct StatusCounters(Arc<StatusInner>);

#[derive(Debug)]
struct StatusInner {
    name: &'static str,
    labels: Vec<Label>,
    common: [Counter; COMMON_CODES.len()],
}

impl StatusCounters {
    pub fn new(name: &'static str, labels: Vec<Label>) -> Self {
        let common = COMMON_CODES.map(|code| {
            let mut l = labels.clone();
            l.push(Label::new("code", code.to_string()));
            metrics::counter!(name, l)
        });
        Self(Arc::new(StatusInner {
            name,
            labels,
            common,
        }))
    }

    /// Counts one response with `code`.
    #[inline]
    pub fn increment(&self, code: u16) {
        match COMMON_CODES.iter().position(|c| *c == code) {
            Some(i) => self.0.common[i].increment(1),
            None => self.rare(code),
        }
    }

    #[cold]
    fn rare(&self, code: u16) {
        let mut l = self.0.labels.clone();
        l.push(Label::new("code", code.to_string()));
        metrics::counter!(self.0.name, l).increment(1);
    }
}

/// [`StatusCounters`] and [`EndpointSeries`] kept across snapshot rebuilds (control plane),
/// so a rebuild registers only the label sets it has not seen (registering is most of a
/// rebuild's cost otherwise) and an endpoint keeps its series.
#[derive(Debug, Default)]
pub struct StatusCache {
    entries: HashMap<(&'static str, String, String), (StatusCounters, u64)>,
    endpoints: endpoint::Assigned,
    round: u64,
}

impl StatusCache {
    /// The counters of metric `name` with labels `a` and `b` (then `code`).
    pub fn get(
        &mut self,
        name: &'static str,
        a: (&'static str, &str),
        b: (&'static str, &str),
    ) -> StatusCounters {
        let round = self.round;
        let entry = self
            .entries
            .entry((name, a.1.to_owned(), b.1.to_owned()))
            .or_insert_with(|| {
                let labels = vec![label(a.0, a.1.to_owned()), label(b.0, b.1.to_owned())];
                (StatusCounters::new(name, labels), round)
            });
        entry.1 = round;
        entry.0.clone()
    }

    /// The series of the endpoint at `address` in `service` (its own, or past
    /// [`ENDPOINT_SERIES_CAP`] the service's `other`).
    pub fn endpoint(&mut self, service: &str, address: &str) -> EndpointSeries {
        self.endpoints.get(service, address, self.round)
    }

    /// Forgets the label sets not asked for since the previous call (gone services and
    /// endpoints), so the cache does not grow with churn.
    pub fn sweep(&mut self) {
        let round = self.round;
        self.entries.retain(|_, (_, used)| *used == round);
        self.endpoints.sweep(round);
        self.round += 1;
    }
}

/// Shorthand for a label.
pub fn label(key: &'static str, value: impl Into<metrics::SharedString>) -> Label {
    Label::new(key, value)
}
