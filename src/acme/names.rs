//! Which names get ACME certificates (pure): the `acme.names` of the config, and the hosts
//! of HTTP services routed on an `https` listener whose service opts in (`tls.acme`) or whose
//! listener orders for every host (`acme: all`).
//!
//! A host that cannot be ordered (a wildcard, an IP, a single label) is not wanted but kept
//! with its reason, so the admin API and `berth check` ([`summary`]) say why it will not get
//! one.

use std::collections::BTreeMap;

use crate::config::{AcmeScope, Config, Protocol};
use crate::model::rules::acme_name;
use crate::model::{Layer, ServiceSpec};

/// Where a wanted name comes from (for the admin API and `berth check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Listed in `acme.names`.
    Config,
    /// A host of this service.
    Service(String),
}

/// The names to hold certificates for, and the hosts refused with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub names: BTreeMap<String, Source>,
    pub refused: BTreeMap<String, String>,
}

/// The names `config` asks for with `services` routed (static and discovered alike).
pub fn wanted<'a>(config: &Config, services: impl IntoIterator<Item = &'a ServiceSpec>) -> Wanted {
    let mut out = Wanted::default();
    let Some(acme) = &config.acme else {
        return out;
    };
    for name in &acme.names {
        out.names.insert(name.clone(), Source::Config);
    }
    for spec in services {
        if !opted_in(config, spec) {
            continue;
        }
        for host in &spec.hosts {
            match acme_name(host) {
                Ok(name) => {
                    out.names
                        .entry(name)
                        .or_insert_with(|| Source::Service(spec.name.to_string()));
                }
                Err(why) => {
                    out.refused.insert(host.clone(), why);
                }
            }
        }
    }
    out
}

/// An HTTP service routed on an `https` listener that orders for it.
fn opted_in(config: &Config, spec: &ServiceSpec) -> bool {
    spec.layer == Layer::Http
        && config.listeners.values().any(|l| {
            l.protocol == Protocol::Https
                && (spec.listeners.is_empty() || spec.listeners.contains(&l.name))
                && (spec.acme || l.acme == AcmeScope::All)
        })
}

/// `berth check`'s ACME lines: the CA, the challenge, the storage, and the names that will
/// be ordered from the file alone (containers add theirs as they start); empty without an
/// `acme:` section.
pub fn summary(config: &Config) -> String {
    let Some(a) = &config.acme else {
        return String::new();
    };
    let wanted = wanted(config, config.services.values().map(|s| &*s.spec));
    let mut out = format!(
        "acme: {} (challenge {}), storage {}\n",
        a.directory,
        a.challenge.as_str(),
        a.storage.display()
    );
    for (name, source) in &wanted.names {
        let from = match source {
            Source::Config => "acme.names".to_owned(),
            Source::Service(s) => format!("service {s}"),
        };
        out.push_str(&format!("  orders {name} (from {from})\n"));
    }
    for (host, why) in &wanted.refused {
        out.push_str(&format!("  not ordered {host}: {why}\n"));
    }
    out.push_str(
        "  plus the hosts of containers labelled tls.acme=true (or routed on an `acme: all` \
         listener), as they start\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Defaults;
    use std::sync::Arc;

    fn config(scope: &str) -> Config {
        let yaml = format!(
            "acme: {{ agree_tos: true, names: [extra.example.com] }}\n\
             listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n  \
             secure: {{ address: \"127.0.0.1:0\", protocol: https, acme: {scope} }}\n"
        );
        crate::config::parse(&yaml, "t.yaml").expect("valid")
    }

    fn spec(name: &str, hosts: &[&str], acme: bool, listeners: &[&str]) -> ServiceSpec {
        let mut s = Defaults::default().service(Arc::from(name), Layer::Http);
        s.hosts = hosts.iter().map(|h| h.to_string()).collect();
        s.acme = acme;
        s.listeners = listeners.iter().map(|l| l.to_string()).collect();
        s
    }

    #[test]
    fn labelled_services_and_config_names() {
        let services = [
            spec("a", &["a.example.com", "*.w.example.com"], true, &[]),
            spec("b", &["b.example.com"], false, &[]),
            spec("c", &["c.example.com"], true, &["web"]),
        ];
        let w = wanted(&config("labelled"), &services);
        let names: Vec<&str> = w.names.keys().map(String::as_str).collect();
        assert_eq!(names, ["a.example.com", "extra.example.com"]);
        assert_eq!(w.names["a.example.com"], Source::Service("a".into()));
        assert!(w.refused["*.w.example.com"].contains("DNS-01"));
    }

    #[test]
    fn listener_all_takes_every_host_routed_on_it() {
        let services = [
            spec("b", &["b.example.com"], false, &[]),
            spec("c", &["c.example.com"], false, &["web"]),
        ];
        let w = wanted(&config("all"), &services);
        assert!(w.names.contains_key("b.example.com"));
        assert!(!w.names.contains_key("c.example.com"), "only on http");
    }
}
