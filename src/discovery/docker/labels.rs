//! A container's labels → an endpoint, or a rejection with its reason (control plane, pure).
//!
//! [`evaluate`] reads one container's [`ContainerFacts`] — its `<prefix>.*` labels
//! (docs/ARCHITECTURE.md, "Labels"), name, exposed ports and networks — and returns a
//! [`Verdict`]: ignored (not enabled), rejected (with one reason listing *every* problem, each
//! naming the label, its value and the fix), or accepted (the [`EndpointSpec`] for the
//! reconciler, the chosen network and why, and the active health check, if any).
//!
//! Rules:
//! - A container is considered when `<prefix>.enable=true`, or when the label is absent and
//!   `docker.exposed_by_default` is on. `enable=false` always ignores it. A container that
//!   is not enabled but carries an unknown `<prefix>.*` label (`berth.enabel=true`) is
//!   rejected, so a typo is never silently ignored.
//! - Values are trimmed; an empty value is a problem. Unknown labels under the prefix are
//!   problems, with a "did you mean".
//! - Names, hosts and paths follow the config file's rules (`model::rules`), so a label
//!   accepts exactly what a static service and the route table accept.
//! - Route conflicts between services are not decided here (the reconciler sees all
//!   services); everything that depends on this container alone is.
//!
//! Submodules: `reader` (label lookup; values are read by `model::value`, the file's
//! parsers), `health` (`health.*`), `resilience` (`outlier.*`, `limits.*`, `slow_start`),
//! `upstream` (`http.upstream_protocol`, `scheme`, `tls.*`), `hsts` (`http.hsts.*`), `tcp`
//! (`tcp.listener`, `tcp.sni`, `proxy_protocol`: L4 services), `policy` (access policies),
//! `shape` (`headers.*`, `cors.*`, `max_request_body`, rewrites, redirects; its
//! `headers.*.set.<Name>` families name a header in the key), `compress` (`compress*`),
//! `sticky` (`sticky*`). A service starts from
//! `model::Defaults::service` and each label present overrides its field.
//! Invariants: no engine calls, no I/O but reading the CA file a `tls.ca` label names; never
//! panics on any input.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use super::facts::{container_name, ContainerFacts};
use super::network::{self, NetworkPolicy};
use crate::config::Protocol;
use crate::model::rules::{check_name, suggest};
use crate::model::{
    Availability, Balance, Defaults, EndpointKey, EndpointSpec, HealthCheck, Layer, ServiceSpec,
};

mod compress;
mod health;
mod hsts;
mod policy;
mod reader;
mod resilience;
mod shape;
mod sticky;
mod tcp;
#[cfg(test)]
mod tests;
mod upstream;

use crate::model::value::{boolean, duration, hosts, int_in, path_prefix, port, positive_duration};
use reader::{listener_names, Labels, ListenerKind};

/// Docker Compose's service label: the service name when `<prefix>.service` is absent.
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// An endpoint's weight when `<prefix>.weight` is absent.
pub const DEFAULT_WEIGHT: u32 = 1;

/// Every label suffix berth knows, grouped in the order docs/ARCHITECTURE.md, "Labels" gives.
pub const KNOWN: [&str; 90] = [
    "enable",
    "service",
    "port",
    "network",
    "weight",
    "listener",
    "http.hosts",
    "http.path",
    "http.strip_prefix",
    upstream::SUFFIXES[0],
    hsts::SUFFIXES[0],
    hsts::SUFFIXES[1],
    hsts::SUFFIXES[2],
    tcp::SUFFIXES[0],
    tcp::SUFFIXES[1],
    tcp::SUFFIXES[2],
    tcp::SUFFIXES[3],
    "balance",
    health::SUFFIXES[0],
    health::SUFFIXES[1],
    health::SUFFIXES[2],
    health::SUFFIXES[3],
    health::SUFFIXES[4],
    health::SUFFIXES[5],
    "retries",
    "timeout.request",
    "drain",
    "keep_route",
    resilience::SUFFIXES[0],
    resilience::SUFFIXES[1],
    resilience::SUFFIXES[2],
    resilience::SUFFIXES[3],
    resilience::SUFFIXES[4],
    resilience::SUFFIXES[5],
    resilience::SUFFIXES[6],
    resilience::SUFFIXES[7],
    upstream::SUFFIXES[1],
    upstream::SUFFIXES[2],
    upstream::SUFFIXES[3],
    "tls.acme",
    policy::SUFFIXES[0],
    policy::SUFFIXES[1],
    policy::SUFFIXES[2],
    policy::SUFFIXES[3],
    policy::SUFFIXES[4],
    policy::SUFFIXES[5],
    policy::SUFFIXES[6],
    policy::SUFFIXES[7],
    policy::SUFFIXES[8],
    policy::SUFFIXES[9],
    policy::SUFFIXES[10],
    policy::SUFFIXES[11],
    policy::SUFFIXES[12],
    policy::SUFFIXES[13],
    policy::SUFFIXES[14],
    policy::SUFFIXES[15],
    shape::SUFFIXES[0],
    shape::SUFFIXES[1],
    shape::SUFFIXES[2],
    shape::SUFFIXES[3],
    shape::SUFFIXES[4],
    shape::SUFFIXES[5],
    shape::SUFFIXES[6],
    shape::SUFFIXES[7],
    shape::SUFFIXES[8],
    shape::SUFFIXES[9],
    shape::SUFFIXES[10],
    shape::SUFFIXES[11],
    shape::SUFFIXES[12],
    shape::SUFFIXES[13],
    shape::SUFFIXES[14],
    shape::SUFFIXES[15],
    shape::SUFFIXES[16],
    shape::SUFFIXES[17],
    shape::SUFFIXES[18],
    shape::SUFFIXES[19],
    shape::SUFFIXES[20],
    shape::SUFFIXES[21],
    shape::SUFFIXES[22],
    compress::SUFFIXES[0],
    compress::SUFFIXES[1],
    compress::SUFFIXES[2],
    compress::SUFFIXES[3],
    sticky::SUFFIXES[0],
    sticky::SUFFIXES[1],
    sticky::SUFFIXES[2],
    sticky::SUFFIXES[3],
    sticky::SUFFIXES[4],
    sticky::SUFFIXES[5],
    sticky::SUFFIXES[6],
];

/// How reasons name the listeners `<prefix>.listener` may name.
const HTTP_LISTENERS: ListenerKind = ListenerKind {
    one: "an http listener",
    many: "http listeners",
    none: "no http listener is configured",
};

/// What the evaluation depends on besides the container: the config, and berth's own place.
#[derive(Clone, Copy, Debug)]
pub struct LabelSettings<'a> {
    /// `docker.label_prefix`, without the trailing dot (`berth`).
    pub prefix: &'a str,
    /// `docker.exposed_by_default`.
    pub exposed_by_default: bool,
    /// `docker.network`.
    pub network: Option<&'a str>,
    /// Networks berth's own container is on; empty when berth is not in a container.
    pub own_networks: &'a BTreeSet<String>,
    pub defaults: &'a Defaults,
    /// Names of the `http` and `https` listeners (what `<prefix>.listener` may name, and
    /// where a container without that label is served).
    pub http_listeners: &'a [String],
    /// Names and protocols of the `tcp` and `tls-passthrough` listeners (what
    /// `<prefix>.tcp.listener` may name).
    pub l4_listeners: &'a [(String, Protocol)],
}

/// The outcome for one container.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Not enabled: berth does not route to it and has nothing to report.
    Ignored,
    /// Enabled (or carrying a mistyped label) but invalid; nothing else is affected.
    Rejected(Rejection),
    /// Routable as described.
    Accepted(Accepted),
}

/// Why a container is rejected: every problem, joined with `; `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// An accepted container.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    /// Keyed by the container id and the chosen address.
    pub endpoint: EndpointSpec,
    /// The network whose address is used.
    pub network: String,
    /// Why that network (`label berth.network`, `config docker.network`, `shared with
    /// berth`, `only network`).
    pub network_reason: String,
    /// The active check the labels ask for, if any.
    pub health: Option<HealthCheck>,
    /// The container has a Docker `HEALTHCHECK`: route only once Docker says `healthy`.
    pub has_healthcheck: bool,
}

/// Decides what berth does with one container; see the module doc.
pub fn evaluate(facts: &ContainerFacts, settings: &LabelSettings<'_>) -> Verdict {
    let prefix = settings.prefix.trim_end_matches('.');
    let mut labels = Labels::new(prefix, &facts.labels);
    let enable = labels.parse("enable", boolean);
    let unknown = unknown_labels(&labels);
    match (labels.has("enable"), enable) {
        (_, Some(false)) => return Verdict::Ignored,
        // Not enabled, unless a label under the prefix looks like a typo of one.
        (false, _) if !settings.exposed_by_default => {
            return match unknown.is_empty() {
                true => Verdict::Ignored,
                false => reject(unknown),
            };
        }
        // Enabled, or an invalid `enable`: report every problem.
        _ => {}
    }
    unknown.into_iter().for_each(|msg| labels.problem(msg));
    match build(facts, settings, &mut labels) {
        Some(accepted) if labels.problem_count() == 0 => Verdict::Accepted(accepted),
        _ => reject(labels.into_problems()),
    }
}

fn reject(problems: Vec<String>) -> Verdict {
    let reason = match problems.is_empty() {
        true => "invalid labels".to_owned(),
        false => problems.join("; "),
    };
    Verdict::Rejected(Rejection { reason })
}

/// Reads every label; `None` (or recorded problems) when the container cannot be routed.
fn build(
    facts: &ContainerFacts,
    settings: &LabelSettings<'_>,
    labels: &mut Labels<'_>,
) -> Option<Accepted> {
    let name = service_name(labels, facts);
    let port = container_port(labels, facts);
    let weight = labels.parse("weight", int_in(1, 1000));
    let service = service_spec(labels, settings, name);
    let health = health::parse(labels);
    let choice = choose_network(labels, facts, settings)?;
    let service = service.map(|s| ServiceSpec {
        // The labels' check, else `defaults.health` (as a TCP check for an L4 service).
        health: health
            .clone()
            .or_else(|| settings.defaults.health_for(s.layer)),
        ..s
    });
    Some(Accepted {
        endpoint: EndpointSpec {
            key: EndpointKey {
                source: Arc::from(facts.id.as_str()),
                addr: SocketAddr::new(choice.ip, port?),
            },
            weight: weight.unwrap_or(DEFAULT_WEIGHT),
            service: Arc::new(service?),
            availability: Availability::default(),
            origin: Arc::from(facts.name.as_str()),
        },
        network: choice.name,
        network_reason: choice.reason,
        health,
        has_healthcheck: facts.has_healthcheck,
    })
}

/// The service-level labels over the config's defaults; reads all of them before giving
/// up on a missing `name`, so every problem is recorded.
fn service_spec(
    labels: &mut Labels<'_>,
    settings: &LabelSettings<'_>,
    name: Option<String>,
) -> Option<ServiceSpec> {
    let defaults = settings.defaults;
    let l4 = tcp::parse(labels, settings.l4_listeners);
    let layer = match l4 {
        Some(_) => Layer::Tcp,
        None => Layer::Http,
    };
    let mut spec = defaults.service(Arc::from(name.as_deref().unwrap_or_default()), layer);
    match l4 {
        Some(l4) => l4.apply(&mut spec),
        None => {
            spec.listeners = listeners(labels, settings.http_listeners);
            spec.hosts = labels.parse("http.hosts", hosts).unwrap_or_default();
        }
    }
    if let Some(path) = labels.parse("http.path", path_prefix) {
        spec.path = path;
    }
    if let Some(strip) = labels.parse("http.strip_prefix", boolean) {
        spec.strip_prefix = strip;
    }
    spec.hsts = hsts::parse(labels);
    let balance = labels.parse("balance", |v| {
        Balance::from_str(v).map_err(|e| e.to_string())
    });
    if let Some(balance) = balance {
        spec.balance = balance;
    }
    if let Some(r) = labels.parse("retries", int_in(0, 5)) {
        // Invariant: at most 5.
        spec.retries = u8::try_from(r).unwrap_or(u8::MAX);
    }
    if let Some(t) = labels.parse("timeout.request", positive_duration) {
        spec.request_timeout = t;
    }
    if let Some(d) = labels.parse("drain", duration) {
        spec.drain = d;
    }
    if let Some(k) = labels.parse("keep_route", duration) {
        spec.keep_route = k;
    }
    spec.resilience = resilience::parse(labels, &spec.resilience);
    spec.upstream = upstream::parse(labels);
    if let Some(acme) = labels.parse("tls.acme", boolean) {
        if acme && layer == Layer::Tcp {
            let key = labels.key("tls.acme");
            labels.problem(format!(
                "{key} is for HTTP services (their hosts on an https listener); a tcp or \
                 tls-passthrough service's TLS is its own: remove it"
            ));
        }
        spec.acme = acme;
    }
    spec.policies = policy::parse(labels);
    spec.shape = shape::parse(labels, layer);
    spec.compress = compress::parse(labels, layer);
    spec.sticky = sticky::parse(labels, &spec.name, layer);
    if let Some(name) = spec.policies.http_only().filter(|_| layer == Layer::Tcp) {
        let key = labels.key(name);
        labels.problem(format!(
            "labels {key}.*: {}",
            crate::model::policy::HTTP_ONLY
        ));
    }
    name.map(|_| spec)
}

/// Problems for `<prefix>.*` labels berth does not know, each with a "did you mean".
fn unknown_labels(labels: &Labels<'_>) -> Vec<String> {
    labels
        .suffixes()
        .filter(|s| !KNOWN.contains(s) && !shape::in_family(s))
        .map(|s| match near(s) {
            Some(k) => format!(
                "unknown label {} (did you mean {}?)",
                labels.key(s),
                labels.key(k)
            ),
            None => format!(
                "unknown label {}: remove it; known labels: {}",
                labels.key(s),
                KNOWN.join(", ")
            ),
        })
        .collect()
}

/// The known suffix an unknown one most likely meant: a near spelling (any case), else a
/// known label it begins (`timeout` → `timeout.request`), else one it ends (`hosts` →
/// `http.hosts`).
fn near(suffix: &str) -> Option<&'static str> {
    let lower = suffix.to_ascii_lowercase();
    let lower = lower.as_str();
    let head = |k: &&str| k.strip_prefix(lower).is_some_and(|r| r.starts_with('.'));
    let tail = |k: &&str| k.strip_suffix(lower).is_some_and(|r| r.ends_with('.'));
    suggest(lower, &KNOWN)
        .or_else(|| KNOWN.into_iter().find(head))
        .or_else(|| KNOWN.into_iter().find(tail))
}

/// `<prefix>.service`, else the Compose service, else the container name.
fn service_name(labels: &mut Labels<'_>, facts: &ContainerFacts) -> Option<String> {
    let valid = |v: &str| check_name("service", v).map_or_else(|| Ok(v.to_owned()), Err);
    if labels.has("service") {
        return labels.parse("service", valid);
    }
    let compose = facts.labels.get(COMPOSE_SERVICE).map(|s| s.trim());
    let (name, from) = match compose.filter(|s| !s.is_empty()) {
        Some(c) => (c, format!("label {COMPOSE_SERVICE}")),
        None => (container_name(&facts.name), "the container name".to_owned()),
    };
    valid(name)
        .map_err(|why| {
            let key = labels.key("service");
            labels.problem(format!(
                "service name from {from}: {why}; set {key} to a valid name"
            ));
        })
        .ok()
}

/// `<prefix>.port`, else the sole exposed TCP port.
fn container_port(labels: &mut Labels<'_>, facts: &ContainerFacts) -> Option<u16> {
    if labels.has("port") {
        return labels.parse("port", port);
    }
    let key = labels.key("port");
    let source = facts.subject.ports_source();
    match facts.exposed_ports.as_slice() {
        [only] => Some(*only),
        [] => {
            labels.problem(format!(
                "no label {key} and {source} no TCP port: \
                 set {key} to the port the service listens on"
            ));
            None
        }
        several => {
            let list: Vec<String> = several.iter().map(u16::to_string).collect();
            labels.problem(format!(
                "no label {key} and {source} several TCP ports ({}): \
                 set {key} to choose one",
                list.join(", ")
            ));
            None
        }
    }
}

/// `<prefix>.listener`: http listener names; empty (every http listener) when absent.
fn listeners(labels: &mut Labels<'_>, http: &[String]) -> Vec<String> {
    if !labels.has("listener") && http.is_empty() {
        labels.problem(
            "no http listener is configured to serve this container: \
             add one under `listeners` in the config"
                .to_owned(),
        );
    }
    labels
        .parse("listener", |v| {
            let known: Vec<&str> = http.iter().map(String::as_str).collect();
            listener_names(v, &known, &HTTP_LISTENERS)
        })
        .unwrap_or_default()
}

/// The network choice; skipped (no second problem) when the network label itself is bad.
fn choose_network(
    labels: &mut Labels<'_>,
    facts: &ContainerFacts,
    settings: &LabelSettings<'_>,
) -> Option<network::NetworkChoice> {
    let label = labels.parse("network", |v| Ok(v.to_owned()));
    if labels.has("network") && label.is_none() {
        return None;
    }
    let key = labels.key("network");
    let policy = NetworkPolicy {
        label: label.as_deref(),
        label_key: &key,
        config: settings.network,
        own: settings.own_networks,
    };
    network::choose(&facts.networks, &policy)
        .map_err(|e| labels.problem(e.to_string()))
        .ok()
}
