//! JSON documents of the admin API (control plane): what berth routes and why.
//!
//! `/api/services` lists every service with its settings, the routes it holds on each
//! listener, its endpoints with state, in-flight count, latency estimate and active-check results
//! (plus whether the service is in panic mode), outlier ejections (reason, until when), and any
//! problem found while building (a rejected route, an unknown listener).

use serde::Serialize;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::discovery::docker::{RejectedContainer, RejectedList};
use crate::health::HealthStatus;
use crate::state::endpoint::{now_ns, Endpoint, EJECTED_REASON};
use crate::state::snapshot::{Service, Snapshot};

#[derive(Serialize)]
struct ServicesDoc<'a> {
    generation: u64,
    services: Vec<ServiceDoc<'a>>,
}

#[derive(Serialize)]
struct ServiceDoc<'a> {
    name: &'a str,
    listeners: &'a [String],
    hosts: &'a [String],
    path: &'a str,
    strip_prefix: bool,
    balance: String,
    retries: u8,
    /// The active check, e.g. `http GET /healthz status 200-399 every 10s (...)`.
    health_check: Option<String>,
    /// Every endpoint fails its active check: routing to all of them anyway.
    panic_mode: bool,
    /// Passive outlier detection: settings, cap and endpoints ejected now.
    outlier: OutlierDoc,
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

/// The `/api/rejected` document: containers refused, each with its name, id and reason.
pub fn rejected(list: &RejectedList) -> String {
    // A poisoned lock still holds a consistent map (entries are inserted whole).
    let list = list.lock().unwrap_or_else(|p| p.into_inner());
    let doc: Vec<&RejectedContainer> = list.values().collect();
    // Invariant: plain strings; serializing cannot fail.
    serde_json::to_string_pretty(&serde_json::json!({ "rejected": doc }))
        .expect("serializable document")
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
        name: &spec.name,
        listeners: &spec.listeners,
        hosts: &spec.hosts,
        path: &spec.path,
        strip_prefix: spec.strip_prefix,
        balance: spec.balance.to_string(),
        retries: spec.retries,
        health_check: spec.health.as_ref().map(ToString::to_string),
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
