//! The configuration file as written (control plane, parse time).
//!
//! These serde structs mirror the YAML exactly. Invariants: every struct denies unknown
//! fields; every section and almost every field is optional (`None` means "use the default",
//! filled in by `validate`); scalar values are already checked by the types of `scalar`, so
//! a value error carries the line and column the YAML parser saw. Cross-field rules (unknown
//! listener names, clashing addresses, ...) are `validate`'s job.

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::shape::raw as shape;

mod timeouts;

pub use timeouts::Timeouts;

pub use super::scalar::{
    Address, BalanceSpec, Count, LogLevel, Net, OneOrMany, Rate, Retries, Span, StatusRange,
    UniqueMap, Weight,
};

/// The whole file. A `null` section (`services:` with nothing under it) counts as absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listeners: Option<UniqueMap<Listener>>,
    pub admin: Option<Admin>,
    pub docker: Option<Docker>,
    pub swarm: Option<Swarm>,
    pub acme: Option<Acme>,
    pub connections: Option<Connections>,
    pub defaults: Option<Defaults>,
    pub services: Option<UniqueMap<Service>>,
    pub log: Option<Log>,
    pub workers: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub address: Address,
    pub protocol: Option<super::Protocol>,
    pub trusted_ips: Option<Vec<Net>>,
    /// Expect a PROXY protocol header (v1 or v2) from `trusted_ips` peers.
    pub proxy_protocol: Option<bool>,
    /// `https` listeners only.
    pub tls: Option<Tls>,
    /// `http` listeners only.
    pub redirect: Option<Redirect>,
    /// Open client connections at most, on this listener.
    pub max_connections: Option<Count>,
    /// `https` listeners only: which hosts get ACME certificates.
    pub acme: Option<super::AcmeScope>,
}

/// `acme:`: automatic HTTPS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    pub email: Option<String>,
    pub agree_tos: Option<bool>,
    pub directory: Option<String>,
    pub storage: Option<String>,
    /// PEM file of the CAs the ACME server's own certificate is checked against.
    pub ca: Option<String>,
    pub challenge: Option<super::Challenge>,
    pub names: Option<Vec<String>>,
    pub eab: Option<Eab>,
    /// Wait after the first failed order; doubles on each failure.
    pub backoff: Option<Span>,
}

/// `acme.eab`: external account binding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eab {
    pub kid: String,
    pub hmac_key: String,
}

/// An `https` listener's `tls:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub certificates: Vec<Certificate>,
}

/// One certificate: PEM files, relative to the config file's directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub cert: String,
    /// Absent: the key is in the cert file (a combined PEM).
    pub key: Option<String>,
}

/// An `http` listener's `redirect:` to an `https` listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// The `https` listener's name.
    pub to: String,
    /// The port clients are sent to, when not the `https` listener's own (behind NAT).
    pub port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub address: Option<Address>,
    /// A file holding the bearer token of the admin API's mutating calls.
    pub token_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docker {
    pub enabled: Option<bool>,
    pub endpoint: Option<String>,
    pub exposed_by_default: Option<bool>,
    pub network: Option<String>,
    pub label_prefix: Option<String>,
}

/// `connections:`: limits over every listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    pub max: Option<Count>,
    pub per_client: Option<Count>,
}

/// `swarm:`: the engine fields of `docker:`, and how often everything is read again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swarm {
    pub enabled: Option<bool>,
    pub endpoint: Option<String>,
    pub exposed_by_default: Option<bool>,
    pub network: Option<String>,
    pub label_prefix: Option<String>,
    pub refresh: Option<Span>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub balance: Option<BalanceSpec>,
    pub retries: Option<Retries>,
    pub drain: Option<Span>,
    pub timeouts: Option<Timeouts>,
    pub health: Option<Health>,
    pub outlier: Option<Outlier>,
    pub retry_budget: Option<RetryBudget>,
    pub limits: Option<Limits>,
    pub slow_start: Option<Span>,
    pub keep_route: Option<Span>,
}

/// `limits:` (defaults or a service): circuit breaking.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_in_flight: Option<u32>,
    pub max_pending: Option<u32>,
}

/// `defaults.retry_budget`: retries as a share of requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    pub percent: Option<u32>,
    pub min_retries: Option<u32>,
    pub window: Option<Span>,
}

/// `outlier:` (defaults or a service): passive outlier detection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outlier {
    /// Failures in a row that eject; 0 turns detection off.
    pub consecutive_failures: Option<u32>,
    pub base_ejection: Option<Span>,
    pub max_ejection: Option<Span>,
    pub max_ejected_percent: Option<u32>,
    pub gateway_errors_only: Option<bool>,
}

/// An active health check (`defaults.health`, a service's `health:`); a service's fields
/// override the defaults' one by one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// HTTP path to `GET`; absent: a TCP connect check.
    pub path: Option<String>,
    pub interval: Option<Span>,
    pub timeout: Option<Span>,
    pub rise: Option<Count>,
    pub fall: Option<Count>,
    pub status: Option<StatusRange>,
}

/// A static service; the same model as a container's labels.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Listener name or names; absent means every `http`/`https` listener.
    pub listener: Option<OneOrMany>,
    pub hosts: Option<OneOrMany>,
    pub path: Option<String>,
    pub strip_prefix: Option<bool>,
    /// `Strict-Transport-Security` on https listeners.
    pub hsts: Option<Hsts>,
    /// The IP allow-list.
    pub allow: Option<Allow>,
    /// Authentication.
    pub auth: Option<Auth>,
    pub rate_limit: Option<RateLimit>,
    pub in_flight: Option<InFlight>,
    /// Header edits, CORS, body limit, rewrites and redirects (`config::shape::raw`).
    pub headers: Option<shape::Headers>,
    pub cors: Option<shape::Cors>,
    pub max_request_body: Option<shape::Size>,
    pub replace_path: Option<String>,
    pub replace_path_regex: Option<shape::Replace>,
    pub add_prefix: Option<String>,
    pub redirect_scheme: Option<shape::SchemeRedirect>,
    pub redirect_regex: Option<shape::RegexRedirect>,
    pub balance: Option<BalanceSpec>,
    pub retries: Option<Retries>,
    /// Request timeout; absent means `defaults.timeouts.request`.
    pub timeout: Option<Span>,
    pub drain: Option<Span>,
    pub health: Option<Health>,
    pub outlier: Option<Outlier>,
    pub limits: Option<Limits>,
    pub slow_start: Option<Span>,
    /// `http1` (default) or `h2`.
    pub upstream_protocol: Option<crate::model::UpstreamProtocol>,
    /// TLS to `https://` backends.
    pub tls: Option<UpstreamTls>,
    /// `v1` or `v2`: send a PROXY protocol header on every connection (L4 services).
    pub proxy_protocol: Option<String>,
    /// L4 services: close a connection idle this long; default: the `defaults.timeouts` one.
    pub idle_timeout: Option<Span>,
    /// Response compression: `true` or a map.
    pub compress: Option<super::compress::Toggle<super::compress::RawCompress>>,
    /// Sticky sessions by cookie: `true` or a map.
    pub sticky: Option<super::compress::Toggle<super::sticky::RawSticky>>,
    pub backends: Option<Vec<Backend>>,
}

/// A service's `tls:` block: how its `https` backends are verified.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// A PEM file of the CA certificates to trust instead of the built-in roots; relative to
    /// the config file's directory.
    pub ca: Option<String>,
    /// The name to send as SNI and verify instead of the request's host.
    pub server_name: Option<String>,
    /// Get certificates for the service's hosts by ACME (not about the backends).
    pub acme: Option<bool>,
}

/// A service's `allow:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    pub ips: Vec<Net>,
    pub forwarded_depth: Option<u32>,
}

/// A service's `rate_limit:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub average: u32,
    pub period: Option<Span>,
    pub burst: Option<u32>,
    /// `ip` (default), `service` or `header:NAME`.
    pub by: Option<String>,
}

/// A service's `in_flight:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlight {
    pub per_client: u32,
}

/// A service's `auth:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub basic: Option<BasicAuth>,
    pub forward: Option<ForwardAuth>,
}

/// `auth.forward`: an auth service asked about each request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuth {
    pub url: String,
    pub response_headers: Option<Vec<String>>,
    pub request_headers: Option<Vec<String>>,
    pub timeout: Option<Span>,
    pub failure_status: Option<u16>,
}

/// `auth.basic`: users from a file and/or htpasswd lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub users_file: Option<String>,
    pub users: Option<Vec<String>>,
    pub realm: Option<String>,
    pub remove_header: Option<bool>,
}

/// A service's `hsts:` block: `max_age` turns the header on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    pub max_age: Span,
    pub include_subdomains: Option<bool>,
    pub preload: Option<bool>,
}

/// A backend: `"IP:PORT"`, `"http://IP:PORT"`, `"https://IP:PORT"` or
/// `{ address: ..., weight: N }`.
#[derive(Debug, PartialEq, Eq)]
pub struct Backend {
    pub address: Address,
    /// Written `https://`.
    pub https: bool,
    pub weight: Option<Weight>,
}

/// The map form of a backend.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendMap {
    address: String,
    weight: Option<Weight>,
}

/// The address of a backend with its scheme (`https://`, `http://` or none) removed.
fn address<E: de::Error>(v: &str) -> Result<(Address, bool), E> {
    let (https, rest) = match (v.strip_prefix("https://"), v.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, v),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let address = Address::deserialize(de::value::StrDeserializer::<E>::new(rest))?;
    Ok((address, https))
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Backend;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a backend \"IP:PORT\" (or \"https://IP:PORT\") or \
                     { address: \"IP:PORT\", weight: 1..1000 }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Backend, E> {
                let (address, https) = address(v)?;
                Ok(Backend {
                    address,
                    https,
                    weight: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Backend, A::Error> {
                let m = BackendMap::deserialize(MapAccessDeserializer::new(map))?;
                let (address, https) = address(&m.address)?;
                Ok(Backend {
                    address,
                    https,
                    weight: m.weight,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: Option<LogLevel>,
    pub format: Option<LogFormat>,
    pub access_log: Option<super::logging::RawAccessLog>,
    pub trace_context: Option<super::TraceContext>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
