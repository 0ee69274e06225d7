//! Discovered services whose last endpoint is gone keep their route a while (control
//! plane).
//!
//! A redeploy (`docker compose down` then `up`, every container stopped and started) is not
//! a removal: clients and caches that get 404 treat the service as gone. So a service that
//! came from the Docker or Swarm provider and lost its last endpoint to a `Remove` (its
//! container or task stopped) stays in the snapshot, with no endpoints, for its
//! `keep_route` (503 with `Retry-After`, "no endpoints since …" in `/api/services`), then
//! goes. What a `Reset` drops goes at once — a static service removed from the file, a
//! container a reload no longer exposes, a disabled provider's: those are edits, not
//! redeploys.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::Desired;
use crate::model::{EndpointKey, ProviderId, ServiceSpec};

/// A service kept without endpoints.
#[derive(Debug)]
pub(super) struct Vacant {
    pub spec: Arc<ServiceSpec>,
    /// When its last endpoint went.
    pub since: SystemTime,
    until: Instant,
}

/// The vacant services, and the discovered ones of the last build.
#[derive(Debug, Default)]
pub(super) struct Vacancies {
    kept: BTreeMap<Arc<str>, Vacant>,
    discovered: HashMap<Arc<str>, Arc<ServiceSpec>>,
    /// Services that lost an endpoint to a `Remove` since the last build.
    removed: HashSet<Arc<str>>,
}

impl Vacancies {
    /// A `Remove` took an endpoint of `service`.
    pub fn removed(&mut self, service: &Arc<str>) {
        self.removed.insert(Arc::clone(service));
    }

    /// Before a build: services discovered last time, missing from `present` (the names
    /// this build has endpoints for) and emptied by a `Remove` become vacant; present or
    /// expired ones stop being.
    pub fn track(
        &mut self,
        views: &BTreeMap<ProviderId, HashMap<EndpointKey, Desired>>,
        present: &HashSet<&str>,
        now: (Instant, SystemTime),
    ) {
        let discovered = discovered(views);
        for (name, spec) in self.discovered.drain() {
            let gone = !present.contains(&*name)
                && !self.kept.contains_key(&name)
                && self.removed.contains(&name);
            if gone && !spec.keep_route.is_zero() {
                let until = now.0 + spec.keep_route;
                let vacant = Vacant {
                    spec,
                    since: now.1,
                    until,
                };
                self.kept.insert(name, vacant);
            }
        }
        self.kept
            .retain(|name, v| !present.contains(&**name) && v.until > now.0);
        self.discovered = discovered;
        self.removed.clear();
    }

    /// The services kept, by name.
    pub fn kept(&self) -> impl Iterator<Item = &Vacant> {
        self.kept.values()
    }

    /// True when a kept service's time is up (a rebuild drops it).
    pub fn expired(&self, now: Instant) -> bool {
        self.kept.values().any(|v| v.until <= now)
    }
}

/// Services with an endpoint from the Docker or Swarm provider, by name.
fn discovered(
    views: &BTreeMap<ProviderId, HashMap<EndpointKey, Desired>>,
) -> HashMap<Arc<str>, Arc<ServiceSpec>> {
    views
        .iter()
        .filter(|(provider, _)| **provider != ProviderId::File)
        .flat_map(|(_, view)| view.values())
        .map(|d| {
            (
                Arc::clone(&d.spec.service.name),
                Arc::clone(&d.spec.service),
            )
        })
        .collect()
}
