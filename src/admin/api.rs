//! JSON documents of the admin API (control plane): what berth routes and why.
//!
//! `/api/services` lists every service with its settings, the routes it holds on each
//! listener, its endpoints with state, in-flight count, latency estimate and active-check results
//! (plus whether the service is in panic mode), and any
//! problem found while building (a rejected route, an unknown listener).

use serde::Serialize;

use std::sync::atomic::Ordering::Relaxed;

use crate::discovery::docker::{RejectedContainer, RejectedList};
use crate::health::HealthStatus;
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
    reason: Option<&'static str>,
    in_flight: u32,
    latency_ms: f64,
    /// The active check's last results; absent without an active check.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<HealthStatus>,
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
                    reason,
                    in_flight: e.in_flight(),
                    latency_ms: e.latency_ns() as f64 / 1e6,
                    health: e.health_status(),
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
