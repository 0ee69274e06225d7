//! The vocabulary of berth: what a service, an endpoint and each of their settings is.
//!
//! This module imports nothing else of berth; every other layer imports it. The config file
//! and every provider (static services, Docker labels) produce these types directly, so a
//! setting is defined once: a field here, its YAML name (`config::raw`), its label name
//! (`discovery::docker::labels`) and its README line. Values are read by [`value`], the one
//! set of parsers the file and the labels share, and names, hosts and paths are checked by
//! [`rules`].
//!
//! Submodules: `service` (service and endpoint specs, keys, availability, [`Update`]),
//! `defaults` (what a service inherits, and the timeouts), `balance` (the balancing choice),
//! `health` (active check settings and their status), `resilience` (outlier detection, limits,
//! slow start, retry budget), `upstream` (protocol and TLS towards endpoints), `hsts`,
//! `shape` (header edits, CORS, body limit, rewrites, redirects), `proxy_protocol` (the
//! version sent), `compress` and `sticky` (response compression, sticky sessions), `certs`
//! (certificate files and their loading), `value`,
//! `rules`.

mod balance;
pub mod certs;
pub mod compress;
mod defaults;
pub mod file;
mod health;
pub mod hsts;
pub mod policy;
mod proxy_protocol;
mod resilience;
pub mod rules;
mod service;
pub mod shape;
pub mod sticky;
pub mod upstream;
pub mod value;

pub use balance::{Balance, BalanceError, HashOn};
pub use certs::CertificateFiles;
pub use defaults::{Defaults, MinRate, Timeouts, DEFAULT_TCP_IDLE};
pub use health::{
    default_timeout, HealthCheck, HealthStatus, DEFAULT_FALL, DEFAULT_RISE, DEFAULT_STATUS,
    DEFAULT_TIMEOUT_CAP,
};
pub use hsts::Hsts;
pub use proxy_protocol::{ProxyVersion, UnknownVersion};
pub use resilience::{BudgetSettings, Limits, Outlier, Resilience, DEFAULT_SLOW_START};
pub use service::{
    Availability, EndpointKey, EndpointSpec, Health, Layer, ProviderId, ServiceSpec, Update,
};
pub use upstream::{Upstream, UpstreamProtocol, UpstreamTls};
