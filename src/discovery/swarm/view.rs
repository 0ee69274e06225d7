//! What the Swarm provider last told the reconciler, and the updates a new reading needs
//! (control plane, pure).
//!
//! Each reading of a service (a targeted re-read after an event, or the periodic full read)
//! gives its complete list of [`Wanted`] endpoints; [`View::service`] compares it with what
//! was sent and returns only the differences: `Upsert` for a new or changed endpoint,
//! `Drain` once when a task starts draining, `Remove` when it is gone. A draining task never
//! comes back (Swarm replaces a task, it does not restart one), so a drain is final.

use std::collections::{HashMap, HashSet};

use super::judge::Wanted;
use crate::model::{EndpointKey, EndpointSpec, ProviderId, Update};

#[derive(Clone, Debug)]
struct Entry {
    service: String,
    spec: EndpointSpec,
    draining: bool,
}

/// The endpoints sent, by task id (or service id for a VIP).
#[derive(Debug, Default)]
pub struct View {
    entries: HashMap<String, Entry>,
}

impl View {
    /// Replaces what is known of `service` with `wanted` (its complete list).
    pub fn service(&mut self, service: &str, wanted: Vec<Wanted>) -> Vec<Update> {
        let mut updates = Vec::new();
        let listed: HashSet<&str> = wanted.iter().map(|w| w.id.as_str()).collect();
        let gone: Vec<String> = self
            .entries
            .iter()
            .filter(|(id, e)| e.service == service && !listed.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            updates.extend(self.forget(&id));
        }
        for w in wanted {
            updates.extend(self.want(service, w));
        }
        updates
    }

    /// Forgets every service not in `alive`.
    pub fn keep_services(&mut self, alive: &HashSet<&str>) -> Vec<Update> {
        let gone: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| !alive.contains(e.service.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        gone.iter().filter_map(|id| self.forget(id)).collect()
    }

    /// Drains one task now (its container is being stopped); `None` when not routed or
    /// already draining.
    pub fn drain(&mut self, task: &str) -> Option<Update> {
        let entry = self.entries.get_mut(task).filter(|e| !e.draining)?;
        entry.draining = true;
        Some(Update::Drain(entry.spec.key.clone()))
    }

    /// Every endpoint sent (for a `Reset`).
    pub fn endpoints(&self) -> Vec<EndpointSpec> {
        self.entries.values().map(|e| e.spec.clone()).collect()
    }

    /// How many endpoints were sent.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    fn forget(&mut self, id: &str) -> Option<Update> {
        self.entries.remove(id).map(|e| Update::Remove(e.spec.key))
    }

    fn want(&mut self, service: &str, w: Wanted) -> Vec<Update> {
        let upsert = |spec: EndpointSpec| Update::Upsert {
            provider: ProviderId::Swarm,
            endpoint: spec,
        };
        let Some(entry) = self.entries.get_mut(&w.id) else {
            // A task first seen draining was never routed: nothing to send.
            if !w.draining {
                let entry = Entry {
                    service: service.to_owned(),
                    spec: w.spec.clone(),
                    draining: false,
                };
                self.entries.insert(w.id, entry);
                return vec![upsert(w.spec)];
            }
            return Vec::new();
        };
        match (entry.draining, w.draining) {
            (true, _) => Vec::new(),
            (false, true) => {
                entry.draining = true;
                vec![Update::Drain(entry.spec.key.clone())]
            }
            (false, false) if entry.spec == w.spec => Vec::new(),
            (false, false) => {
                let old: EndpointKey = std::mem::replace(&mut entry.spec, w.spec.clone()).key;
                let mut updates = Vec::new();
                if old != w.spec.key {
                    updates.push(Update::Remove(old));
                }
                updates.push(upsert(w.spec));
                updates
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;
    use crate::model::{Availability, Defaults, Layer};

    fn wanted(id: &str, addr: &str, draining: bool) -> Wanted {
        let service = Defaults::default().service(Arc::from("web"), Layer::Http);
        Wanted {
            id: id.to_owned(),
            spec: EndpointSpec {
                key: EndpointKey {
                    source: Arc::from(id),
                    addr: addr.parse::<SocketAddr>().expect("an address"),
                },
                weight: 1,
                service: Arc::new(service),
                availability: Availability::default(),
                origin: Arc::from(id),
            },
            draining,
            since: None,
        }
    }

    fn kinds(updates: &[Update]) -> Vec<&'static str> {
        updates
            .iter()
            .map(|u| match u {
                Update::Upsert { .. } => "upsert",
                Update::Remove(_) => "remove",
                Update::Drain(_) => "drain",
                Update::Reset { .. } => "reset",
            })
            .collect()
    }

    #[test]
    fn only_changes_are_sent() {
        let mut view = View::default();
        let first = view.service("s", vec![wanted("t1", "10.0.1.2:80", false)]);
        assert_eq!(kinds(&first), ["upsert"]);
        let same = view.service("s", vec![wanted("t1", "10.0.1.2:80", false)]);
        assert!(same.is_empty(), "an unchanged reading sends nothing");
        let moved = view.service("s", vec![wanted("t1", "10.0.1.9:80", false)]);
        assert_eq!(
            kinds(&moved),
            ["remove", "upsert"],
            "a new address is a new key"
        );
    }

    #[test]
    fn a_task_drains_once_and_is_removed_when_gone() {
        let mut view = View::default();
        view.service("s", vec![wanted("t1", "10.0.1.2:80", false)]);
        let drain = view.service("s", vec![wanted("t1", "10.0.1.2:80", true)]);
        assert_eq!(kinds(&drain), ["drain"]);
        assert!(view
            .service("s", vec![wanted("t1", "10.0.1.2:80", true)])
            .is_empty());
        assert!(
            view.service("s", vec![wanted("t1", "10.0.1.2:80", false)])
                .is_empty(),
            "a drain is final"
        );
        assert_eq!(kinds(&view.service("s", Vec::new())), ["remove"]);
        assert_eq!(view.count(), 0);
    }

    #[test]
    fn a_task_first_seen_draining_is_never_routed() {
        let mut view = View::default();
        assert!(view
            .service("s", vec![wanted("t1", "10.0.1.2:80", true)])
            .is_empty());
        assert_eq!(view.count(), 0);
    }

    #[test]
    fn an_event_drain_is_not_repeated_by_the_next_reading() {
        let mut view = View::default();
        view.service("s", vec![wanted("t1", "10.0.1.2:80", false)]);
        assert!(matches!(view.drain("t1"), Some(Update::Drain(_))));
        assert!(view.drain("t1").is_none());
        assert!(view
            .service("s", vec![wanted("t1", "10.0.1.2:80", true)])
            .is_empty());
    }

    #[test]
    fn services_that_are_gone_lose_their_endpoints() {
        let mut view = View::default();
        view.service("a", vec![wanted("t1", "10.0.1.2:80", false)]);
        view.service("b", vec![wanted("t2", "10.0.1.3:80", false)]);
        let alive = HashSet::from(["a"]);
        assert_eq!(kinds(&view.keep_services(&alive)), ["remove"]);
        assert_eq!(view.count(), 1);
        assert_eq!(view.endpoints().len(), 1);
    }
}
