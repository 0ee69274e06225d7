//! Arbitrary containers and config sides → `berth::discovery::docker::labels::evaluate`.
//!
//! Properties: never panics; the verdict is a pure function of its input (evaluating twice
//! gives the same one); a container with no `<prefix>.*` label is ignored unless
//! `exposed_by_default`; a rejection has a reason; an accepted container's endpoint is an
//! address of the chosen network with a port other than 0, keyed by the container's id,
//! with a weight in 1..=1000, and its service is one the rest of berth accepts: a valid
//! name, at most 5 retries, listeners among the configured ones, and (HTTP) hosts and path
//! the route table takes and a health-check path that is a valid request target.
//!
//! Input: a text of `key=value` label lines and `!` lines for the rest (see `read` and
//! fuzz/README.md), so unit-test label sets are corpus files as they are. `<prefix>.tls.ca`
//! names a file berth reads; its value is replaced by a path that does not exist, so the
//! fuzzer never reads the disk.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use berth::config::Protocol;
use berth::discovery::docker::facts::{exposed_tcp_ports, ContainerFacts, Subject};
use berth::discovery::docker::labels::{evaluate, LabelSettings, Verdict};
use berth::model::rules::check_name;
use berth::model::{Defaults, Layer};
use berth::state::route::RouteTableBuilder;
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Input {
    prefix: String,
    exposed_by_default: bool,
    network: Option<String>,
    own: BTreeSet<String>,
    http: Vec<String>,
    l4: Vec<(String, Protocol)>,
    facts: ContainerFacts,
}

/// Reads the text format (see fuzz/README.md): `key=value` label lines, and `!` lines that
/// change the config side and the container's other facts, which default to the unit tests'
/// fixture: prefix `berth`, http listeners `web` and `internal`, L4 listeners `pg` (tcp) and
/// `tlsp` (tls-passthrough), container `web-1` (id `c0ffee`) exposing 80, on network `app`
/// at 172.18.0.5.
fn read(data: &[u8]) -> Input {
    let text = String::from_utf8_lossy(data);
    let mut input = Input {
        prefix: "berth".into(),
        exposed_by_default: false,
        network: None,
        own: BTreeSet::new(),
        http: vec!["web".into(), "internal".into()],
        l4: vec![("pg".into(), Protocol::Tcp), ("tlsp".into(), Protocol::TlsPassthrough)],
        facts: ContainerFacts {
            id: "c0ffee".into(),
            name: "web-1".into(),
            labels: BTreeMap::new(),
            exposed_ports: vec![80],
            networks: BTreeMap::from([("app".into(), Some(IpAddr::from([172, 18, 0, 5])))]),
            has_healthcheck: false,
            subject: Subject::Container,
        },
    };
    let (mut http_set, mut l4_set, mut net_set) = (false, false, false);
    for line in text.split('\n') {
        let Some(directive) = line.strip_prefix('!') else {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            input.facts.labels.insert(key.to_owned(), value.to_owned());
            continue;
        };
        let (word, arg) = directive.split_once(' ').unwrap_or((directive, ""));
        let f = &mut input.facts;
        match word {
            "prefix" => input.prefix = arg.to_owned(),
            "exposed_by_default" => input.exposed_by_default = true,
            "network" => input.network = Some(arg.to_owned()),
            "own" => drop(input.own.insert(arg.to_owned())),
            "http" => {
                if !std::mem::replace(&mut http_set, true) {
                    input.http.clear();
                }
                if !arg.is_empty() {
                    input.http.push(arg.to_owned());
                }
            }
            "l4" => {
                if !std::mem::replace(&mut l4_set, true) {
                    input.l4.clear();
                }
                let (name, protocol) = arg.split_once(' ').unwrap_or((arg, "tcp"));
                let protocol = match protocol {
                    "tls-passthrough" => Protocol::TlsPassthrough,
                    "http" => Protocol::Http,
                    "https" => Protocol::Https,
                    _ => Protocol::Tcp,
                };
                if !name.is_empty() {
                    input.l4.push((name.to_owned(), protocol));
                }
            }
            "name" => f.name = arg.to_owned(),
            "id" => f.id = arg.to_owned(),
            // As the engine side fills them: TCP, sorted, deduplicated, never port 0.
            "ports" => f.exposed_ports = exposed_tcp_ports(arg.split(',')),
            "net" => {
                if !std::mem::replace(&mut net_set, true) {
                    f.networks.clear();
                }
                let (name, ip) = arg.split_once(' ').unwrap_or((arg, "-"));
                f.networks.insert(name.to_owned(), ip.parse().ok());
            }
            "healthcheck" => f.has_healthcheck = true,
            "swarm" => f.subject = Subject::SwarmTask,
            _ => {}
        }
    }
    // Never let a label make berth read a file.
    let trimmed = input.prefix.trim_end_matches('.').to_owned();
    for (key, value) in input.facts.labels.iter_mut() {
        let suffix = key.strip_prefix(trimmed.as_str()).and_then(|k| k.strip_prefix('.'));
        if suffix == Some("tls.ca") && !value.trim().is_empty() {
            *value = "/nonexistent/berth-fuzz/ca.pem".to_owned();
        }
        if suffix == Some("auth.basic.users_file") && !value.trim().is_empty() {
            *value = "/nonexistent/berth-fuzz/htpasswd".to_owned();
        }
    }
    input
}

fuzz_target!(|data: &[u8]| {
    let input = read(data);
    let defaults = Defaults::default();
    let settings = LabelSettings {
        prefix: &input.prefix,
        exposed_by_default: input.exposed_by_default,
        network: input.network.as_deref(),
        own_networks: &input.own,
        defaults: &defaults,
        http_listeners: &input.http,
        l4_listeners: &input.l4,
    };
    let facts = &input.facts;
    let verdict = evaluate(facts, &settings);
    assert_eq!(verdict, evaluate(facts, &settings), "not deterministic");

    let trimmed = input.prefix.trim_end_matches('.');
    let under_prefix = facts
        .labels
        .keys()
        .any(|k| k.strip_prefix(trimmed).is_some_and(|r| r.starts_with('.')));
    if !under_prefix && !input.exposed_by_default {
        assert_eq!(verdict, Verdict::Ignored, "no label under the prefix");
    }
    match verdict {
        Verdict::Ignored => {}
        Verdict::Rejected(r) => assert!(!r.reason.trim().is_empty(), "empty reason"),
        Verdict::Accepted(a) => {
            let e = &a.endpoint;
            assert_ne!(e.key.addr.port(), 0, "port 0 accepted");
            assert_eq!(&*e.key.source, facts.id.as_str());
            assert!((1..=1000).contains(&e.weight), "weight {}", e.weight);
            assert_eq!(
                facts.networks.get(&a.network).copied().flatten(),
                Some(e.key.addr.ip()),
                "the address is not the container's on network {:?}",
                a.network
            );
            assert!(!a.network_reason.is_empty());
            assert_eq!(a.has_healthcheck, facts.has_healthcheck);
            let s = &e.service;
            assert_eq!(check_name("service", &s.name), None, "service name {:?}", s.name);
            assert!(s.retries <= 5, "retries {}", s.retries);
            match s.layer {
                Layer::Http => {
                    for l in &s.listeners {
                        assert!(input.http.contains(l), "listener {l:?} is not an http one");
                    }
                    let mut routes = RouteTableBuilder::new();
                    if let Err(err) = routes.add(&s.hosts, &s.path, ()) {
                        panic!("labels accepted a route the table refuses: {err} ({:?} {:?})", s.hosts, s.path);
                    }
                }
                Layer::Tcp => {
                    for l in &s.listeners {
                        let known = input.l4.iter().any(|(n, p)| n == l && p.is_l4());
                        assert!(known, "listener {l:?} is not an L4 one");
                    }
                }
            }
            for check in [&a.health, &s.health].into_iter().flatten() {
                if let Some(path) = check.path.as_ref() {
                    assert!(
                        http::uri::PathAndQuery::try_from(path.as_str()).is_ok()
                            && http::Request::get(path.as_str()).body(()).is_ok(),
                        "health path {path:?} is not a request target"
                    );
                }
            }
        }
    }
});
