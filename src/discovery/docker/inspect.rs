//! From the engine's `docker inspect` document to berth's view of a container (control plane).
//!
//! Pure conversions, no I/O: [`Inspected`] holds the [`ContainerFacts`] the label rules read,
//! plus the lifecycle state the provider needs (running, paused, health, stop signal).
//! Missing fields in the document mean "absent", never an error. A resync reads most
//! containers from the engine's list instead (`super::summary`), into the same struct.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::UNIX_EPOCH;

use bollard::models::{ContainerInspectResponse, EndpointSettings, HealthStatusEnum};

use crate::discovery::docker::facts::{container_name, exposed_tcp_ports, ContainerFacts};
use crate::model::{Availability, Health};

/// One inspected container.
#[derive(Clone, Debug)]
pub struct Inspected {
    pub facts: ContainerFacts,
    pub running: bool,
    pub availability: Availability,
    /// The container's `StopSignal` (e.g. `SIGQUIT`).
    pub stop_signal: StopSignal,
    /// When it was created, in whole Unix seconds (as the engine's list gives it); `None` when
    /// absent or unreadable.
    pub created: Option<u64>,
}

/// A container's `StopSignal`, as far as berth has read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StopSignal {
    /// Not read: the container came from the engine's list, which does not carry it.
    #[default]
    Unread,
    /// Read by an inspect: the signal it sets, or `None` for the default (TERM).
    Read(Option<String>),
}

impl Inspected {
    /// Reads what berth needs from an inspect document.
    pub fn from_response(doc: ContainerInspectResponse) -> Self {
        let state = doc.state.unwrap_or_default();
        let created = doc
            .created
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let config = doc.config.unwrap_or_default();
        let has_healthcheck = config
            .healthcheck
            .as_ref()
            .and_then(|h| h.test.as_ref())
            .is_some_and(|t| t.first().is_some_and(|c| c != "NONE"));
        let health = match state.health.and_then(|h| h.status) {
            _ if !has_healthcheck => Health::None,
            Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
            Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
            _ => Health::Starting,
        };
        let networks = addresses(doc.network_settings.and_then(|n| n.networks));
        Self {
            facts: ContainerFacts {
                id: doc.id.unwrap_or_default(),
                name: container_name(doc.name.as_deref().unwrap_or_default()).to_owned(),
                labels: config.labels.unwrap_or_default().into_iter().collect(),
                exposed_ports: exposed_tcp_ports(
                    config
                        .exposed_ports
                        .iter()
                        .flat_map(|m| m.keys())
                        .map(String::as_str),
                ),
                networks,
                has_healthcheck,
                subject: Default::default(),
            },
            running: state.running.unwrap_or(false) && !state.restarting.unwrap_or(false),
            availability: Availability {
                health,
                paused: state.paused.unwrap_or(false),
            },
            stop_signal: StopSignal::Read(config.stop_signal.filter(|s| !s.is_empty())),
            created,
        }
    }
}

/// True when `signal` (as the `kill` event reports it: a number or a name) stops the
/// process: TERM, INT, QUIT, KILL, or the container's own `StopSignal`.
pub fn is_stopping_signal(signal: &str, stop_signal: Option<&str>) -> bool {
    let normal = normalize_signal(signal);
    matches!(normal.as_str(), "TERM" | "INT" | "QUIT" | "KILL")
        || stop_signal.is_some_and(|s| normalize_signal(s) == normal)
}

/// `15`, `SIGTERM` and `term` all become `TERM`.
fn normalize_signal(signal: &str) -> String {
    let s = signal.trim().to_ascii_uppercase();
    let s = s.strip_prefix("SIG").unwrap_or(&s);
    let named = match s {
        "1" => "HUP",
        "2" => "INT",
        "3" => "QUIT",
        "9" => "KILL",
        "10" => "USR1",
        "12" => "USR2",
        "15" => "TERM",
        "28" => "WINCH",
        other => other,
    };
    named.to_owned()
}

/// Networks a container is attached to, by name (for berth's own container).
pub fn network_names(doc: &ContainerInspectResponse) -> BTreeSet<String> {
    doc.network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default()
}

/// Each network's name with the container's address on it (`None` when it has none yet), as
/// the engine's inspect and list answers both give them.
pub(super) fn addresses(
    networks: Option<HashMap<String, EndpointSettings>>,
) -> BTreeMap<String, Option<IpAddr>> {
    networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ep)| {
            let ip = ep.ip_address.and_then(|ip| ip.parse::<IpAddr>().ok());
            (name, ip)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerState, EndpointSettings, HealthConfig, NetworkSettings,
    };
    use std::collections::HashMap;

    fn doc(healthcheck: bool, status: Option<HealthStatusEnum>) -> ContainerInspectResponse {
        let mut networks = HashMap::new();
        networks.insert(
            "front".to_owned(),
            EndpointSettings {
                ip_address: Some("172.18.0.5".into()),
                ..Default::default()
            },
        );
        let mut exposed = HashMap::new();
        exposed.insert("8080/tcp".to_owned(), HashMap::new());
        exposed.insert("53/udp".to_owned(), HashMap::new());
        ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/web-1".into()),
            created: Some("2024-05-01T11:59:59.987654321Z".into()),
            state: Some(ContainerState {
                running: Some(true),
                started_at: Some("2024-05-01T12:00:00.123456789Z".into()),
                health: Some(bollard::models::Health {
                    status,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                exposed_ports: Some(exposed),
                healthcheck: healthcheck.then(|| HealthConfig {
                    test: Some(vec!["CMD".into(), "/probe".into()]),
                    ..Default::default()
                }),
                stop_signal: Some("SIGQUIT".into()),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(networks),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn reads_facts_and_state() {
        let i = Inspected::from_response(doc(true, Some(HealthStatusEnum::HEALTHY)));
        assert_eq!(i.facts.name, "web-1");
        assert_eq!(i.facts.exposed_ports, vec![8080]);
        assert_eq!(
            i.facts.networks["front"],
            Some("172.18.0.5".parse().expect("ip"))
        );
        assert!(i.running && i.facts.has_healthcheck);
        assert_eq!(i.availability.health, Health::Healthy);
        assert_eq!(i.stop_signal, StopSignal::Read(Some("SIGQUIT".into())));
        assert_eq!(i.created, Some(1_714_564_799), "Created, in whole seconds");
    }

    #[test]
    fn health_without_healthcheck_is_none_and_unknown_status_is_starting() {
        let none = Inspected::from_response(doc(false, Some(HealthStatusEnum::UNHEALTHY)));
        assert_eq!(none.availability.health, Health::None);
        let starting = Inspected::from_response(doc(true, None));
        assert_eq!(starting.availability.health, Health::Starting);
        let empty = Inspected::from_response(ContainerInspectResponse::default());
        assert!(!empty.running);
        assert_eq!(empty.created, None);
        assert_eq!(empty.stop_signal, StopSignal::Read(None));
    }

    #[test]
    fn stopping_signals() {
        for s in ["15", "SIGTERM", "term", "2", "9", "SIGKILL", "QUIT"] {
            assert!(is_stopping_signal(s, None), "{s}");
        }
        assert!(!is_stopping_signal("1", None), "HUP reloads");
        assert!(!is_stopping_signal("SIGUSR1", None));
        assert!(
            is_stopping_signal("10", Some("SIGUSR1")),
            "the container's StopSignal"
        );
    }
}
