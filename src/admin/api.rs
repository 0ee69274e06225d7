//! JSON documents of the admin API (control plane): what berth routes and why.
//!
//! `/api/services` lists every service with its settings, the routes it holds on each
//! listener, its endpoints with state, in-flight count, latency estimate and active-check results
//! (plus whether the service is in panic mode), outlier ejections (reason, until when), circuit
//! breaking limits and waiting requests, the retry budget's window, slow starts, and any
//! problem found while building (a rejected route, an unknown listener). [`drain`] serves the
//! admin drain.

use serde::Serialize;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::discovery::docker::{RejectedContainer, RejectedList};
use std::sync::Arc;

use crate::acme::{Status, View};
use crate::discovery::Rejections;
use crate::endpoint::{now_ns, Endpoint, EJECTED_REASON};
use crate::model::policy::Policies;
use crate::model::{HealthStatus, ServiceSpec};
use crate::state::snapshot::{Service, Snapshot};
use crate::tls::Terminator;
use shape_doc::ShapeDoc;

mod shape_doc;

#[derive(Serialize)]
struct ServicesDoc<'a> {
    generation: u64,
    services: Vec<ServiceDoc<'a>>,
}

/// A service's settings, as its spec says (shared by `/api/services` and `/api/config`).
#[derive(Serialize)]
pub(super) struct SpecDoc<'a> {
    name: &'a str,
    /// `http` (requests) or `tcp` (connections, on tcp/tls-passthrough listeners).
    layer: &'static str,
    /// The PROXY protocol header sent to the endpoints (`v1`, `v2`); `null`: none.
    proxy_protocol: Option<&'static str>,
    listeners: &'a [String],
    hosts: &'a [String],
    path: &'a str,
    strip_prefix: bool,
    balance: String,
    retries: u8,
    /// `http1` or `h2`.
    upstream_protocol: &'static str,
    /// The `Strict-Transport-Security` value sent on https listeners; `null`: none.
    hsts: Option<&'a str>,
    /// Who may pass: each policy set, `null` when not.
    policies: PoliciesDoc,
    /// Header edits, CORS, body limit, rewrites and redirects; `null`: none.
    shape: Option<ShapeDoc>,
    /// The active check, e.g. `http GET /healthz status 200-399 every 10s (...)`.
    health_check: Option<String>,
    /// Like `br, zstd, gzip from 1024 bytes; types text/*, ...`; `null`: off.
    compress: Option<String>,
    /// Like `cookie berth_app; HttpOnly; SameSite=Lax; ids by secret`; `null`: off.
    sticky: Option<String>,
}

impl<'a> SpecDoc<'a> {
    pub(super) fn of(spec: &'a ServiceSpec) -> Self {
        Self {
            name: &spec.name,
            layer: spec.layer.as_str(),
            proxy_protocol: spec.proxy_protocol.map(|v| v.as_str()),
            listeners: &spec.listeners,
            hosts: &spec.hosts,
            path: &spec.path,
            strip_prefix: spec.strip_prefix,
            balance: spec.balance.to_string(),
            retries: spec.retries,
            upstream_protocol: spec.upstream.protocol.as_str(),
            hsts: spec.hsts.as_ref().map(|h| h.as_str()),
            policies: PoliciesDoc::of(&spec.policies),
            shape: ShapeDoc::of(&spec.shape),
            health_check: spec.health.as_ref().map(ToString::to_string),
            compress: spec.compress.as_ref().map(ToString::to_string),
            sticky: spec.sticky.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Serialize)]
struct ServiceDoc<'a> {
    #[serde(flatten)]
    spec: SpecDoc<'a>,
    /// Every endpoint fails its active check: routing to all of them anyway.
    panic_mode: bool,
    /// Passive outlier detection: settings, cap and endpoints ejected now.
    outlier: OutlierDoc,
    /// Circuit breaking: the limits and the requests waiting now.
    limits: LimitsDoc,
    /// The retry budget: settings and the window's counts.
    retry_budget: BudgetDoc,
    /// How long a new or recovered endpoint takes to reach its full share; 0: off.
    slow_start_ms: u128,
    /// A discovered service whose last endpoint is gone, kept (answering 503) since then
    /// (RFC 3339); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_endpoints_since: Option<String>,
    endpoints: Vec<EndpointDoc<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct EndpointDoc<'a> {
    address: &'a str,
    source: &'a str,
    origin: String,
    weight: u32,
    state: &'static str,
    /// Why it is excluded, e.g. `draining`, `ejected: 5 consecutive failures`.
    reason: Option<String>,
    in_flight: u32,
    latency_ms: f64,
    /// The active check's last results; absent without an active check.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<HealthStatus>,
    /// The current outlier ejection; absent when not ejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    ejection: Option<EjectionDoc>,
    /// Upstream failures in a row (outlier detection's counter).
    consecutive_failures: u32,
    /// Ejections counted towards the next one's length (decays).
    times_ejected: u32,
    /// Time left in its slow start, in milliseconds; absent when not ramping up.
    #[serde(skip_serializing_if = "Option::is_none")]
    slow_start_remaining_ms: Option<u64>,
}

#[derive(Serialize)]
struct PoliciesDoc {
    allow: Option<AllowDoc>,
    basic_auth: Option<BasicAuthDoc>,
    /// Like `100 per 1s (burst 100) by ip`.
    rate_limit: Option<String>,
    /// The auth service's URL and the headers copied from its answers.
    forward_auth: Option<String>,
    /// `in_flight.per_client`.
    in_flight_per_client: Option<u32>,
}

/// Basic authentication: user names only, never their hashes.
#[derive(Serialize)]
struct BasicAuthDoc {
    realm: String,
    users: Vec<String>,
    remove_header: bool,
}

#[derive(Serialize)]
struct AllowDoc {
    ips: Vec<String>,
    forwarded_depth: u8,
}

impl PoliciesDoc {
    fn of(p: &Policies) -> Self {
        Self {
            allow: p.allow.as_ref().map(|a| AllowDoc {
                ips: a.ips.iter().map(ToString::to_string).collect(),
                forwarded_depth: a.forwarded_depth,
            }),
            basic_auth: p.basic_auth.as_ref().map(|b| BasicAuthDoc {
                realm: b.realm.clone(),
                users: b.users.iter().map(|u| u.name.clone()).collect(),
                remove_header: b.remove_header,
            }),
            rate_limit: p.rate_limit.as_ref().map(ToString::to_string),
            forward_auth: p.forward_auth.as_ref().map(ToString::to_string),
            in_flight_per_client: p.in_flight_per_client,
        }
    }
}

#[derive(Serialize)]
struct LimitsDoc {
    /// 0: no limit.
    max_in_flight: u32,
    max_pending: u32,
    waiting: u32,
}

#[derive(Serialize)]
struct BudgetDoc {
    percent: u8,
    min_retries: u32,
    window_ms: u128,
    /// Requests and retries counted in the current window.
    requests: u64,
    retries: u64,
}

fn slow_start_remaining_ms(s: &Service, e: &Endpoint) -> Option<u64> {
    let since = e.ramp_since_ns();
    if since == 0 || s.slow_start_ns == 0 {
        return None;
    }
    let end = since.saturating_add(s.slow_start_ns);
    Some(end.checked_sub(now_ns())? / 1_000_000)
}

#[derive(Serialize)]
struct OutlierDoc {
    /// 0: detection off.
    consecutive_failures: u32,
    base_ejection_ms: u128,
    max_ejection_ms: u128,
    max_ejected_percent: u8,
    gateway_errors_only: bool,
    /// Most endpoints ejected at once.
    cap: u32,
    ejected: u32,
}

#[derive(Serialize)]
struct EjectionDoc {
    /// When the ejection ends, in milliseconds since the Unix epoch.
    until_unix_ms: u64,
    /// Time left, in milliseconds.
    remaining_ms: u64,
}

fn ejection(e: &Endpoint) -> Option<EjectionDoc> {
    let until = e.outlier().ejected_until_ns()?;
    let remaining_ms = until.saturating_sub(now_ns()) / 1_000_000;
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Some(EjectionDoc {
        until_unix_ms: unix_ms.saturating_add(remaining_ms),
        remaining_ms,
    })
}

/// The `/api/certificates` document: ACME names with their state (and hosts that cannot be
/// ordered, with why), and the certificate files each `https` listener serves.
pub fn certificates(acme: Option<&Status>, terminators: &[Arc<Terminator>]) -> String {
    let acme = acme.map(|s| {
        let View { names, refused } = s.view();
        let refused: Vec<_> = refused
            .into_iter()
            .map(|(host, reason)| serde_json::json!({ "host": host, "reason": reason }))
            .collect();
        serde_json::json!({ "names": names, "refused": refused })
    });
    let files: Vec<_> = terminators
        .iter()
        .flat_map(|t| t.certificate_files())
        .collect();
    // Invariant: plain strings and numbers; serializing cannot fail.
    serde_json::to_string_pretty(&serde_json::json!({ "acme": acme, "files": files }))
        .expect("serializable document")
}

/// The `/api/rejected` document: containers and Swarm services refused, each with its
/// provider, name, id and reason.
pub fn rejected(rejections: &Rejections) -> String {
    let mut doc = Vec::new();
    for (provider, list) in [("docker", &rejections.docker), ("swarm", &rejections.swarm)] {
        doc.extend(listed(list).into_iter().map(|r| {
            serde_json::json!({ "provider": provider, "id": r.id, "name": r.name, "reason": r.reason })
        }));
    }
    // Invariant: plain strings; serializing cannot fail.
    serde_json::to_string_pretty(&serde_json::json!({ "rejected": doc }))
        .expect("serializable document")
}

fn listed(list: &RejectedList) -> Vec<RejectedContainer> {
    // A poisoned lock still holds a consistent map (entries are inserted whole).
    let list = list.lock().unwrap_or_else(|p| p.into_inner());
    list.values().cloned().collect()
}

/// Drains (or undrains) the endpoints of `service` whose address, source (container id) or
/// origin (container name) is `endpoint`; the JSON of what changed, or why nothing matched.
pub fn drain(
    snapshot: &Snapshot,
    service: &str,
    endpoint: &str,
    drained: bool,
) -> Result<String, String> {
    let s = snapshot
        .services
        .iter()
        .find(|s| &*s.spec.name == service)
        .ok_or_else(|| format!("no service {service}\n"))?;
    let matched: Vec<&std::sync::Arc<Endpoint>> = s
        .endpoints
        .iter()
        .filter(|e| {
            &**e.label() == endpoint || &*e.key().source == endpoint || &*e.origin() == endpoint
        })
        .collect();
    if matched.is_empty() {
        return Err(format!(
            "service {service} has no endpoint {endpoint} (give its address, container id or name)\n"
        ));
    }
    let doc: Vec<serde_json::Value> = matched
        .iter()
        .map(|e| {
            let changed = e.set_admin_drain(drained);
            serde_json::json!({
                "address": &**e.label(),
                "origin": &*e.origin(),
                "changed": changed,
                "reason": e.exclusion_reason(),
            })
        })
        .collect();
    // Invariant: plain strings and booleans; serializing cannot fail.
    Ok(
        serde_json::to_string_pretty(&serde_json::json!({ "service": service, "endpoints": doc }))
            .expect("serializable document"),
    )
}

/// The `/api/services/{name}` document; `None` when no service has that name.
pub fn one_service(snapshot: &Snapshot, name: &str) -> Option<String> {
    let s = snapshot.services.iter().find(|s| &*s.spec.name == name)?;
    // Invariant: plain structs of strings and numbers; serializing cannot fail.
    Some(serde_json::to_string_pretty(&service(snapshot, s)).expect("serializable document"))
}

/// The `/api/services` document.
pub fn services(snapshot: &Snapshot) -> String {
    let doc = ServicesDoc {
        generation: snapshot.generation,
        services: snapshot
            .services
            .iter()
            .map(|s| service(snapshot, s))
            .collect(),
    };
    // Invariant: the document is plain structs of strings and numbers; serializing it cannot fail.
    serde_json::to_string_pretty(&doc).expect("serializable document")
}

fn service<'a>(snapshot: &'a Snapshot, s: &'a Service) -> ServiceDoc<'a> {
    let spec = &s.spec;
    ServiceDoc {
        spec: SpecDoc::of(spec),
        panic_mode: s.panic.load(Relaxed),
        outlier: {
            let o = s.outlier.settings();
            OutlierDoc {
                consecutive_failures: o.consecutive_failures,
                base_ejection_ms: o.base_ejection.as_millis(),
                max_ejection_ms: o.max_ejection.as_millis(),
                max_ejected_percent: o.max_ejected_percent,
                gateway_errors_only: o.gateway_errors_only,
                cap: s.outlier.cap(),
                ejected: s.outlier.ejected(),
            }
        },
        limits: LimitsDoc {
            max_in_flight: spec.resilience.limits.max_in_flight,
            max_pending: spec.resilience.limits.max_pending,
            waiting: s.shared.queue.waiting(),
        },
        retry_budget: {
            let (requests, retries) = s.shared.budget.totals(now_ns(), &s.budget);
            BudgetDoc {
                percent: s.budget.percent,
                min_retries: s.budget.min_retries,
                window_ms: s.budget.window.as_millis(),
                requests,
                retries,
            }
        },
        slow_start_ms: u128::from(s.slow_start_ns / 1_000_000),
        no_endpoints_since: s
            .vacant_since
            .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        endpoints: s
            .endpoints
            .iter()
            .map(|e| {
                let reason = e.exclusion_reason();
                EndpointDoc {
                    address: e.label(),
                    source: &e.key().source,
                    origin: e.origin().to_string(),
                    weight: e.weight(),
                    state: if reason.is_none() {
                        "routable"
                    } else {
                        "excluded"
                    },
                    reason: reason.map(|r| match r {
                        EJECTED_REASON => format!(
                            "ejected: {} consecutive failures",
                            s.outlier.settings().consecutive_failures
                        ),
                        r => r.to_owned(),
                    }),
                    in_flight: e.in_flight(),
                    latency_ms: e.latency_ns() as f64 / 1e6,
                    health: e.health_status(),
                    ejection: ejection(e),
                    consecutive_failures: e.outlier().consecutive_failures(),
                    times_ejected: e.outlier().times_ejected(),
                    slow_start_remaining_ms: slow_start_remaining_ms(s, e),
                }
            })
            .collect(),
        warnings: snapshot
            .warnings
            .get(&spec.name)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    }
}

/// The `/api/version` document: berth's version, when it started, how long ago.
pub fn version(started: SystemTime) -> String {
    let uptime = SystemTime::now()
        .duration_since(started)
        .unwrap_or_default()
        .as_secs();
    let doc = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started": humantime::format_rfc3339_seconds(started).to_string(),
        "uptime_seconds": uptime,
    });
    // Invariant: a `Value` always serializes.
    serde_json::to_string_pretty(&doc).expect("serializable document")
}
