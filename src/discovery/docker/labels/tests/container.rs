//! Container-level labels: enable, unknown labels, prefix, service name, port, weight,
//! network; every problem in one reason; no panic on any input.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;

// ---- the whole result, defaults ----

#[test]
fn minimal_container_gets_every_default() {
    let a = accepted(container());
    let want = ServiceSpec {
        name: "web-1".into(),
        layer: crate::model::Layer::Http,
        listeners: vec![],
        hosts: vec![],
        path: "/".into(),
        strip_prefix: false,
        hsts: None,
        balance: Balance::LeastRequest,
        retries: 2,
        request_timeout: secs(60),
        drain: secs(10),
        health: None,
        resilience: Default::default(),
        upstream: Default::default(),
        proxy_protocol: None,
        tcp_idle: std::time::Duration::from_secs(3600),
        keep_route: secs(300),
        acme: false,
        policies: Default::default(),
        shape: Default::default(),
        compress: None,
        sticky: None,
    };
    assert_eq!(*a.endpoint.service, want);
    assert_eq!(&*a.endpoint.key.source, ID);
    assert_eq!(a.endpoint.key.addr, SocketAddr::new(app_ip(), 80));
    assert_eq!(a.endpoint.weight, DEFAULT_WEIGHT);
    assert_eq!(a.network, "app");
    assert_eq!(a.network_reason, "only network");
    assert_eq!(a.health, None);
    assert!(!a.has_healthcheck);
}

#[test]
fn defaults_come_from_the_config() {
    let mut e = env();
    e.defaults.balance = Balance::RoundRobin;
    e.defaults.retries = 4;
    e.defaults.drain = secs(3);
    e.defaults.timeouts.request = secs(7);
    let s = e.accepted(container()).endpoint.service;
    assert_eq!(s.balance, Balance::RoundRobin);
    assert_eq!(s.retries, 4);
    assert_eq!(s.drain, secs(3));
    assert_eq!(s.request_timeout, secs(7));
}

#[test]
fn has_healthcheck_is_passed_through() {
    assert!(accepted(container().healthcheck()).has_healthcheck);
}

#[test]
fn values_are_trimmed() {
    let a = accepted(
        container()
            .label("berth.enable", " true ")
            .label("berth.weight", " 5\n")
            .label("berth.service", "  api "),
    );
    assert_eq!(a.endpoint.weight, 5);
    assert_eq!(&*a.endpoint.service.name, "api");
}

// ---- enable ----

#[test]
fn not_enabled_is_ignored() {
    assert_eq!(
        env().eval(&container().without("berth.enable")),
        Verdict::Ignored
    );
    // Other valid labels do not enable a container.
    let c = container()
        .without("berth.enable")
        .label("berth.port", "80");
    assert_eq!(env().eval(&c), Verdict::Ignored);
}

#[test]
fn exposed_by_default_enables_unlabelled_containers() {
    let mut e = env();
    e.exposed_by_default = true;
    assert!(matches!(
        e.eval(&container().without("berth.enable")),
        Verdict::Accepted(_)
    ));
}

#[test]
fn enable_false_always_ignores() {
    let mut e = env();
    e.exposed_by_default = true;
    let c = container()
        .label("berth.enable", "False")
        .label("berth.weight", "0")
        .label("berth.wieght", "1");
    assert_eq!(e.eval(&c), Verdict::Ignored);
}

#[test]
fn enable_accepts_any_case() {
    assert!(matches!(
        env().eval(&container().label("berth.enable", "TRUE")),
        Verdict::Accepted(_)
    ));
}

#[test]
fn enable_must_be_a_boolean() {
    assert_eq!(
        rejected(container().label("berth.enable", "yes")),
        "label berth.enable=yes: expected true or false"
    );
    let mut e = env();
    e.exposed_by_default = true;
    assert_eq!(
        e.rejected(container().label("berth.enable", "")),
        "label berth.enable is empty: give it a value or remove it"
    );
}

#[test]
fn a_typo_on_a_container_that_is_not_enabled_is_rejected() {
    let c = container()
        .without("berth.enable")
        .label("berth.enabel", "true");
    assert_eq!(
        rejected(c),
        "unknown label berth.enabel (did you mean berth.enable?)"
    );
}

// ---- unknown labels ----

#[test]
fn unknown_labels_suggest_the_known_one() {
    for (typo, want) in [
        ("wieght", "weight"),
        ("http.host", "http.hosts"),
        ("HTTP.HOSTS", "http.hosts"),
        ("health.intervall", "health.interval"),
        ("timeout", "timeout.request"),
        ("hosts", "http.hosts"),
        ("strip_prefix", "http.strip_prefix"),
    ] {
        let reason = rejected(container().label(&format!("berth.{typo}"), "1"));
        assert_eq!(
            reason,
            format!("unknown label berth.{typo} (did you mean berth.{want}?)")
        );
    }
}

#[test]
fn unknown_labels_without_a_near_one_list_the_known_ones() {
    let reason = rejected(container().label("berth.frobnicate", "1"));
    assert!(
        reason.starts_with("unknown label berth.frobnicate: remove it; known labels: enable, "),
        "{reason}"
    );
    assert!(reason.ends_with(&KNOWN.join(", ")), "{reason}");
}

#[test]
fn labels_outside_the_prefix_are_not_ours() {
    let a = accepted(
        container()
            .label("berthx.wieght", "1")
            .label("berth", "x")
            .label("traefik.enable", "true"),
    );
    assert_eq!(a.endpoint.weight, 1);
}

// ---- prefix ----

#[test]
fn the_prefix_is_configurable() {
    let mut e = env();
    e.prefix = "lb".into();
    let c = container()
        .without("berth.enable")
        .label("lb.enable", "true")
        .label("lb.weight", "7")
        .label("berth.weight", "0");
    assert_eq!(e.accepted(c).endpoint.weight, 7);
    // `berth.enable` means nothing under another prefix.
    assert_eq!(e.eval(&container()), Verdict::Ignored);
    let c = container()
        .label("lb.enable", "true")
        .label("lb.wieght", "2");
    assert_eq!(
        e.rejected(c),
        "unknown label lb.wieght (did you mean lb.weight?)"
    );
}

#[test]
fn a_dotted_prefix_is_tolerated() {
    let mut e = env();
    e.prefix = "com.example.lb.".into();
    let c = container()
        .without("berth.enable")
        .label("com.example.lb.enable", "true")
        .label("com.example.lb.network", "app");
    assert_eq!(e.accepted(c).network_reason, "label com.example.lb.network");
}

// ---- service ----

#[test]
fn service_from_label() {
    assert_eq!(
        &*service(container().label("berth.service", "api-v2")).name,
        "api-v2"
    );
}

#[test]
fn service_falls_back_to_compose_then_container_name() {
    let c = container().label(COMPOSE_SERVICE, "api");
    assert_eq!(&*service(c).name, "api");
    let c = container()
        .label(COMPOSE_SERVICE, "api")
        .label("berth.service", "front");
    assert_eq!(&*service(c).name, "front");
    let c = container().label(COMPOSE_SERVICE, "  ").name("/solo");
    assert_eq!(&*service(c).name, "solo");
}

#[test]
fn service_names_are_checked() {
    let reason = rejected(container().label("berth.service", "a b"));
    assert!(
        reason.starts_with("label berth.service=a b: invalid service name `a b`: use letters"),
        "{reason}"
    );
    let reason = rejected(container().label(COMPOSE_SERVICE, "x/y"));
    assert!(
        reason.starts_with(
            "service name from label com.docker.compose.service: invalid service name `x/y`"
        ),
        "{reason}"
    );
    assert!(
        reason.ends_with("; set berth.service to a valid name"),
        "{reason}"
    );
    let reason = rejected(container().name(""));
    assert!(
        reason.starts_with("service name from the container name: "),
        "{reason}"
    );
}

// ---- port ----

#[test]
fn port_from_label_even_if_not_exposed() {
    let a = accepted(container().ports(&[80, 443]).label("berth.port", "8080"));
    assert_eq!(a.endpoint.key.addr.port(), 8080);
}

#[test]
fn port_defaults_to_the_sole_exposed_port() {
    let a = accepted(container().ports(&[3000]));
    assert_eq!(a.endpoint.key.addr.port(), 3000);
}

#[test]
fn port_without_label_needs_exactly_one_exposed() {
    assert_eq!(
        rejected(container().ports(&[])),
        "no label berth.port and the container exposes no TCP port: \
         set berth.port to the port the service listens on"
    );
    assert_eq!(
        rejected(container().ports(&[80, 443, 9000])),
        "no label berth.port and the container exposes several TCP ports (80, 443, 9000): \
         set berth.port to choose one"
    );
}

#[test]
fn port_label_must_be_a_port() {
    for bad in ["0", "65536", "http", "-1", "80/tcp"] {
        assert_eq!(
            rejected(container().label("berth.port", bad)),
            format!("label berth.port={bad}: expected a port 1..=65535")
        );
    }
    assert_eq!(
        accepted(container().label("berth.port", "65535"))
            .endpoint
            .key
            .addr
            .port(),
        65535
    );
}

// ---- weight ----

#[test]
fn weight_range() {
    assert_eq!(
        accepted(container().label("berth.weight", "1000"))
            .endpoint
            .weight,
        1000
    );
    assert_eq!(
        accepted(container().label("berth.weight", "1"))
            .endpoint
            .weight,
        1
    );
    for bad in ["0", "1001", "1.5", "heavy"] {
        assert_eq!(
            rejected(container().label("berth.weight", bad)),
            format!("label berth.weight={bad}: expected a whole number from 1 to 1000")
        );
    }
}

// ---- network ----

#[test]
fn network_label_chooses() {
    let c = container()
        .network("front", Some([10, 0, 0, 9]))
        .label("berth.network", "front");
    let a = accepted(c);
    assert_eq!(
        (a.network.as_str(), a.network_reason.as_str()),
        ("front", "label berth.network")
    );
    assert_eq!(a.endpoint.key.addr, "10.0.0.9:80".parse().unwrap());
}

#[test]
fn network_config_then_shared_with_berth() {
    let c = || container().network("front", Some([10, 0, 0, 9]));
    let mut e = env();
    e.network = Some("front".into());
    assert_eq!(e.accepted(c()).network_reason, "config docker.network");
    let mut e = env();
    e.own = BTreeSet::from(["app".to_owned()]);
    let a = e.accepted(c());
    assert_eq!(
        (a.network.as_str(), a.network_reason.as_str()),
        ("app", "shared with berth")
    );
}

#[test]
fn network_ambiguous_and_bad_label() {
    let c = || container().network("front", Some([10, 0, 0, 9]));
    assert_eq!(
        rejected(c()),
        "container is on networks app, front; set berth.network to choose"
    );
    assert_eq!(
        rejected(c().label("berth.network", "back")),
        "label berth.network=back: the container is not on network back; it is on app, front"
    );
    // An empty label is one problem, not two.
    assert_eq!(
        rejected(c().label("berth.network", " ")),
        "label berth.network is empty: give it a value or remove it"
    );
    let reason = rejected(container().network("app", None).network("host", None));
    assert!(
        reason.starts_with("the container has no IP on any network"),
        "{reason}"
    );
}

// ---- all problems at once ----

#[test]
fn every_problem_is_reported_in_one_reason() {
    let c = container()
        .ports(&[80, 443])
        .network("front", Some([10, 0, 0, 9]))
        .label("berth.weight", "0")
        .label("berth.wieght", "2")
        .label("berth.http.path", "api")
        .label("berth.balance", "x")
        .label("berth.health.rise", "0");
    let reason = rejected(c);
    let parts: Vec<&str> = reason.split("; ").collect();
    let starts = [
        "unknown label berth.wieght",
        "no label berth.port and the container exposes several TCP ports (80, 443)",
        "label berth.weight=0",
        "label berth.http.path=api",
        "label berth.balance=x",
        "label berth.health.rise=0",
        "berth.health.rise set without berth.health.interval",
        "container is on networks app, front",
    ];
    for want in starts {
        assert!(
            parts.iter().any(|p| p.starts_with(want)),
            "{want:?} missing in {reason}"
        );
    }
}

proptest! {
    /// Whatever the labels, evaluation returns a verdict (no panic), and an accepted
    /// container's values satisfy the documented ranges.
    #[test]
    fn never_panics(
        labels in proptest::collection::btree_map(
            prop::sample::select(KNOWN.to_vec()), ".{0,12}", 0..8),
        ports in proptest::collection::vec(any::<u16>(), 0..3),
    ) {
        let mut c = container().ports(&ports);
        for (k, v) in &labels {
            c = c.label(&format!("berth.{k}"), v);
        }
        if let Verdict::Accepted(a) = env().eval(&c) {
            prop_assert!((1..=1000).contains(&a.endpoint.weight));
            prop_assert!(a.endpoint.service.retries <= 5);
            prop_assert!(a.endpoint.service.path.starts_with('/'));
            prop_assert!(a.endpoint.key.addr.port() != 0);
        }
    }
}
