//! Validation of static services (control plane, load time): the file provider's half of
//! the label model.
//!
//! Fills each service's unset fields from `defaults`, checks its listener references (with
//! a "did you mean"), host patterns, path prefix, `hsts` and backends, and that no two services
//! claim the same listener + host + path. Invariant: like the rest of `validate`, it only
//! records problems (with their field paths) and never stops at the first.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::health::health;
use super::policy::policies;
use super::raw;
use super::shape::shape;
use super::validate::{positive, resilience, Problems};
use super::{Backend, Defaults, Listener, Protocol, StaticService};
use crate::model::policy;
use crate::model::rules::{check_host, check_name, check_path, suggest};
use crate::model::{
    Balance, HashOn, Hsts, Layer, ProxyVersion, ServiceSpec, Upstream, UpstreamTls,
};

/// Checks every static service; `base` is the directory a relative `tls.ca` starts from.
pub(super) fn services(
    p: &mut Problems,
    raw: Option<raw::UniqueMap<raw::Service>>,
    listeners: &BTreeMap<String, Listener>,
    defaults: &Defaults,
    base: &Path,
) -> BTreeMap<String, StaticService> {
    let mut out = BTreeMap::new();
    for (name, s) in raw.unwrap_or_default().0 {
        let service = service(p, &name, s, listeners, defaults, base);
        out.insert(name, service);
    }
    out
}

fn service(
    p: &mut Problems,
    name: &str,
    mut s: raw::Service,
    listeners: &BTreeMap<String, Listener>,
    defaults: &Defaults,
    base: &Path,
) -> StaticService {
    let path = format!("services.{name}");
    if let Some(msg) = check_name("service", name) {
        p.add(&path, msg);
    }
    let upstream = upstream(p, &path, &s, base);
    let names = s.listener.clone().map(|l| l.0).unwrap_or_default();
    check_listener_refs(p, &path, &names, listeners);
    let layer = layer(p, &path, &names, listeners, &s);
    let shape = shape(p, &path, &mut s, layer);
    let mut hosts = Vec::new();
    for host in s.hosts.map(|h| h.0).unwrap_or_default() {
        match check_host(&host) {
            Ok(h) => hosts.push(h),
            Err(msg) => p.add(format!("{path}.hosts"), msg),
        }
    }
    let prefix = s.path.unwrap_or_else(|| "/".into());
    if let Some(msg) = check_path(&prefix) {
        p.add(format!("{path}.path"), msg);
    }
    let d = defaults.service(name.into(), layer);
    let spec = ServiceSpec {
        listeners: names,
        hosts,
        path: prefix,
        strip_prefix: s.strip_prefix.unwrap_or(d.strip_prefix),
        hsts: s.hsts.and_then(|h| hsts(p, &path, h)),
        balance: s.balance.map_or_else(|| d.balance.clone(), |b| b.0),
        retries: s.retries.map_or(d.retries, |r| r.0),
        request_timeout: positive(p, &format!("{path}.timeout"), s.timeout, d.request_timeout),
        drain: s.drain.map_or(d.drain, |x| x.0),
        health: health(p, &format!("{path}.health"), s.health, d.health.as_ref()),
        resilience: resilience(p, &path, (s.outlier, s.limits, s.slow_start), &d.resilience),
        upstream,
        proxy_protocol: proxy_protocol(p, &path, s.proxy_protocol.as_deref(), layer),
        tcp_idle: idle_timeout(p, &path, s.idle_timeout, layer, d.tcp_idle),
        acme: s.tls.as_ref().and_then(|t| t.acme).unwrap_or(d.acme),
        policies: policies(p, &path, (s.allow, s.auth, s.rate_limit, s.in_flight), base),
        shape,
        compress: super::compress::compress(p, &path, s.compress, layer),
        sticky: super::sticky::sticky(p, &path, name, s.sticky, layer),
        ..d
    };
    if let Some(name) = spec.policies.http_only().filter(|_| layer != Layer::Http) {
        p.add(format!("{path}.{name}"), policy::HTTP_ONLY);
    }
    StaticService {
        spec: Arc::new(spec),
        backends: backends(p, &path, name, s.backends.unwrap_or_default()),
    }
}

/// The protocol, and TLS when the backends are `https://` (all or none of them); a relative
/// `tls.ca` is relative to `base` (the config file's directory, like certificate paths).
fn upstream(p: &mut Problems, path: &str, s: &raw::Service, base: &Path) -> Upstream {
    let protocol = s.upstream_protocol.unwrap_or_default();
    let list = s.backends.as_deref().unwrap_or_default();
    let https = list.iter().filter(|b| b.https).count();
    if https != 0 && https != list.len() {
        p.add(
            format!("{path}.backends"),
            "backends mix https:// and plain addresses: a service's backends share one \
             scheme; split them into two services",
        );
    }
    let upstream_tls = s
        .tls
        .as_ref()
        .filter(|t| t.ca.is_some() || t.server_name.is_some());
    let tls = match (https != 0, upstream_tls) {
        (false, None) => None,
        (false, Some(_)) => {
            p.add(
                format!("{path}.tls"),
                "`tls.ca` and `tls.server_name` apply to https backends: write them as \
                 \"https://IP:PORT\" or remove them",
            );
            None
        }
        (true, raw) => {
            let ca = raw
                .as_ref()
                .and_then(|t| t.ca.as_deref())
                .map(|c| base.join(c));
            let name = raw.as_ref().and_then(|t| t.server_name.as_deref());
            UpstreamTls::new(ca.as_deref(), name)
                .map_err(|e| p.add(format!("{path}.tls"), e.to_string()))
                .ok()
        }
    };
    Upstream { protocol, tls }
}

/// `Tcp` when the service names `tcp`/`tls-passthrough` listeners, which must then be all of
/// them, and the HTTP-only fields must be absent.
fn layer(
    p: &mut Problems,
    path: &str,
    names: &[String],
    listeners: &BTreeMap<String, Listener>,
    s: &raw::Service,
) -> Layer {
    let named: Vec<&Listener> = names.iter().filter_map(|n| listeners.get(n)).collect();
    let l4 = named.iter().filter(|l| l.protocol.is_l4()).count();
    if l4 == 0 {
        return Layer::Http;
    }
    if l4 != named.len() {
        p.add(
            format!("{path}.listener"),
            "names both http/https and tcp/tls-passthrough listeners: a service proxies \
             either requests or connections; split it into two services",
        );
        return Layer::Http;
    }
    let passthrough = named.iter().all(|l| l.protocol == Protocol::TlsPassthrough);
    for (field, set, why) in http_only_fields(s) {
        if set && !(field == "hosts" && passthrough) {
            p.add(format!("{path}.{field}"), why);
        }
    }
    Layer::Tcp
}

/// `proxy_protocol: v1|v2`, which only an L4 service may send.
fn proxy_protocol(
    p: &mut Problems,
    path: &str,
    raw: Option<&str>,
    layer: Layer,
) -> Option<ProxyVersion> {
    let path = format!("{path}.proxy_protocol");
    let version = raw?
        .parse()
        .map_err(|_| {
            p.add(
                &path,
                "expected v1 or v2 (the PROXY protocol version to send)",
            )
        })
        .ok()?;
    if layer == Layer::Http {
        p.add(
            &path,
            "berth sends a PROXY protocol header on L4 services only (HTTP backends get \
             X-Forwarded-For): name a tcp or tls-passthrough listener, or remove it",
        );
        return None;
    }
    Some(version)
}

/// `idle_timeout`, which only an L4 service has (an HTTP client's keep-alive idle time is
/// the listener's `defaults.timeouts.idle`).
fn idle_timeout(
    p: &mut Problems,
    path: &str,
    raw: Option<raw::Span>,
    layer: Layer,
    inherited: Duration,
) -> Duration {
    let path = format!("{path}.idle_timeout");
    if raw.is_some() && layer == Layer::Http {
        p.add(
            &path,
            "`idle_timeout` applies to L4 services (connections); an HTTP client's idle \
             keep-alive is `defaults.timeouts.idle`: remove it",
        );
    }
    positive(p, &path, raw, inherited)
}

/// The fields an L4 service may not set: (field, whether set, why and the fix).
fn http_only_fields(s: &raw::Service) -> [(&'static str, bool, &'static str); 8] {
    let https = s.backends.iter().flatten().any(|b| b.https);
    let by_request = s
        .balance
        .as_ref()
        .is_some_and(|b| matches!(b.0, Balance::Hash(HashOn::Header(_) | HashOn::Cookie(_))));
    [
        (
            "balance",
            by_request,
            "a connection has no headers or cookies to hash: use hash(client_ip), \
             round_robin, least_request or peak_ewma",
        ),
        (
            "timeout",
            s.timeout.is_some(),
            "`timeout` bounds an HTTP request; a connection has `idle_timeout` instead",
        ),
        (
            "hosts",
            s.hosts.is_some(),
            "a tcp listener sends every connection to its one service: remove `hosts` (on a \
          tls-passthrough listener, `hosts` are matched against the TLS SNI)",
        ),
        (
            "path",
            s.path.as_deref().is_some_and(|p| p != "/"),
            "connections have no path: remove `path` from this tcp service",
        ),
        (
            "strip_prefix",
            s.strip_prefix == Some(true),
            "connections have no path: remove `strip_prefix` from this tcp service",
        ),
        (
            "hsts",
            s.hsts.is_some(),
            "Strict-Transport-Security is an HTTP header, and a tcp service forwards bytes: \
             remove `hsts` (a tls-passthrough backend sets its own)",
        ),
        (
            "upstream_protocol",
            s.upstream_protocol.is_some(),
            "a tcp service forwards bytes as they come: remove `upstream_protocol`",
        ),
        (
            "backends",
            https || s.tls.is_some(),
            "a tcp service forwards bytes and makes no TLS of its own: write backends as \
          \"IP:PORT\" and remove `tls` (a tls-passthrough listener keeps the client's TLS)",
        ),
    ]
}

/// The `hsts:` block, checked (the problem names `max_age` or `preload`).
fn hsts(p: &mut Problems, path: &str, raw: raw::Hsts) -> Option<Hsts> {
    let include_subdomains = raw.include_subdomains.unwrap_or(false);
    let preload = raw.preload.unwrap_or(false);
    Hsts::new(raw.max_age.0, include_subdomains, preload)
        .map_err(|e| p.add(format!("{path}.hsts.{}", e.field()), e.to_string()))
        .ok()
}

fn check_listener_refs(
    p: &mut Problems,
    path: &str,
    names: &[String],
    listeners: &BTreeMap<String, Listener>,
) {
    let known: Vec<&str> = listeners.keys().map(String::as_str).collect();
    for name in names.iter().filter(|n| !listeners.contains_key(*n)) {
        let mut msg = format!("unknown listener `{name}`; ");
        if known.is_empty() {
            msg.push_str("no listeners are defined: add one under `listeners`");
        } else {
            msg.push_str(&format!("known listeners: {}", known.join(", ")));
            if let Some(near) = suggest(name, &known) {
                msg.push_str(&format!(" (did you mean `{near}`?)"));
            }
        }
        p.add(format!("{path}.listener"), msg);
    }
    let any_http = listeners
        .values()
        .any(|l| matches!(l.protocol, Protocol::Http | Protocol::Https));
    if names.is_empty() && !any_http {
        p.add(
            path,
            "this service has no listener to serve on: no http or https listener is defined; \
             add one under `listeners` or name one with `listener:`",
        );
    }
}

fn backends(p: &mut Problems, path: &str, name: &str, raw: Vec<raw::Backend>) -> Vec<Backend> {
    if raw.is_empty() {
        p.add(
            format!("{path}.backends"),
            format!(
                "service `{name}` has no backends: list at least one, \
                 like backends: [\"127.0.0.1:9001\"]"
            ),
        );
    }
    let mut out: Vec<Backend> = Vec::new();
    for (i, b) in raw.into_iter().enumerate() {
        let at = format!("{path}.backends[{i}]");
        let addr = b.address.0;
        if addr.port() == 0 {
            p.add(
                &at,
                format!("backend {addr} has port 0: give the port the backend listens on"),
            );
        } else if addr.ip().is_unspecified() {
            p.add(&at, format!("backend {addr} is a wildcard address: give the backend's own IP, like 127.0.0.1:{}", addr.port()));
        }
        if let Some(j) = out.iter().position(|o| o.address == addr) {
            p.add(&at, format!("backend {addr} is listed twice (also backends[{j}]): list it once and raise its weight instead"));
        }
        out.push(Backend {
            address: addr,
            weight: b.weight.map_or(super::DEFAULT_WEIGHT, |w| w.0),
        });
    }
    out
}

/// Two static services may not claim the same listener + host + path.
pub(super) fn check_route_clashes(
    p: &mut Problems,
    services: &BTreeMap<String, StaticService>,
    listeners: &BTreeMap<String, Listener>,
) {
    let mut claimed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for s in services.values().map(|s| &s.spec) {
        let on: Vec<String> = if s.listeners.is_empty() {
            listeners
                .values()
                .filter(|l| !l.protocol.is_l4())
                .map(|l| l.name.clone())
                .collect()
        } else {
            s.listeners.clone()
        };
        let hosts = if s.hosts.is_empty() {
            vec![String::new()]
        } else {
            s.hosts.clone()
        };
        let mut reported = false;
        for l in &on {
            for h in &hosts {
                let key = (l.clone(), h.clone(), s.path.clone());
                match claimed.get(&key) {
                    Some(owner) if !reported => {
                        reported = true;
                        let host = if h.is_empty() {
                            "any host".to_owned()
                        } else {
                            format!("host {h}")
                        };
                        p.add(
                            format!("services.{}", s.name),
                            format!(
                                "service `{}` claims the same route as service `{owner}` \
                                 (listener {l}, {host}, path {}): give one of them other hosts or another path",
                                s.name, s.path
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        claimed.insert(key, s.name.to_string());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
