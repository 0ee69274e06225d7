//! Service-level labels: listener, `http.*`, `tcp.*`, balance, retries, timeouts, drain.

use std::time::Duration;

use super::*;
use crate::model::HashOn;

// ---- listener ----

#[test]
fn listener_names_http_listeners() {
    let s = service(container().label("berth.listener", "internal, web,internal"));
    assert_eq!(s.listeners, ["internal", "web"]);
}

#[test]
fn listener_unknown_suggests() {
    assert_eq!(
        rejected(container().label("berth.listener", "webb,pg")),
        "label berth.listener=webb,pg: `webb` is not an http listener (did you mean `web`?), \
         `pg` is not an http listener; http listeners: web, internal"
    );
    assert!(rejected(container().label("berth.listener", "web,,internal")).contains("extra comma"));
}

#[test]
fn no_http_listener_at_all() {
    let mut e = env();
    e.http.clear();
    assert_eq!(
        e.rejected(container()),
        "no http listener is configured to serve this container: \
         add one under `listeners` in the config"
    );
    assert_eq!(
        e.rejected(container().label("berth.listener", "web")),
        "label berth.listener=web: `web` is not an http listener; no http listener is configured"
    );
}

// ---- http.* ----

#[test]
fn hosts_are_normalised() {
    let s = service(container().label(
        "berth.http.hosts",
        "API.example.com, *.Example.com,api.example.com",
    ));
    assert_eq!(s.hosts, ["api.example.com", "*.example.com"]);
}

#[test]
fn bad_hosts_are_rejected_with_the_config_rule() {
    let reason = rejected(container().label("berth.http.hosts", "a.com,a.*.com"));
    assert!(
        reason.starts_with("label berth.http.hosts=a.com,a.*.com: invalid host pattern `a.*.com`"),
        "{reason}"
    );
    assert_eq!(
        rejected(container().label("berth.http.hosts", "*")),
        "label berth.http.hosts=*: `*` alone is not a host pattern: omit the label to match any host"
    );
    for bad in ["a.com:8080", "*", "bad host", "a..com", "a.com,"] {
        let reason = rejected(container().label("berth.http.hosts", bad));
        assert!(
            reason.starts_with(&format!("label berth.http.hosts={bad}: ")),
            "{reason}"
        );
    }
}

#[test]
fn path_prefix() {
    assert_eq!(
        service(container().label("berth.http.path", "/api/v2")).path,
        "/api/v2"
    );
    let reason = rejected(container().label("berth.http.path", "api"));
    assert_eq!(
        reason,
        "label berth.http.path=api: path `api` must start with `/`, like /api"
    );
    for bad in ["/a?b", "/a#b", "/a b", "/a\u{1}"] {
        let reason = rejected(container().label("berth.http.path", bad));
        assert!(reason.starts_with("label berth.http.path="), "{reason}");
    }
}

#[test]
fn strip_prefix() {
    let c = container()
        .label("berth.http.path", "/api")
        .label("berth.http.strip_prefix", "true");
    assert!(service(c).strip_prefix);
    assert_eq!(
        rejected(container().label("berth.http.strip_prefix", "1")),
        "label berth.http.strip_prefix=1: expected true or false"
    );
}

// ---- tcp.* ----

#[test]
fn tcp_listener_makes_an_l4_service() {
    let s = service(container().label("berth.tcp.listener", "pg"));
    assert_eq!(s.layer, crate::model::Layer::Tcp);
    assert_eq!(s.listeners, ["pg"]);
    assert!(s.hosts.is_empty());
    let s = service(
        container()
            .label("berth.tcp.listener", "tlsp")
            .label("berth.tcp.sni", "db.example.com, *.db.example.com"),
    );
    assert_eq!(s.hosts, ["db.example.com", "*.db.example.com"]);
    assert_eq!(s.tcp_idle, crate::model::DEFAULT_TCP_IDLE);
    let s = service(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.tcp.idle_timeout", "2h")
            .label("berth.proxy_protocol", "v2"),
    );
    assert_eq!(s.tcp_idle.as_secs(), 7200);
    assert_eq!(s.proxy_protocol, Some(crate::model::ProxyVersion::V2));
}

#[test]
fn an_l4_service_inherits_the_default_check_as_a_tcp_check() {
    let mut e = env();
    e.defaults.health = Some(crate::model::HealthCheck::new(
        Some("/healthz".into()),
        std::time::Duration::from_secs(5),
    ));
    let l4 = e.accepted(container().label("berth.tcp.listener", "pg"));
    let check = l4.endpoint.service.health.clone().expect("inherited check");
    assert_eq!(check.path, None, "no HTTP against a TCP service");
    assert_eq!(check.interval, std::time::Duration::from_secs(5));
    let http = e.accepted(container());
    let check = http
        .endpoint
        .service
        .health
        .clone()
        .expect("inherited check");
    assert_eq!(check.path.as_deref(), Some("/healthz"));
}

#[test]
fn tcp_labels_reject_what_cannot_work() {
    assert_eq!(
        rejected(container().label("berth.tcp.listener", "web")),
        "label berth.tcp.listener=web: `web` is not a tcp or tls-passthrough listener; \
         tcp and tls-passthrough listeners: pg, tlsp"
    );
    assert_eq!(
        rejected(container().label("berth.tcp.sni", "db.local")),
        "label berth.tcp.sni needs berth.tcp.listener naming a tls-passthrough listener"
    );
    let why = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.tcp.sni", "db.local"),
    );
    assert!(
        why.contains("SNI names route only on tls-passthrough"),
        "{why}"
    );
    let why = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.http.hosts", "a.local")
            .label("berth.scheme", "https"),
    );
    assert!(
        why.starts_with("berth.http.hosts, berth.scheme=https only apply to HTTP services"),
        "{why}"
    );
    let why = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.timeout.request", "5s")
            .label("berth.balance", "hash(cookie:sid)"),
    );
    assert!(
        why.starts_with("berth.timeout.request, berth.balance=hash(cookie:sid) only apply"),
        "{why}"
    );
    assert!(rejected(container().label("berth.proxy_protocol", "v1"))
        .contains("needs berth.tcp.listener"));
    assert!(rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.proxy_protocol", "v3")
    )
    .contains("berth.proxy_protocol=v3"));
}

// ---- balance, retries, timeouts, drain ----

#[test]
fn balance_label() {
    let s = service(container().label("berth.balance", "round_robin"));
    assert_eq!(s.balance, Balance::RoundRobin);
    let s = service(container().label("berth.balance", "hash(client_ip)"));
    assert_eq!(s.balance, Balance::Hash(HashOn::ClientIp));
    let reason = rejected(container().label("berth.balance", "fastest"));
    assert!(
        reason.starts_with(
            "label berth.balance=fastest: unknown balance `fastest`: expected round_robin"
        ),
        "{reason}"
    );
}

#[test]
fn retries_range() {
    assert_eq!(service(container().label("berth.retries", "0")).retries, 0);
    assert_eq!(service(container().label("berth.retries", "5")).retries, 5);
    assert_eq!(
        rejected(container().label("berth.retries", "6")),
        "label berth.retries=6: expected a whole number from 0 to 5"
    );
}

#[test]
fn request_timeout() {
    let s = service(container().label("berth.timeout.request", "500ms"));
    assert_eq!(s.request_timeout, Duration::from_millis(500));
    assert_eq!(
        rejected(container().label("berth.timeout.request", "0s")),
        "label berth.timeout.request=0s: must be longer than 0, like 500ms or 30s"
    );
    assert_eq!(
        rejected(container().label("berth.timeout.request", "30")),
        "label berth.timeout.request=30: a unit is required, like 30s or 30ms"
    );
}

#[test]
fn drain() {
    assert_eq!(
        service(container().label("berth.drain", "1m")).drain,
        secs(60)
    );
    assert_eq!(
        service(container().label("berth.drain", "0s")).drain,
        Duration::ZERO
    );
    assert_eq!(
        rejected(container().label("berth.drain", "soon")),
        "label berth.drain=soon: expected a number and a unit like 500ms, 30s, 2m"
    );
}

#[test]
fn keep_route() {
    assert_eq!(service(container()).keep_route, secs(300), "the default");
    assert_eq!(
        service(container().label("berth.keep_route", "30s")).keep_route,
        secs(30)
    );
    assert_eq!(
        service(container().label("berth.keep_route", "0s")).keep_route,
        Duration::ZERO
    );
    assert!(rejected(container().label("berth.keep_route", "a while")).contains("berth.keep_route"));
}

// ---- outlier.*, limits.*, slow_start ----

#[test]
fn resilience_defaults_when_unset() {
    assert_eq!(
        service(container()).resilience,
        crate::model::Resilience::default()
    );
}

#[test]
fn resilience_labels_override_the_defaults() {
    let s = service(
        container()
            .label("berth.outlier.consecutive_failures", "3")
            .label("berth.outlier.base_ejection", "2s")
            .label("berth.outlier.max_ejected_percent", "100")
            .label("berth.outlier.gateway_errors_only", "true")
            .label("berth.limits.max_in_flight", "50")
            .label("berth.limits.max_pending", "0")
            .label("berth.slow_start", "0s"),
    );
    let r = s.resilience;
    assert_eq!(r.outlier.consecutive_failures, 3);
    assert_eq!(r.outlier.base_ejection, secs(2));
    assert_eq!(r.outlier.max_ejection, secs(300), "the default max is kept");
    assert_eq!(r.outlier.max_ejected_percent, 100);
    assert!(r.outlier.gateway_errors_only);
    assert_eq!((r.limits.max_in_flight, r.limits.max_pending), (50, 0));
    assert_eq!(r.slow_start, Duration::ZERO);
}

#[test]
fn resilience_bad_values_reject() {
    assert!(
        rejected(container().label("berth.outlier.max_ejected_percent", "150"))
            .contains("berth.outlier.max_ejected_percent=150"),
    );
    assert!(rejected(
        container()
            .label("berth.outlier.base_ejection", "1m")
            .label("berth.outlier.max_ejection", "10s")
    )
    .contains("shorter than the base ejection"));
    assert!(
        rejected(container().label("berth.limits.max_in_flight", "-1"))
            .contains("berth.limits.max_in_flight")
    );
    assert!(rejected(container().label("berth.slow_start", "soon")).contains("berth.slow_start"));
    assert!(
        rejected(container().label("berth.limit.max_in_flight", "3"))
            .contains("did you mean berth.limits.max_in_flight")
    );
}

// ---- upstream ----

#[test]
fn upstream_protocol_is_http1_unless_h2_is_asked() {
    use crate::model::UpstreamProtocol;
    let s = service(container());
    assert_eq!(s.upstream.protocol, UpstreamProtocol::Http1);
    let s = service(container().label("berth.http.upstream_protocol", "h2"));
    assert_eq!(s.upstream.protocol, UpstreamProtocol::H2);
    assert_eq!(
        rejected(container().label("berth.http.upstream_protocol", "h3")),
        "label berth.http.upstream_protocol=h3: unknown upstream protocol `h3`; use http1 or h2"
    );
}

#[test]
fn scheme_https_makes_a_tls_upstream() {
    let s = service(container().label("berth.scheme", "https"));
    let tls = s.upstream.tls.expect("tls");
    assert_eq!((tls.ca, tls.server_name), (None, None));
    let s = service(
        container()
            .label("berth.scheme", "https")
            .label("berth.tls.server_name", "api.internal"),
    );
    let name = s.upstream.tls.expect("tls").server_name.expect("name");
    assert_eq!(name.to_str(), "api.internal");
    assert_eq!(
        service(container().label("berth.scheme", "http"))
            .upstream
            .tls,
        None
    );
}

#[test]
fn tls_labels_need_https_and_a_readable_ca() {
    assert_eq!(
        rejected(container().label("berth.tls.ca", "/ca.pem")),
        "labels berth.tls.* apply to https endpoints: set berth.scheme=https or remove them"
    );
    assert_eq!(
        rejected(
            container()
                .label("berth.scheme", "https")
                .label("berth.tls.ca", "/nonexistent/ca.pem")
        ),
        "labels berth.tls.*: cannot read CA file /nonexistent/ca.pem: No such file or directory (os error 2)"
    );
    assert_eq!(
        rejected(container().label("berth.scheme", "ftp")),
        "label berth.scheme=ftp: use http or https"
    );
}

// ---- tls.acme ----

#[test]
fn tls_acme_opts_an_http_service_in_and_rejects_an_l4_one() {
    assert!(service(container().label("berth.tls.acme", "true")).acme);
    assert!(!service(container()).acme);
    let reason = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.tls.acme", "true"),
    );
    assert!(
        reason.contains("berth.tls.acme is for HTTP services"),
        "{reason}"
    );
    assert!(rejected(container().label("berth.tls.acme", "yes please")).contains("tls.acme"));
}
