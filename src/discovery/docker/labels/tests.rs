//! Tests of [`evaluate`]: every label, its default, every rejection reason.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::balance::HashOn;
use crate::config::Timeouts;

const ID: &str = "c0ffee";

fn app_ip() -> IpAddr {
    IpAddr::from([172, 18, 0, 5])
}

/// A container builder: `web-1`, exposing 80/tcp, on network `app`, with `berth.enable=true`.
struct Container(ContainerFacts);

fn container() -> Container {
    Container(ContainerFacts {
        id: ID.into(),
        name: "web-1".into(),
        labels: BTreeMap::from([("berth.enable".into(), "true".into())]),
        exposed_ports: vec![80],
        networks: BTreeMap::from([("app".into(), Some(app_ip()))]),
        has_healthcheck: false,
    })
}

impl Container {
    fn label(mut self, key: &str, value: &str) -> Self {
        self.0.labels.insert(key.into(), value.into());
        self
    }
    fn without(mut self, key: &str) -> Self {
        self.0.labels.remove(key);
        self
    }
    fn ports(mut self, ports: &[u16]) -> Self {
        self.0.exposed_ports = ports.to_vec();
        self
    }
    fn network(mut self, name: &str, ip: Option<[u8; 4]>) -> Self {
        self.0.networks.insert(name.into(), ip.map(IpAddr::from));
        self
    }
    fn name(mut self, name: &str) -> Self {
        self.0.name = name.into();
        self
    }
    fn healthcheck(mut self) -> Self {
        self.0.has_healthcheck = true;
        self
    }
}

/// The config side.
struct Env {
    prefix: String,
    exposed_by_default: bool,
    network: Option<String>,
    own: BTreeSet<String>,
    defaults: Defaults,
    http: Vec<String>,
}

fn env() -> Env {
    Env {
        prefix: "berth".into(),
        exposed_by_default: false,
        network: None,
        own: BTreeSet::new(),
        defaults: Defaults {
            balance: Balance::LeastRequest,
            retries: 2,
            drain: Duration::from_secs(10),
            timeouts: Timeouts {
                connect: Duration::from_secs(2),
                request: Duration::from_secs(60),
                idle: Duration::from_secs(90),
                header_read: Duration::from_secs(10),
            },
        },
        http: vec!["web".into(), "internal".into()],
    }
}

impl Env {
    fn eval(&self, c: &Container) -> Verdict {
        let settings = LabelSettings {
            prefix: &self.prefix,
            exposed_by_default: self.exposed_by_default,
            network: self.network.as_deref(),
            own_networks: &self.own,
            defaults: &self.defaults,
            http_listeners: &self.http,
        };
        evaluate(&c.0, &settings)
    }
    fn accepted(&self, c: Container) -> Accepted {
        match self.eval(&c) {
            Verdict::Accepted(a) => a,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }
    fn rejected(&self, c: Container) -> String {
        match self.eval(&c) {
            Verdict::Rejected(r) => r.reason,
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
}

fn accepted(c: Container) -> Accepted {
    env().accepted(c)
}

fn rejected(c: Container) -> String {
    env().rejected(c)
}

fn service(c: Container) -> ServiceSpec {
    ServiceSpec::clone(&accepted(c).endpoint.service)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- the whole result, defaults ----

#[test]
fn minimal_container_gets_every_default() {
    let a = accepted(container());
    let want = ServiceSpec {
        name: "web-1".into(),
        listeners: vec![],
        hosts: vec![],
        path: "/".into(),
        strip_prefix: false,
        balance: Balance::LeastRequest,
        retries: 2,
        request_timeout: secs(60),
        drain: secs(10),
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
    assert!(reason.ends_with("timeout.request, drain"), "{reason}");
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
            format!("label berth.weight={bad}: expected an integer 1..=1000")
        );
    }
}

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
fn tcp_labels_are_not_supported_yet() {
    assert_eq!(
        rejected(
            container()
                .label("berth.tcp.listener", "pg")
                .label("berth.tcp.sni", "db.local")
        ),
        "label berth.tcp.listener: berth.tcp.* is not supported by this build yet; remove it; \
         label berth.tcp.sni: berth.tcp.* is not supported by this build yet; remove it"
    );
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
        "label berth.retries=6: expected an integer 0..=5"
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
        "label berth.drain=soon: expected a duration with a unit like 500ms, 30s, 2m"
    );
}

// ---- health.* ----

fn health(c: Container) -> HealthLabels {
    accepted(c).health.expect("a health check")
}

#[test]
fn health_interval_alone_is_a_tcp_check_with_defaults() {
    let h = health(container().label("berth.health.interval", "10s"));
    assert_eq!(
        h,
        HealthLabels {
            path: None,
            interval: secs(10),
            timeout: DEFAULT_TIMEOUT_CAP,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            status: DEFAULT_STATUS,
        }
    );
    let h = health(container().label("berth.health.interval", "1s"));
    assert_eq!(
        h.timeout,
        secs(1),
        "default timeout is capped by the interval"
    );
}

#[test]
fn health_every_label() {
    let h = health(
        container()
            .label("berth.health.path", "/healthz?full=1")
            .label("berth.health.interval", "5s")
            .label("berth.health.timeout", "500ms")
            .label("berth.health.rise", "1")
            .label("berth.health.fall", "10")
            .label("berth.health.status", "200-204"),
    );
    assert_eq!(h.path.as_deref(), Some("/healthz?full=1"));
    assert_eq!(
        (h.interval, h.timeout),
        (secs(5), Duration::from_millis(500))
    );
    assert_eq!((h.rise, h.fall, h.status), (1, 10, (200, 204)));
    let h = health(
        container()
            .label("berth.health.path", "/")
            .label("berth.health.interval", "5s")
            .label("berth.health.status", "204"),
    );
    assert_eq!(h.status, (204, 204));
}

#[test]
fn health_needs_an_interval() {
    assert_eq!(
        rejected(
            container()
                .label("berth.health.path", "/healthz")
                .label("berth.health.rise", "2")
        ),
        "berth.health.path, berth.health.rise set without berth.health.interval: \
         add berth.health.interval (like 10s) to enable the check, or remove them"
    );
}

#[test]
fn health_status_needs_a_path() {
    let reason = rejected(
        container()
            .label("berth.health.interval", "5s")
            .label("berth.health.status", "200"),
    );
    assert_eq!(
        reason,
        "label berth.health.status needs berth.health.path: \
         without a path the check is a TCP connect, which has no status"
    );
}

#[test]
fn health_timeout_within_interval() {
    assert_eq!(
        rejected(
            container()
                .label("berth.health.interval", "1s")
                .label("berth.health.timeout", "2s")
        ),
        "label berth.health.timeout=2s: longer than berth.health.interval=1s; \
         a check must end before the next one starts"
    );
}

#[test]
fn health_bad_values() {
    let with = |k: &str, v: &str| {
        rejected(
            container()
                .label("berth.health.interval", "5s")
                .label("berth.health.path", "/h")
                .label(k, v),
        )
    };
    assert_eq!(
        with("berth.health.rise", "0"),
        "label berth.health.rise=0: expected an integer 1 or more"
    );
    assert_eq!(
        with("berth.health.fall", "x"),
        "label berth.health.fall=x: expected an integer 1 or more"
    );
    for bad in ["399-200", "600", "99", "ok", "200-", "2xx"] {
        assert_eq!(
            with("berth.health.status", bad),
            format!(
                "label berth.health.status={bad}: expected a status like 200 or a range \
                 like 200-399, within 100..=599"
            )
        );
    }
    assert!(with("berth.health.interval", "0s").contains("must be longer than 0"));
    assert!(with("berth.health.interval", "10").contains("a unit is required"));
    assert!(with("berth.health.timeout", "0ms").contains("must be longer than 0"));
    assert!(with("berth.health.path", "healthz").starts_with("label berth.health.path=healthz: "));
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
