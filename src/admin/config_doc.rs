//! The `/api/config` document (control plane): the configuration berth runs with now (the
//! last good file, defaults filled in), without a secret. Tokens, key files, the ACME
//! storage (which holds keys) and the EAB key are shown only as `"<redacted>"`; Basic-auth
//! users by name only (as `/api/services` shows them).

use std::time::Duration;

use serde_json::{json, Value};

use super::api::SpecDoc;
use crate::config::{Acme, Config, Engine, Listener};
use crate::model::Defaults;

/// What replaces a secret or a key path.
pub const REDACTED: &str = "<redacted>";

/// The document; `env_token`: a token came from the environment.
pub fn render(config: &Config, env_token: bool) -> String {
    let doc = json!({
        "listeners": config.listeners.values().map(listener).collect::<Vec<_>>(),
        "admin": {
            "address": config.admin.address.to_string(),
            "token": token(config.admin.token.is_some(), env_token),
        },
        "docker": engine(&config.docker),
        "swarm": {
            "engine": engine(&config.swarm.engine),
            "refresh": human(config.swarm.refresh),
        },
        "acme": config.acme.as_ref().map(acme),
        "connections": {
            "max": config.connections.max,
            "per_client": config.connections.per_client,
        },
        "defaults": defaults(&config.defaults),
        "services": config.services.values().map(|s| json!({
            "settings": SpecDoc::of(&s.spec),
            "backends": s.backends.iter().map(|b| json!({
                "address": b.address.to_string(),
                "weight": b.weight.get(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "log": {
            "level": config.log.level,
            "format": config.log.format.to_string(),
            "access_log": config.log.access_log.as_ref().map(|a| json!({
                "format": a.format.as_str(),
                "path": a.path.as_ref().map(|p| p.display().to_string()),
            })),
            "trace_context": config.log.trace_context.as_str(),
        },
        "workers": config.workers,
    });
    // Invariant: a `Value` always serializes.
    serde_json::to_string_pretty(&doc).expect("serializable document")
}

/// Where the admin token comes from, never its value.
fn token(in_file: bool, in_env: bool) -> Value {
    match (in_file, in_env) {
        (true, _) => json!({ "source": "admin.token_file", "value": REDACTED }),
        (false, true) => json!({ "source": crate::config::TOKEN_ENV, "value": REDACTED }),
        (false, false) => Value::Null,
    }
}

fn listener(l: &Listener) -> Value {
    let certificates = l.tls.iter().flat_map(|t| &t.certificates);
    json!({
        "name": l.name,
        "address": l.address.to_string(),
        "protocol": l.protocol.as_str(),
        "trusted_ips": l.trusted_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "proxy_protocol": l.proxy_protocol,
        "redirect": l.redirect.as_ref().map(|r| json!({ "to": r.to, "port": r.port })),
        "max_connections": l.max_connections,
        "certificates": certificates.map(|c| json!({
            "cert": c.cert.display().to_string(),
            "key": REDACTED,
            "names": c.names,
        })).collect::<Vec<_>>(),
    })
}

fn engine(e: &Engine) -> Value {
    json!({
        "enabled": e.enabled,
        "endpoint": e.endpoint,
        "exposed_by_default": e.exposed_by_default,
        "network": e.network,
        "label_prefix": e.label_prefix,
    })
}

fn acme(a: &Acme) -> Value {
    json!({
        "email": a.email,
        "directory": a.directory,
        "storage": REDACTED,
        "ca": a.ca.as_ref().map(|c| c.display().to_string()),
        "challenge": a.challenge.as_str(),
        "names": a.names,
        "eab": a.eab.as_ref().map(|e| json!({ "kid": e.kid, "hmac_key": REDACTED })),
        "backoff": human(a.backoff),
    })
}

fn defaults(d: &Defaults) -> Value {
    let mut t = d.timeouts.clone();
    let mut timeouts: serde_json::Map<String, Value> = t
        .by_name()
        .into_iter()
        .map(|(name, t)| (name.to_owned(), human(*t).into()))
        .collect();
    let rate = d.timeouts.body_min_rate.map(|r| format!("{r}B/s"));
    timeouts.insert(
        "body_min_rate".to_owned(),
        json!(rate.as_deref().unwrap_or("off")),
    );
    json!({
        "balance": d.balance.to_string(),
        "retries": d.retries,
        "drain": human(d.drain),
        "timeouts": timeouts,
        "health": d.health.as_ref().map(ToString::to_string),
        "outlier": {
            "consecutive_failures": d.outlier.consecutive_failures,
            "base_ejection": human(d.outlier.base_ejection),
            "max_ejection": human(d.outlier.max_ejection),
            "max_ejected_percent": d.outlier.max_ejected_percent,
            "gateway_errors_only": d.outlier.gateway_errors_only,
        },
        "retry_budget": {
            "percent": d.retry_budget.percent,
            "min_retries": d.retry_budget.min_retries,
            "window": human(d.retry_budget.window),
        },
        "limits": {
            "max_in_flight": d.limits.max_in_flight,
            "max_pending": d.limits.max_pending,
        },
        "slow_start": human(d.slow_start),
        "keep_route": human(d.keep_route),
    })
}

/// A duration as the file writes it, e.g. `1m 30s`.
fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
