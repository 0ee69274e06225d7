//! The listeners a reconciler builds route tables for (control plane).
//!
//! Fixed at start-up (listener changes take a restart), in config order: a snapshot's
//! `listeners[i]` is the data plane's listener `i`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, Protocol};

use crate::metrics as m;
use crate::model::Layer;
use crate::state::route::RouteTableBuilder;
use crate::state::snapshot::{ListenerRoutes, ServiceRoute, Snapshot};

/// The listeners the data plane was started with, in index order.
#[derive(Clone, Debug)]
pub struct ListenerSet(Vec<(Arc<str>, Protocol)>);

impl ListenerSet {
    pub fn from_config(config: &Config) -> Self {
        Self(
            config
                .listeners
                .values()
                .map(|l| (Arc::from(l.name.as_str()), l.protocol))
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of listener `index`.
    pub(super) fn name(&self, index: usize) -> &Arc<str> {
        &self.0[index].0
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|(n, _)| &**n == name)
    }

    /// Why listener `index` cannot serve a service of `layer`, if it cannot: requests go to
    /// `http`/`https` listeners, connections to `tcp`/`tls-passthrough` ones.
    pub(super) fn refuses(&self, index: usize, layer: Layer) -> Option<String> {
        let (name, protocol) = &self.0[index];
        match (layer, protocol.is_l4()) {
            (Layer::Http, true) => Some(format!(
                "listener `{name}` is a tcp/tls-passthrough listener: an HTTP service cannot \
                 be served there"
            )),
            (Layer::Tcp, false) => Some(format!(
                "listener `{name}` is an http/https listener: an L4 service cannot be served \
                 there"
            )),
            _ => None,
        }
    }

    /// Whether listener `index` is a `tcp` or `tls-passthrough` one.
    pub(super) fn is_l4(&self, index: usize) -> bool {
        self.0[index].1.is_l4()
    }

    pub(super) fn http_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| matches!(p, Protocol::Http | Protocol::Https))
            .map(|(i, _)| i)
    }
}

pub(super) fn empty_snapshot(listeners: &ListenerSet, config: &Config) -> Snapshot {
    let builders = (0..listeners.len())
        .map(|_| RouteTableBuilder::new())
        .collect();
    Snapshot {
        generation: 0,
        listeners: listener_routes(listeners, config, builders),
        services: Vec::new(),
        warnings: BTreeMap::new(),
        timeouts: config.defaults.timeouts.clone(),
        shutdown_grace: config.defaults.drain,
    }
}

pub(super) fn listener_routes(
    listeners: &ListenerSet,
    config: &Config,
    builders: Vec<RouteTableBuilder<Arc<ServiceRoute>>>,
) -> Vec<ListenerRoutes> {
    listeners
        .0
        .iter()
        .zip(builders)
        .map(|((name, protocol), builder)| ListenerRoutes {
            name: Arc::clone(name),
            trusted_ips: config
                .listeners
                .get(&**name)
                .map(|l| l.trusted_ips.clone())
                .unwrap_or_default(),
            routes: builder.build(),
            no_route: match protocol.is_l4() {
                true => m::tcp_outcome(name, "", "no_route"),
                false => metrics::counter!(m::REQUESTS_TOTAL, "listener" => name.to_string(), "service" => "", "code" => "404"),
            },
        })
        .collect()
}
