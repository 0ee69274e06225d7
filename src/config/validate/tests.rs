//! Unit tests of `validate`.

use super::*;
use crate::config::parse;
use crate::config::test_support::{one, problems};
use crate::model::Layer;

#[test]
fn absent_sections_get_the_design_defaults() {
    let c = parse("", "t.yaml").unwrap();
    assert_eq!(c.listeners["web"].address.to_string(), "0.0.0.0:8080");
    assert_eq!(c.admin.address.to_string(), "127.0.0.1:9900");
    assert!(c.docker.enabled && !c.docker.exposed_by_default);
    assert_eq!(c.docker.label_prefix, "berth");
    assert!(!c.swarm.engine.enabled, "Swarm is opt-in");
    assert_eq!(c.swarm.refresh.as_secs(), 10);
    assert_eq!(c.defaults.retries, 2);
    assert_eq!(c.defaults.timeouts.request.as_secs(), 60);
    assert!(c.workers >= 1);
}

#[test]
fn every_problem_is_collected_with_its_position() {
    let src = "\
listeners:
  web: { address: 0.0.0.0:8080 }
  other: { address: 0.0.0.0:8080 }
services:
  a:
    listener: webb
    path: api
    backends: []
";
    let all = problems(src);
    let got: Vec<_> = all.iter().map(|p| (p.path.as_str(), p.line)).collect();
    assert_eq!(
        got,
        [
            ("listeners.web.address", Some(2)),
            ("services.a.listener", Some(6)),
            ("services.a.path", Some(7)),
            ("services.a.backends", Some(8)),
        ]
    );
    assert!(all[0]
        .message
        .contains("listener `other` (listeners.other.address)"));
    assert!(all[1]
        .message
        .contains("known listeners: other, web (did you mean `web`?)"));
}

#[test]
fn admin_and_wildcards_clash() {
    let p = one("listeners: { web: { address: 0.0.0.0:9900 } }\n");
    assert_eq!(p.path, "admin.address");
    assert!(p.message.contains("overlaps 0.0.0.0:9900"), "{}", p.message);
    let ok = "listeners: { a: { address: 127.0.0.1:0 }, b: { address: 127.0.0.1:0 } }\n";
    assert!(parse(ok, "t").is_ok());
    let v6 = "listeners: { a: { address: \"[::]:80\" }, b: { address: 0.0.0.0:81 } }\n";
    assert!(parse(v6, "t").is_ok());
}

const L4: &str = "listeners:\n  web: { address: 127.0.0.1:0 }\n  \
                  pg: { address: 127.0.0.1:0, protocol: tcp }\n  \
                  tp: { address: 127.0.0.1:0, protocol: tls-passthrough }\n";

#[test]
fn l4_services_take_their_layer_from_the_listener() {
    let c = parse(&format!("{L4}services:\n  db: {{ listener: pg, backends: [127.0.0.1:1] }}\n  \
                           sni: {{ listener: tp, hosts: [a.example.com], backends: [127.0.0.1:2] }}\n  \
                           web: {{ backends: [127.0.0.1:3] }}\n"), "t")
        .expect("valid");
    assert_eq!(c.services["db"].spec.layer, Layer::Tcp);
    assert_eq!(c.services["sni"].spec.layer, Layer::Tcp);
    assert_eq!(c.services["sni"].spec.hosts, ["a.example.com"]);
    assert_eq!(c.services["web"].spec.layer, Layer::Http);
    assert_eq!(
        c.services["db"].spec.tcp_idle,
        crate::model::DEFAULT_TCP_IDLE
    );
    let c = parse(
        &format!(
            "{L4}defaults: {{ timeouts: {{ tcp_idle: 10m }} }}\nservices:\n  \
             a: {{ listener: pg, backends: [127.0.0.1:1] }}\n  \
             b: {{ listener: tp, idle_timeout: 30s, backends: [127.0.0.1:2] }}\n"
        ),
        "t",
    )
    .expect("valid");
    assert_eq!(c.services["a"].spec.tcp_idle.as_secs(), 600);
    assert_eq!(c.services["b"].spec.tcp_idle.as_secs(), 30);
}

#[test]
fn l4_services_inherit_the_default_check_as_a_tcp_check() {
    let c = parse(
        &format!(
            "{L4}defaults: {{ health: {{ path: /healthz, interval: 5s }} }}\n\
             services:\n  db: {{ listener: pg, backends: [127.0.0.1:1] }}\n  \
             web: {{ backends: [127.0.0.1:2] }}\n"
        ),
        "t",
    )
    .expect("valid");
    let db = c.services["db"].spec.health.as_ref().expect("inherited");
    assert_eq!((db.path.as_deref(), db.interval.as_secs()), (None, 5));
    let web = c.services["web"].spec.health.as_ref().expect("inherited");
    assert_eq!(web.path.as_deref(), Some("/healthz"));
}

#[test]
fn l4_services_refuse_http_fields() {
    let p = one(&format!(
        "{L4}services:\n  db: {{ listener: pg, hosts: [x.local], backends: [127.0.0.1:1] }}\n"
    ));
    assert_eq!(p.path, "services.db.hosts");
    assert!(
        p.message.contains("tls-passthrough listener"),
        "{}",
        p.message
    );
    let p = one(&format!(
        "{L4}services:\n  db: {{ listener: [pg, web], backends: [127.0.0.1:1] }}\n"
    ));
    assert_eq!(p.path, "services.db.listener");
    assert!(
        p.message.contains("split it into two services"),
        "{}",
        p.message
    );
    let p = one(&format!(
        "{L4}services:\n  db: {{ listener: pg, strip_prefix: true, backends: [127.0.0.1:1] }}\n"
    ));
    assert_eq!(p.path, "services.db.strip_prefix");
    let p = one(&format!(
        "{L4}services:\n  db: {{ listener: pg, upstream_protocol: h2, backends: [127.0.0.1:1] }}\n"
    ));
    assert_eq!(p.path, "services.db.upstream_protocol");
    let p = one(&format!(
        "{L4}services:\n  db: {{ listener: pg, backends: [\"https://127.0.0.1:1\"] }}\n"
    ));
    assert_eq!(p.path, "services.db.backends");
    let p = one(
        "listeners:\n  s:\n    address: 0.0.0.0:1\n    protocol: tcp\n    redirect: { to: x }\n",
    );
    assert_eq!(p.path, "listeners.s.redirect");
}

#[test]
fn tls_belongs_to_https_listeners() {
    let p = one("listeners: { w: { address: 0.0.0.0:1, tls: { certificates: [] } } }\n");
    assert_eq!(p.path, "listeners.w.tls");
}

#[test]
fn duplicate_names_are_found_at_the_second_key() {
    let p = one("services:\n  a: { backends: [127.0.0.1:1] }\n  a: { backends: [127.0.0.1:2] }\n");
    assert_eq!((p.line, p.column), (Some(3), Some(3)));
    assert!(p.message.contains("defined twice"), "{}", p.message);
}

#[test]
fn other_sections() {
    assert_eq!(one("workers: 5000\n").path, "workers");
    assert_eq!(
        one("docker: { endpoint: /var/run/docker.sock }\n").path,
        "docker.endpoint"
    );
    assert_eq!(
        one("docker: { label_prefix: berth. }\n").path,
        "docker.label_prefix"
    );
    assert_eq!(
        one("defaults: { timeouts: { connect: 0s } }\n").path,
        "defaults.timeouts.connect"
    );
    let c = parse(
        "log: { level: debug, format: json, access_log: true }\nworkers: 3\n",
        "t",
    )
    .unwrap();
    let json = crate::config::AccessLog {
        format: crate::config::AccessFormat::Json,
        path: None,
    };
    assert_eq!(
        (c.log.level.as_str(), c.log.access_log, c.workers),
        ("debug", Some(json), 3)
    );
}

#[test]
fn outlier_defaults_and_problems() {
    let c = parse("workers: 1\n", "t").unwrap();
    assert_eq!(c.defaults.outlier, Outlier::default());
    assert_eq!(c.defaults.outlier.consecutive_failures, 5);
    let c = parse(
            "defaults:\n  outlier: { consecutive_failures: 0, base_ejection: 1s, max_ejected_percent: 100, gateway_errors_only: true }\n",
            "t",
        )
        .unwrap();
    let o = c.defaults.outlier;
    assert_eq!(o.consecutive_failures, 0);
    assert_eq!(o.base_ejection, Duration::from_secs(1));
    assert_eq!(o.max_ejection, Duration::from_secs(300));
    assert_eq!((o.max_ejected_percent, o.gateway_errors_only), (100, true));

    let p = one("defaults:\n  outlier: { max_ejected_percent: 150 }\n");
    assert_eq!(
        (p.path.as_str(), p.line),
        ("defaults.outlier.max_ejected_percent", Some(2))
    );
    assert!(p.message.contains("from 0 to 100"), "{}", p.message);
    let p = one("defaults:\n  outlier:\n    base_ejection: 0s\n");
    assert_eq!(
        (p.path.as_str(), p.line),
        ("defaults.outlier.base_ejection", Some(3))
    );
    let p = one("defaults:\n  outlier: { base_ejection: 1m, max_ejection: 10s }\n");
    assert_eq!(p.path, "defaults.outlier.max_ejection");
    assert!(
        p.message.contains("shorter than base_ejection"),
        "{}",
        p.message
    );
    let p = one("defaults:\n  outlier: { consecutive: 3 }\n");
    assert!(p.message.contains("consecutive_failures"), "{}", p.message);
}

#[test]
fn retry_budget_defaults_and_problems() {
    let c = parse("", "t.yaml").unwrap();
    assert_eq!(c.defaults.retry_budget, BudgetSettings::default());
    assert_eq!(c.defaults.retry_budget.percent, 20);
    let c = parse(
        "defaults:\n  retry_budget: { percent: 50, min_retries: 0, window: 30s }\n",
        "t.yaml",
    )
    .unwrap();
    let b = c.defaults.retry_budget;
    assert_eq!((b.percent, b.min_retries, b.window.as_secs()), (50, 0, 30));
    let p = one("defaults:\n  retry_budget: { percent: 120 }\n");
    assert_eq!(
        (p.path.as_str(), p.line),
        ("defaults.retry_budget.percent", Some(2))
    );
    assert!(p.message.contains("0 to 100"), "{}", p.message);
    let p = one("defaults:\n  retry_budget:\n    window: 0s\n");
    assert_eq!(
        (p.path.as_str(), p.line),
        ("defaults.retry_budget.window", Some(3))
    );
}

#[test]
fn services_override_the_resilience_defaults() {
    let src = "defaults:\n  outlier: { consecutive_failures: 7 }\n  limits: { max_in_flight: 10 }\n  slow_start: 30s\n\
               services:\n  a: { backends: [127.0.0.1:1] }\n  \
               b: { path: /b, outlier: { base_ejection: 1s }, limits: { max_pending: 0 }, slow_start: 0s, backends: [127.0.0.1:2] }\n";
    let c = parse(src, "t.yaml").unwrap();
    let (a, b) = (
        c.services["a"].spec.resilience,
        c.services["b"].spec.resilience,
    );
    assert_eq!(a, c.defaults.resilience());
    assert_eq!((a.limits.max_in_flight, a.limits.max_pending), (10, 100));
    assert_eq!(a.slow_start.as_secs(), 30);
    assert_eq!(
        b.outlier.consecutive_failures, 7,
        "fields not set come from the defaults"
    );
    assert_eq!(b.outlier.base_ejection.as_secs(), 1);
    assert_eq!((b.limits.max_in_flight, b.limits.max_pending), (10, 0));
    assert!(b.slow_start.is_zero());
    let p = one(
        "services:\n  a:\n    outlier: { max_ejected_percent: 101 }\n    backends: [127.0.0.1:1]\n",
    );
    assert_eq!(
        (p.path.as_str(), p.line),
        ("services.a.outlier.max_ejected_percent", Some(3))
    );
}

#[test]
fn the_swarm_section_is_checked_like_docker_and_names_its_own_fields() {
    let c = parse(
        "swarm: { enabled: true, endpoint: \"tcp://10.0.0.1:2375\", label_prefix: sw, refresh: 3s }\n",
        "t.yaml",
    )
    .unwrap();
    assert!(c.swarm.engine.enabled && c.docker.enabled);
    assert_eq!(
        c.swarm.engine.endpoint.as_deref(),
        Some("tcp://10.0.0.1:2375")
    );
    assert_eq!(c.swarm.engine.label_prefix, "sw");
    assert_eq!(c.swarm.refresh.as_secs(), 3);
    let src =
        "swarm: { endpoint: \"ftp://x\", label_prefix: \"Bad.\", network: \" \", refresh: 0s }\n";
    let got: Vec<String> = problems(src).into_iter().map(|p| p.path).collect();
    assert_eq!(
        got,
        [
            "swarm.endpoint",
            "swarm.label_prefix",
            "swarm.network",
            "swarm.refresh"
        ]
    );
    let typo = problems("swarm: { refesh: 3s }\n");
    assert!(typo[0].message.contains("refresh"), "{}", typo[0].message);
}

#[test]
fn allow_lists_are_read_and_checked() {
    let ok = "services:\n  a:\n    allow: { ips: [10.0.0.0/8, \"192.0.2.7\"], forwarded_depth: 1 }\n    \
              backends: [\"127.0.0.1:9001\"]\n";
    let c = parse(ok, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let allow = c.services["a"].spec.policies.allow.clone().expect("allow");
    assert_eq!(
        allow.to_string(),
        "from 10.0.0.0/8, 192.0.2.7/32, X-Forwarded-For hop 1 from the right"
    );
    for (body, field, words) in [
        (
            "{ ips: [] }",
            "services.a.allow.ips",
            "list the IPs or CIDRs",
        ),
        (
            "{ ips: [10.0.0.0/8], forwarded_depth: 17 }",
            "services.a.allow.forwarded_depth",
            "more than 16",
        ),
        (
            "{ ips: [office] }",
            "services.a.allow.ips[0]",
            "invalid IP or network",
        ),
    ] {
        let src =
            format!("services:\n  a:\n    allow: {body}\n    backends: [\"127.0.0.1:9001\"]\n");
        let e = parse(&src, "t.yaml").expect_err(body).to_string();
        assert!(e.contains(field) && e.contains(words), "{body}: {e}");
    }
}

#[test]
fn basic_auth_is_read_and_checked() {
    let alice = "alice:$2y$05$yhoqlRUGoumjWjkivgbRL.KlL2YTDy2DqrrrGu41yftJTanaE9jd2";
    let ok = format!(
        "services:\n  a:\n    auth: {{ basic: {{ users: [\"{alice}\"], realm: staff }} }}\n    \
         backends: [\"127.0.0.1:9001\"]\n"
    );
    let c = parse(&ok, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let basic = c.services["a"]
        .spec
        .policies
        .basic_auth
        .clone()
        .expect("basic");
    assert_eq!((basic.realm.as_str(), basic.users.len()), ("staff", 1));
    for (body, field, words) in [
        (
            "{ basic: { users: [\"bob:secret\"] } }",
            "services.a.auth.basic.users[0]",
            "plain-text",
        ),
        (
            "{ basic: { users_file: missing.htpasswd } }",
            "services.a.auth.basic.users_file",
            "missing.htpasswd",
        ),
        ("{ basic: { } }", "services.a.auth.basic", "no users"),
        (
            "{ basic: { users: [], rleam: x } }",
            "services.a.auth.basic.rleam",
            "did you mean `realm`",
        ),
    ] {
        let src =
            format!("services:\n  a:\n    auth: {body}\n    backends: [\"127.0.0.1:9001\"]\n");
        let e = parse(&src, "t.yaml").expect_err(body).to_string();
        assert!(e.contains(field) && e.contains(words), "{body}: {e}");
    }
}

#[test]
fn rate_limits_are_read_and_checked() {
    let ok =
        "services:\n  a:\n    rate_limit: { average: 10, period: 1m, burst: 2, by: service }\n    \
              backends: [\"127.0.0.1:9001\"]\n";
    let c = parse(ok, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let rate = c.services["a"]
        .spec
        .policies
        .rate_limit
        .clone()
        .expect("rate");
    assert_eq!(rate.to_string(), "10 per 60s (burst 2) by service");
    for (body, field, words) in [
        (
            "{ average: 0 }",
            "services.a.rate_limit.average",
            "at least 1",
        ),
        (
            "{ average: 5, period: 0s }",
            "services.a.rate_limit.period",
            "more than 0",
        ),
        (
            "{ average: 5, burst: 0 }",
            "services.a.rate_limit.burst",
            "at least 1",
        ),
        (
            "{ average: 5, by: client }",
            "services.a.rate_limit.by",
            "header:NAME",
        ),
        ("{ period: 1s }", "services.a.rate_limit", "average"),
    ] {
        let src = format!(
            "services:\n  a:\n    rate_limit: {body}\n    backends: [\"127.0.0.1:9001\"]\n"
        );
        let e = parse(&src, "t.yaml").expect_err(body).to_string();
        assert!(e.contains(field) && e.contains(words), "{body}: {e}");
    }
}

#[test]
fn an_l4_service_takes_the_allow_list_only() {
    let src =
        "listeners:\n  pg: { address: \"0.0.0.0:5432\", protocol: tcp }\nservices:\n  db:\n    \
               listener: pg\n    rate_limit: { average: 5 }\n    backends: [\"127.0.0.1:5433\"]\n";
    let e = parse(src, "t.yaml").expect_err("refused").to_string();
    assert!(
        e.contains("services.db.rate_limit") && e.contains("HTTP requests only"),
        "{e}"
    );
}

#[test]
fn forward_auth_is_read_and_checked() {
    let ok = "services:\n  a:\n    auth: { forward: { url: \"http://auth:9091/verify\", response_headers: [Remote-User], \
              timeout: 2s, failure_status: 401 } }\n    backends: [\"127.0.0.1:9001\"]\n";
    let c = parse(ok, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let f = c.services["a"]
        .spec
        .policies
        .forward_auth
        .clone()
        .expect("forward");
    assert_eq!((f.failure_status, f.timeout.as_secs()), (401, 2));
    for (body, field, words) in [
        (
            "{ forward: { url: \"auth:9091\" } }",
            "services.a.auth.forward.url",
            "http://",
        ),
        (
            "{ forward: { url: \"http://a/\", timeout: 0s } }",
            "services.a.auth.forward.timeout",
            "more than 0",
        ),
        (
            "{ forward: { url: \"http://a/\", response_headers: [\"a b\"] } }",
            "services.a.auth.forward.response_headers",
            "header name",
        ),
    ] {
        let src =
            format!("services:\n  a:\n    auth: {body}\n    backends: [\"127.0.0.1:9001\"]\n");
        let e = parse(&src, "t.yaml").expect_err(body).to_string();
        assert!(e.contains(field) && e.contains(words), "{body}: {e}");
    }
}

#[test]
fn in_flight_per_client_is_at_least_one() {
    let src = |n: u32| {
        format!("services:\n  a:\n    in_flight: {{ per_client: {n} }}\n    backends: [\"127.0.0.1:9001\"]\n")
    };
    let c = parse(&src(3), "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.services["a"].spec.policies.in_flight_per_client, Some(3));
    let e = parse(&src(0), "t.yaml").expect_err("0").to_string();
    assert!(
        e.contains("services.a.in_flight.per_client") && e.contains("at least 1"),
        "{e}"
    );
}
