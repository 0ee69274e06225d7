//! Tests of [`evaluate`]: every label, its default, every rejection reason. This file holds
//! the fixture (a [`ContainerFacts`] builder and the config side); the tests are grouped by
//! what they cover: `container` (enable, unknown labels, prefix, service name, port, weight,
//! network, all problems at once), `service` (listener, `http.*`, `tcp.*`, balance, retries,
//! timeouts, drain), `health`, `hsts`, `policy` and `shape`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::*;

mod compress;
mod container;
mod health;
mod hsts;
mod policy;
mod service;
mod shape;

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
        subject: Default::default(),
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
    l4: Vec<(String, crate::config::Protocol)>,
}

fn env() -> Env {
    Env {
        prefix: "berth".into(),
        exposed_by_default: false,
        network: None,
        own: BTreeSet::new(),
        defaults: Defaults::default(),
        http: vec!["web".into(), "internal".into()],
        l4: vec![
            ("pg".into(), crate::config::Protocol::Tcp),
            ("tlsp".into(), crate::config::Protocol::TlsPassthrough),
        ],
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
            l4_listeners: &self.l4,
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
