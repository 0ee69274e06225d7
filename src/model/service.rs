//! Services and endpoints (vocabulary): what every provider tells the reconciler.
//!
//! Every provider — the config file's static services, the Docker engine — speaks the same
//! language to the reconciler: a stream of [`Update`]s about endpoints, each carrying the
//! service-level settings of its service ([`ServiceSpec`]), exactly as a container carries
//! its labels.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::policy::Policies;
use super::shape::Shape;
use super::{Balance, HealthCheck, Hsts, ProxyVersion, Resilience, Upstream};

/// What a service proxies: HTTP requests, or whole TCP connections (L4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layer {
    /// Requests, routed by host and path on `http`/`https` listeners.
    #[default]
    Http,
    /// Connections, on `tcp` listeners (one service each) or `tls-passthrough` ones (by SNI).
    Tcp,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
        }
    }
}

/// Identity of an endpoint: who declared it (container id, `static:<service>`) and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointKey {
    /// Provider-scoped identity, e.g. a container id or `static:legacy`.
    pub source: Arc<str>,
    /// Address requests are sent to.
    pub addr: SocketAddr,
}

/// Which provider an update comes from; a [`Update::Reset`] replaces only that provider's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    File,
    Docker,
    Swarm,
}

/// Service-level settings, shared by every endpoint of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub name: Arc<str>,
    /// Requests (`Http`) or connections (`Tcp`, on `tcp`/`tls-passthrough` listeners).
    pub layer: Layer,
    /// Listener names; empty means every `http`/`https` listener.
    pub listeners: Vec<String>,
    /// Host patterns; empty means any host. On a `tls-passthrough` listener, the TLS SNI
    /// names.
    pub hosts: Vec<String>,
    pub path: String,
    pub strip_prefix: bool,
    /// `Strict-Transport-Security` added on https listeners; `None`: not sent.
    pub hsts: Option<Hsts>,
    pub balance: Balance,
    pub retries: u8,
    pub request_timeout: Duration,
    pub drain: Duration,
    /// The active health check of every endpoint of the service; `None`: none.
    pub health: Option<HealthCheck>,
    /// Outlier detection, circuit breaking and slow start.
    pub resilience: Resilience,
    /// The protocol spoken to the endpoints.
    pub upstream: Upstream,
    /// The PROXY protocol header sent first on every connection (L4 services only).
    pub proxy_protocol: Option<ProxyVersion>,
    /// L4 services: a connection idle this long is closed.
    pub tcp_idle: Duration,
    /// A discovered service whose last endpoint is gone keeps its route this long, answering
    /// 503 with `Retry-After` (a redeploy is not a removal); zero: the route goes at once.
    pub keep_route: Duration,
    /// Its hosts get certificates by ACME on `https` listeners (label `tls.acme`, YAML
    /// `tls: { acme: true }`); listeners with `acme: all` request every host regardless.
    pub acme: bool,
    /// Who may pass (`allow`, ...): checked before a request is proxied.
    pub policies: Policies,
    /// Header edits, CORS, body limit, rewrites and redirects (`model::shape`).
    pub shape: Shape,
    /// Response compression; `None`: responses pass as they are.
    pub compress: Option<super::compress::Compress>,
    /// Sticky sessions by cookie; `None`: the balancer picks every request.
    pub sticky: Option<super::sticky::Sticky>,
}

/// A container's own health check state, as the engine reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// No health check: routable while running.
    #[default]
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// What a provider knows of an endpoint's availability besides its existence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Availability {
    pub health: Health,
    pub paused: bool,
}

/// One endpoint as a provider sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSpec {
    pub key: EndpointKey,
    pub weight: u32,
    pub service: Arc<ServiceSpec>,
    pub availability: Availability,
    /// Where it comes from, for the admin API (`static service legacy`,
    /// `container web-1 on network front (shared with berth)`).
    pub origin: Arc<str>,
}

/// What a provider tells the reconciler.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// The provider's complete current view: endpoints it no longer lists are removed.
    Reset {
        provider: ProviderId,
        endpoints: Vec<EndpointSpec>,
    },
    /// Add an endpoint or change its settings.
    Upsert {
        provider: ProviderId,
        endpoint: EndpointSpec,
    },
    /// The endpoint is gone (its state is dropped at once: a later upsert of the same key,
    /// e.g. a restarted container, starts fresh).
    Remove(EndpointKey),
    /// No new picks for the endpoint; in-flight requests finish.
    Drain(EndpointKey),
}
