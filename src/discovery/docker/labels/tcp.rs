//! The `tcp.listener` and `tcp.sni` labels: a container served as an L4 service (control
//! plane, pure).
//!
//! `tcp.listener` names `tcp` or `tls-passthrough` listeners (comma-separated); the
//! container's connections there are forwarded as bytes. `tcp.sni` gives the host names a
//! `tls-passthrough` listener routes to it by the ClientHello's SNI (none: any name).
//! `proxy_protocol=v1|v2` sends each connection's client address first;
//! `tcp.idle_timeout` overrides `defaults.timeouts.tcp_idle`. The
//! HTTP-only labels (`listener`, `http.*`, `scheme=https`, `tls.*`) on such a container are
//! problems (so are `timeout.request` and a `balance` hashing a header or cookie), as is
//! `tcp.sni` without `tcp.listener` or on a plain `tcp` listener.

use std::time::Duration;

use super::reader::{listener_names, Labels, ListenerKind};
use crate::config::Protocol;
use crate::model::value::{hosts, positive_duration};
use crate::model::{ProxyVersion, ServiceSpec};

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 4] = [
    "tcp.listener",
    "tcp.sni",
    "tcp.idle_timeout",
    "proxy_protocol",
];

/// Labels that only mean something to an HTTP service.
const HTTP_ONLY: [&str; 11] = [
    "listener",
    "http.hosts",
    "http.path",
    "http.strip_prefix",
    "http.upstream_protocol",
    "tls.ca",
    "tls.server_name",
    "http.hsts.max_age",
    "http.hsts.include_subdomains",
    "http.hsts.preload",
    "timeout.request",
];

/// How reasons name the listeners `tcp.listener` may name.
const L4_LISTENERS: ListenerKind = ListenerKind {
    one: "a tcp or tls-passthrough listener",
    many: "tcp and tls-passthrough listeners",
    none: "no tcp or tls-passthrough listener is configured: add one under `listeners` with \
           `protocol: tcp`",
};

/// Where an L4 container is served, and what it is sent first.
pub(super) struct L4Route {
    pub listeners: Vec<String>,
    /// SNI names on `tls-passthrough` listeners; empty: any name.
    pub hosts: Vec<String>,
    /// `proxy_protocol`: the PROXY header version to send.
    pub proxy_protocol: Option<ProxyVersion>,
    /// `tcp.idle_timeout`: when absent, `defaults.timeouts.tcp_idle`.
    pub idle_timeout: Option<Duration>,
}

impl L4Route {
    /// The labels' L4 settings over what `spec` inherited from the defaults.
    pub(super) fn apply(self, spec: &mut ServiceSpec) {
        spec.listeners = self.listeners;
        spec.hosts = self.hosts;
        spec.proxy_protocol = self.proxy_protocol;
        if let Some(idle) = self.idle_timeout {
            spec.tcp_idle = idle;
        }
    }
}

/// The container's L4 route; `None` when it carries no `tcp.listener` (an HTTP service).
/// Problems are recorded in `labels`.
pub(super) fn parse(labels: &mut Labels<'_>, l4: &[(String, Protocol)]) -> Option<L4Route> {
    if !labels.has("tcp.listener") {
        for (suffix, what) in [
            ("tcp.sni", "a tls-passthrough listener"),
            ("tcp.idle_timeout", "a tcp or tls-passthrough listener"),
            ("proxy_protocol", "a tcp or tls-passthrough listener"),
        ] {
            if labels.has(suffix) {
                let msg = format!(
                    "label {} needs {} naming {what}",
                    labels.key(suffix),
                    labels.key("tcp.listener")
                );
                labels.problem(msg);
            }
        }
        return None;
    }
    http_only(labels);
    let listeners = labels
        .parse("tcp.listener", |v| {
            let known: Vec<&str> = l4.iter().map(|(n, _)| n.as_str()).collect();
            listener_names(v, &known, &L4_LISTENERS)
        })
        .unwrap_or_default();
    let sni = labels.parse("tcp.sni", hosts).unwrap_or_default();
    let plain_tcp = listeners
        .iter()
        .any(|n| l4.iter().any(|(l, p)| l == n && *p == Protocol::Tcp));
    if !sni.is_empty() && plain_tcp {
        let msg = format!(
            "label {}: a tcp listener sends every connection to its one service; SNI names \
             route only on tls-passthrough listeners: remove it or name one in {}",
            labels.key("tcp.sni"),
            labels.key("tcp.listener")
        );
        labels.problem(msg);
    }
    let proxy_protocol = labels.parse("proxy_protocol", |v| {
        v.parse::<ProxyVersion>().map_err(|e| e.to_string())
    });
    let idle_timeout = labels.parse("tcp.idle_timeout", positive_duration);
    Some(L4Route {
        listeners,
        hosts: sni,
        proxy_protocol,
        idle_timeout,
    })
}

/// A problem for each HTTP-only label present.
fn http_only(labels: &mut Labels<'_>) {
    let mut present: Vec<String> = HTTP_ONLY
        .iter()
        .filter(|s| labels.has(s))
        .map(|s| labels.key(s))
        .collect();
    if labels.raw("scheme") == Some("https") {
        present.push(format!("{}=https", labels.key("scheme")));
    }
    let balance = labels.raw("balance").unwrap_or_default();
    if ["hash(header", "hash(cookie"]
        .iter()
        .any(|p| balance.starts_with(p))
    {
        present.push(format!("{}={balance}", labels.key("balance")));
    }
    if !present.is_empty() {
        let msg = format!(
            "{} only apply to HTTP services, and {} makes this an L4 service that forwards \
             bytes: remove them",
            present.join(", "),
            labels.key("tcp.listener")
        );
        labels.problem(msg);
    }
}
