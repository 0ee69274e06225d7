//! Which of a container's networks berth sends to (control plane, pure).
//!
//! The rule (docs/ARCHITECTURE.md, "Labels"), first match wins:
//! 1. the network label (`berth.network`): it must be one of the container's networks and
//!    the container must have an IP there, else the container is rejected;
//! 2. the config's `docker.network`, if the container has an IP on it;
//! 3. a network berth's own container shares with it (alphabetically first if several, and
//!    the reason says so);
//! 4. the only network on which the container has an IP;
//! 5. otherwise rejected as ambiguous, naming the candidates — never a random pick.
//!
//! Invariants: deterministic (depends only on the inputs, never on map or set order beyond
//! their sorted iteration), never panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Everything besides the container's networks that the choice depends on.
#[derive(Clone, Copy, Debug)]
pub struct NetworkPolicy<'a> {
    /// The network label's value (trimmed), if the container has the label.
    pub label: Option<&'a str>,
    /// The network label's full key (`berth.network`), used in reasons.
    pub label_key: &'a str,
    /// The config's `docker.network`.
    pub config: Option<&'a str>,
    /// Networks berth's own container is on; empty when berth does not run in a container.
    pub own: &'a BTreeSet<String>,
}

/// The chosen network and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkChoice {
    pub name: String,
    pub ip: IpAddr,
    /// Short, human: `label berth.network`, `config docker.network`, `shared with berth`,
    /// `only network`.
    pub reason: String,
}

/// Why no network could be chosen; `Display` is the operator-facing reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The label names a network the container is not on.
    #[error("label {key}={network}: the container is not on network {network}; {}", on(.networks))]
    LabelNotJoined {
        key: String,
        network: String,
        /// Every network the container is on.
        networks: Vec<String>,
    },
    /// The label names a network on which the container has no IP.
    #[error("label {key}={network}: the container has no IP on network {network}; {}", with_ip(.candidates))]
    LabelNoIp {
        key: String,
        network: String,
        /// Networks on which the container has an IP.
        candidates: Vec<String>,
    },
    /// The container has an IP on no network (host or none networking).
    #[error("the container has no IP on any network ({}): attach it to a bridge or user-defined network", on(.networks))]
    NoAddress { networks: Vec<String> },
    /// Several candidates and nothing to choose between them.
    #[error("container is on networks {}; set {key} to choose", .candidates.join(", "))]
    Ambiguous {
        key: String,
        candidates: Vec<String>,
    },
}

fn on(networks: &[String]) -> String {
    if networks.is_empty() {
        "it is on no network".to_owned()
    } else {
        format!("it is on {}", networks.join(", "))
    }
}

fn with_ip(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "it has no IP on any network".to_owned()
    } else {
        format!("networks with an IP: {}", candidates.join(", "))
    }
}

/// Picks the network (and so the IP) to send to; see the module doc for the rule.
pub fn choose(
    networks: &BTreeMap<String, Option<IpAddr>>,
    policy: &NetworkPolicy<'_>,
) -> Result<NetworkChoice, NetworkError> {
    let with_ip: BTreeMap<&str, IpAddr> = networks
        .iter()
        .filter_map(|(name, ip)| ip.map(|ip| (name.as_str(), ip)))
        .collect();
    let pick = |name: &str, ip: IpAddr, reason: String| NetworkChoice {
        name: name.to_owned(),
        ip,
        reason,
    };
    if let Some(wanted) = policy.label {
        return labelled(networks, &with_ip, wanted, policy.label_key)
            .map(|ip| pick(wanted, ip, format!("label {}", policy.label_key)));
    }
    if let Some((name, ip)) = policy.config.and_then(|c| with_ip.get_key_value(c.trim())) {
        return Ok(pick(name, *ip, "config docker.network".to_owned()));
    }
    let shared: Vec<(&str, IpAddr)> = with_ip
        .iter()
        .filter(|(name, _)| policy.own.contains(**name))
        .map(|(name, ip)| (*name, *ip))
        .collect();
    if let Some(&(name, ip)) = shared.first() {
        let reason = match shared.len() {
            1 => "shared with berth".to_owned(),
            _ => format!(
                "shared with berth (first alphabetically of {})",
                shared
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Ok(pick(name, ip, reason));
    }
    let mut candidates = with_ip.iter();
    match (candidates.next(), candidates.next()) {
        (Some((name, ip)), None) => Ok(pick(name, *ip, "only network".to_owned())),
        (None, _) => Err(NetworkError::NoAddress {
            networks: networks.keys().cloned().collect(),
        }),
        (Some(_), Some(_)) => Err(NetworkError::Ambiguous {
            key: policy.label_key.to_owned(),
            candidates: names(&with_ip),
        }),
    }
}

/// The IP on the network the label names, or why it cannot be used.
fn labelled(
    networks: &BTreeMap<String, Option<IpAddr>>,
    with_ip: &BTreeMap<&str, IpAddr>,
    wanted: &str,
    key: &str,
) -> Result<IpAddr, NetworkError> {
    match networks.get(wanted) {
        Some(Some(ip)) => Ok(*ip),
        Some(None) => Err(NetworkError::LabelNoIp {
            key: key.to_owned(),
            network: wanted.to_owned(),
            candidates: names(with_ip),
        }),
        None => Err(NetworkError::LabelNotJoined {
            key: key.to_owned(),
            network: wanted.to_owned(),
            networks: networks.keys().cloned().collect(),
        }),
    }
}

fn names(with_ip: &BTreeMap<&str, IpAddr>) -> Vec<String> {
    with_ip.keys().map(|n| (*n).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "berth.network";

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([172, 18, 0, last])
    }

    /// Networks from `(name, Some(last octet) | None)`.
    fn nets(list: &[(&str, Option<u8>)]) -> BTreeMap<String, Option<IpAddr>> {
        list.iter()
            .map(|(n, last)| ((*n).to_owned(), last.map(ip)))
            .collect()
    }

    fn own(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    fn run(
        networks: &[(&str, Option<u8>)],
        label: Option<&str>,
        config: Option<&str>,
        berth: &[&str],
    ) -> Result<NetworkChoice, NetworkError> {
        let own = own(berth);
        let policy = NetworkPolicy {
            label,
            label_key: KEY,
            config,
            own: &own,
        };
        choose(&nets(networks), &policy)
    }

    fn chosen(r: Result<NetworkChoice, NetworkError>) -> (String, IpAddr, String) {
        let c = r.unwrap();
        (c.name, c.ip, c.reason)
    }

    #[test]
    fn label_wins_over_everything() {
        let r = run(
            &[("a", Some(1)), ("b", Some(2)), ("c", Some(3))],
            Some("c"),
            Some("a"),
            &["b"],
        );
        assert_eq!(chosen(r), ("c".into(), ip(3), "label berth.network".into()));
    }

    #[test]
    fn label_reason_uses_the_configured_key() {
        let own = own(&[]);
        let policy = NetworkPolicy {
            label: Some("a"),
            label_key: "my.network",
            config: None,
            own: &own,
        };
        let c = choose(&nets(&[("a", Some(1))]), &policy).unwrap();
        assert_eq!(c.reason, "label my.network");
    }

    #[test]
    fn label_naming_a_network_the_container_is_not_on() {
        let e = run(&[("a", Some(1)), ("b", None)], Some("x"), None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "label berth.network=x: the container is not on network x; it is on a, b"
        );
        let e = run(&[], Some("x"), None, &[]).unwrap_err();
        assert!(e.to_string().ends_with("it is on no network"), "{e}");
    }

    #[test]
    fn label_naming_a_network_without_ip() {
        let e = run(&[("host", None), ("a", Some(1))], Some("host"), None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "label berth.network=host: the container has no IP on network host; \
             networks with an IP: a"
        );
        let e = run(&[("host", None)], Some("host"), None, &[]).unwrap_err();
        assert!(
            e.to_string().ends_with("it has no IP on any network"),
            "{e}"
        );
    }

    #[test]
    fn label_does_not_fall_back() {
        // Even with a valid config network, a bad label is an error, not a silent fallback.
        let e = run(&[("a", Some(1))], Some("b"), Some("a"), &["a"]);
        assert!(matches!(e, Err(NetworkError::LabelNotJoined { .. })));
    }

    #[test]
    fn config_network_when_the_container_is_on_it() {
        let r = run(&[("a", Some(1)), ("b", Some(2))], None, Some("b"), &["a"]);
        assert_eq!(
            chosen(r),
            ("b".into(), ip(2), "config docker.network".into())
        );
    }

    #[test]
    fn config_network_not_joined_or_without_ip_falls_through() {
        let r = run(&[("a", Some(1)), ("b", Some(2))], None, Some("z"), &["a"]);
        assert_eq!(chosen(r).2, "shared with berth");
        let r = run(&[("a", Some(1)), ("z", None)], None, Some("z"), &[]);
        assert_eq!(chosen(r), ("a".into(), ip(1), "only network".into()));
    }

    #[test]
    fn shared_with_berth() {
        let r = run(
            &[("a", Some(1)), ("b", Some(2))],
            None,
            None,
            &["b", "other"],
        );
        assert_eq!(chosen(r), ("b".into(), ip(2), "shared with berth".into()));
    }

    #[test]
    fn several_shared_pick_alphabetically_and_say_so() {
        let r = run(
            &[("zeta", Some(1)), ("alpha", Some(2)), ("mid", Some(3))],
            None,
            None,
            &["zeta", "alpha"],
        );
        assert_eq!(
            chosen(r),
            (
                "alpha".into(),
                ip(2),
                "shared with berth (first alphabetically of alpha, zeta)".into()
            )
        );
    }

    #[test]
    fn shared_network_without_ip_does_not_count() {
        let r = run(&[("a", None), ("b", Some(2))], None, None, &["a"]);
        assert_eq!(chosen(r), ("b".into(), ip(2), "only network".into()));
    }

    #[test]
    fn only_network_with_an_ip() {
        let r = run(&[("bridge", Some(5))], None, None, &[]);
        assert_eq!(chosen(r), ("bridge".into(), ip(5), "only network".into()));
        let r = run(&[("none", None), ("bridge", Some(5))], None, None, &["x"]);
        assert_eq!(chosen(r).0, "bridge");
    }

    #[test]
    fn several_networks_and_no_rule_is_ambiguous() {
        let e = run(
            &[("b", Some(2)), ("a", Some(1)), ("n", None)],
            None,
            None,
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "container is on networks a, b; set berth.network to choose"
        );
        // Berth on other networks, config network absent: still ambiguous.
        let e = run(&[("a", Some(1)), ("b", Some(2))], None, Some("c"), &["c"]);
        assert!(matches!(e, Err(NetworkError::Ambiguous { .. })));
    }

    #[test]
    fn no_ip_anywhere() {
        let e = run(&[("host", None)], None, None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the container has no IP on any network (it is on host): \
             attach it to a bridge or user-defined network"
        );
        let e = run(&[], None, Some("a"), &["a"]).unwrap_err();
        assert!(e.to_string().contains("(it is on no network)"), "{e}");
    }

    #[test]
    fn ipv6_addresses_are_kept() {
        let v6: IpAddr = "fd00::5".parse().unwrap();
        let networks = BTreeMap::from([("v6".to_owned(), Some(v6))]);
        let own = BTreeSet::new();
        let policy = NetworkPolicy {
            label: None,
            label_key: KEY,
            config: None,
            own: &own,
        };
        assert_eq!(choose(&networks, &policy).unwrap().ip, v6);
    }
}
