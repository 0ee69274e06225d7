//! What the Docker provider knows about one container (control plane, plain data).
//!
//! The engine-facing side fills a [`ContainerFacts`] from `docker inspect`; everything that
//! decides about routing ([`super::labels`], [`super::network`]) reads only this struct, so
//! those decisions are pure functions of it and testable without an engine.
//! Invariant: nothing here talks to Docker or panics on any input.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One container's routing-relevant facts, as inspected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFacts {
    /// Full container id; becomes the endpoint's `source`.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// TCP ports from `Config.ExposedPorts` (`"80/tcp"`), sorted and deduplicated
    /// (see [`exposed_tcp_ports`]).
    pub exposed_ports: Vec<u16>,
    /// Network name → the container's IP on it (`None`: no IP there, e.g. `host` or `none`).
    pub networks: BTreeMap<String, Option<IpAddr>>,
    /// The image or container defines a `HEALTHCHECK` (so Docker reports health).
    pub has_healthcheck: bool,
    /// What these facts describe, as problems name it.
    pub subject: Subject,
}

/// A container, or a Swarm service's task standing in for one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subject {
    /// `exposed_ports` are its image's and its own `EXPOSE`d ports.
    #[default]
    Container,
    /// `exposed_ports` are the service's published target ports (the engine does not
    /// report a task's exposed ports).
    SwarmTask,
}

impl Subject {
    /// How a problem says where the ports were looked for.
    pub fn ports_source(self) -> &'static str {
        match self {
            Subject::Container => "the container exposes",
            Subject::SwarmTask => "the service publishes",
        }
    }
}

/// The TCP ports among `Config.ExposedPorts` keys (`"80/tcp"`, `"53/udp"`, `"8080"`), sorted
/// and deduplicated. A key without a protocol is TCP (Docker's default); keys that do not
/// parse, port 0 and port ranges are skipped.
pub fn exposed_tcp_ports<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<u16> {
    let mut ports: Vec<u16> = keys
        .into_iter()
        .filter_map(|key| {
            let (port, proto) = key.trim().split_once('/').unwrap_or((key.trim(), "tcp"));
            let tcp = proto.eq_ignore_ascii_case("tcp");
            port.parse::<u16>().ok().filter(|p| tcp && *p != 0)
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// A container name as berth shows it: Docker's `/name` without the leading `/`.
pub fn container_name(raw: &str) -> &str {
    raw.strip_prefix('/').unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tcp_ports_sorted_and_deduplicated() {
        let keys = ["8080/tcp", "53/udp", "80/tcp", "80", "443/TCP", "80/tcp"];
        assert_eq!(exposed_tcp_ports(keys), vec![80, 443, 8080]);
    }

    #[test]
    fn bad_keys_are_skipped() {
        let keys = ["0/tcp", "x/tcp", "70000/tcp", "8000-8010/tcp", "", "9/sctp"];
        assert_eq!(exposed_tcp_ports(keys), Vec::<u16>::new());
    }

    #[test]
    fn names_lose_their_slash() {
        assert_eq!(container_name("/web-1"), "web-1");
        assert_eq!(container_name("web-1"), "web-1");
        assert_eq!(container_name(""), "");
    }
}
