//! Endpoints grouped into services for a snapshot build (control plane).
//!
//! Services come in first-listed order, so the oldest claims a contested route; each takes
//! the settings of its most recently upserted endpoint, and its endpoints are in key order.
//! Endpoints whose layer (HTTP or L4) disagrees with those settings are left out, each with a
//! warning for the service.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::Desired;
use crate::endpoint::Endpoint;
use crate::model::{EndpointKey, Layer, ProviderId, ServiceSpec};

/// One service's endpoints, as grouped for a snapshot.
pub(super) struct Grouped {
    /// The settings of its most recently upserted endpoint.
    pub spec: Arc<ServiceSpec>,
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Endpoints left out because they disagree on the layer (HTTP vs L4).
    pub warnings: Vec<String>,
}

/// A service's endpoints while they are collected.
struct Group<'a> {
    /// The earliest `since` of its endpoints.
    first: u64,
    newest: &'a Desired,
    endpoints: Vec<(&'a EndpointKey, Arc<Endpoint>, Layer)>,
}

/// Every live endpoint of the providers' views, grouped by service name.
pub(super) fn services(
    views: &BTreeMap<ProviderId, HashMap<EndpointKey, Desired>>,
    live: &HashMap<EndpointKey, Arc<Endpoint>>,
) -> Vec<Grouped> {
    let mut groups: HashMap<&str, Group<'_>> = HashMap::new();
    for (key, desired) in views.values().flat_map(|v| v.iter()) {
        let Some(endpoint) = live.get(key) else {
            continue;
        };
        let group = groups.entry(&desired.spec.service.name).or_insert(Group {
            first: desired.since,
            newest: desired,
            endpoints: Vec::new(),
        });
        group.first = group.first.min(desired.since);
        if desired.seq > group.newest.seq {
            group.newest = desired;
        }
        let layer = desired.spec.service.layer;
        group.endpoints.push((key, Arc::clone(endpoint), layer));
    }
    let mut groups: Vec<Group<'_>> = groups.into_values().collect();
    groups.sort_by_key(|g| g.first);
    groups.into_iter().map(finish).collect()
}

/// The group's endpoints in key order, those of the other layer left out with a warning.
fn finish(mut g: Group<'_>) -> Grouped {
    g.endpoints.sort_by(|a, b| a.0.cmp(b.0));
    let spec = Arc::clone(&g.newest.spec.service);
    let (endpoints, others): (Vec<_>, Vec<_>) = g
        .endpoints
        .into_iter()
        .partition(|(_, _, l)| *l == spec.layer);
    let warnings = others
        .iter()
        .map(|(_, e, l)| {
            format!(
                "endpoint {} left out: it is {} and the service's newest endpoint makes it \
                 {}; give one of them another service name",
                e.label(),
                layer_name(*l),
                layer_name(spec.layer)
            )
        })
        .collect();
    Grouped {
        spec,
        endpoints: endpoints.into_iter().map(|(_, e, _)| e).collect(),
        warnings,
    }
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Http => "an HTTP endpoint",
        Layer::Tcp => "an L4 (tcp) endpoint",
    }
}
