//! Configuration (control plane): the YAML file, in two layers.
//!
//! `raw` holds serde structs that mirror the file exactly (`deny_unknown_fields`); `validate`
//! turns them into the typed [`Config`] below (addresses, durations, non-zero weights,
//! cross-references checked). Every error names the file, the field path, the line and column,
//! and what would be valid. A [`Config`] that exists is valid: the rest of berth never
//! re-checks it.
//!
//! Modules: `parse` (text → `raw`, with serde's messages made specific), `scalar` (values
//! checked while parsing, so they carry the parser's line and column), `validate`, `service`,
//! `health`, `policy`, `shape`, `compress`, `sticky` and `listener` (defaults and cross-field
//! rules, collecting every problem;
//! `listener` also reads the certificate files of `https` listeners), `locate` (position of a
//! field path in the text), `error` ([`ConfigError`], [`Problem`]), `summary` (`berth check`'s
//! overview). The settings themselves are `model` types; values are read by `model::value`,
//! names, hosts and paths checked by `model::rules`.
//! `config/default.yaml` is the embedded default.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::model::{CertificateFiles, Defaults, ServiceSpec};

mod acme;
mod admin;
mod compress;
mod error;
mod health;
mod listener;
mod locate;
mod logging;
mod parse;
mod policy;
mod raw;
mod scalar;
mod service;
mod shape;
mod sticky;
mod summary;
mod validate;

pub use admin::{AdminToken, TOKEN_ENV};
pub use error::{ConfigError, Problem};
pub use locate::locate;
pub use logging::{AccessFormat, AccessLog, TraceContext};

/// The configuration used when no file is given (docs/ARCHITECTURE.md, "Configuration").
pub const EMBEDDED_DEFAULT: &str = include_str!("config/default.yaml");

/// The name errors about [`EMBEDDED_DEFAULT`] use in place of a file name.
pub const EMBEDDED_NAME: &str = "(embedded default)";

/// A backend's weight when the file gives none.
pub const DEFAULT_WEIGHT: NonZeroU32 = NonZeroU32::MIN;

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    parse(&source, &file)
}

/// Loads `path` as a reload of `current`: besides any validation problem, refused when the
/// file holds nothing but comments (a save caught half-way, a truncation) or when it would
/// remove every service of `current` without an explicit `services: {}` (a file cut short).
/// Either way the caller keeps `current`.
pub fn reload(path: &Path, current: &Config) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    let refuse = |path: &str, message: &str| ConfigError::Invalid {
        file: file.clone(),
        problems: vec![Problem::new(path, message)],
    };
    let blank = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    if source.lines().all(blank) {
        return Err(refuse(
            "",
            "the file is empty (a save caught half-way?); to run on the defaults, say so \
             with at least one key, e.g. `services: {}`",
        ));
    }
    let next = parse(&source, &file)?;
    let explicit = parse::parse_raw(&source).is_ok_and(|raw| raw.services.is_some());
    if next.services.is_empty() && !current.services.is_empty() && !explicit {
        return Err(refuse(
            "services",
            "this reload would remove every static service and the file has no `services:` \
             section (cut short?); write `services: {}` to remove them all",
        ));
    }
    Ok(next)
}

/// Validates configuration text; `file_name` is only used in error messages.
pub fn parse(source: &str, file_name: &str) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        file: file_name.to_owned(),
        problems,
    };
    let raw = parse::parse_raw(source).map_err(|p| invalid(vec![p]))?;
    // Relative certificate paths are relative to the file's directory.
    let base = Path::new(file_name).parent().unwrap_or(Path::new(""));
    validate::validate(raw, base).map_err(|mut problems| {
        for p in &mut problems {
            (p.line, p.column) = locate(source, &p.path).unzip();
        }
        // In file order, so an operator fixes them top to bottom; unplaced ones last.
        problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
        invalid(problems)
    })
}

/// The embedded default configuration (listener `web` on 0.0.0.0:8080, admin on
/// 127.0.0.1:9900, Docker provider on `DOCKER_HOST` or the default socket, no services).
pub fn embedded_default() -> Config {
    // The embedded file is fixed at build time and `embedded_default_is_valid` tests it.
    parse(EMBEDDED_DEFAULT, EMBEDDED_NAME).expect("the embedded default configuration is valid")
}

/// What failed to bind, for [`bind_error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindSite<'a> {
    /// The listener with this name.
    Listener(&'a str),
    /// The admin listener.
    Admin,
}

/// A bind failure reported against the file, at the address's line: the binding code calls
/// this with the text the config was parsed from (`EMBEDDED_DEFAULT` and `EMBEDDED_NAME`
/// when no file was given).
pub fn bind_error(
    source: &str,
    file_name: &str,
    site: BindSite<'_>,
    address: SocketAddr,
    err: &io::Error,
) -> ConfigError {
    let path = match site {
        BindSite::Listener(name) => format!("listeners.{name}.address"),
        BindSite::Admin => "admin.address".to_owned(),
    };
    let message = match err.kind() {
        io::ErrorKind::AddrInUse => format!(
            "address {address} is already in use; stop what holds it or choose another port"
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "address {address} is not an address of this host; use one of its IPs or 0.0.0.0"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "not allowed to bind {address}; ports below 1024 need root or CAP_NET_BIND_SERVICE, or choose a port above 1023"
        ),
        _ => format!("cannot bind {address}: {err}"),
    };
    let mut problem = Problem::new(path, message);
    (problem.line, problem.column) = locate(source, &problem.path).unzip();
    ConfigError::Invalid {
        file: file_name.to_owned(),
        problems: vec![problem],
    }
}

/// A fully validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listeners: BTreeMap<String, Listener>,
    pub admin: Admin,
    pub docker: Engine,
    /// The Swarm provider (off by default).
    pub swarm: Swarm,
    /// Automatic HTTPS; `None`: no `acme:` section, no certificate is ordered.
    pub acme: Option<Acme>,
    /// Limits on client connections over every listener.
    pub connections: Connections,
    pub defaults: Defaults,
    /// Static services (the file provider), by name.
    pub services: BTreeMap<String, StaticService>,
    pub log: Log,
    /// Threads serving traffic; `0` in the file is resolved to the number of cores.
    pub workers: usize,
}

/// `protocol:` of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    TlsPassthrough,
}

impl Protocol {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::TlsPassthrough => "tls-passthrough",
        }
    }

    /// `tcp` and `tls-passthrough`: connections are proxied as bytes, not as HTTP.
    pub fn is_l4(self) -> bool {
        matches!(self, Self::Tcp | Self::TlsPassthrough)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub protocol: Protocol,
    /// Peers whose `X-Forwarded-*` headers are kept instead of dropped; with
    /// `proxy_protocol`, the only peers accepted.
    pub trusted_ips: Vec<IpNet>,
    /// Every connection starts with a PROXY protocol header (v1 or v2) giving the client's
    /// address; connections from peers outside `trusted_ips` are closed.
    pub proxy_protocol: bool,
    /// The certificates of an `https` listener (`Some` exactly for `https`).
    pub tls: Option<Tls>,
    /// An `http` listener that answers every request with a redirect to an `https` one.
    pub redirect: Option<Redirect>,
    /// Open client connections at most on this listener; `None`: only the global limit.
    pub max_connections: Option<usize>,
    /// `https` listeners with an `acme:` section: which hosts routed here get certificates.
    pub acme: AcmeScope,
}

/// `acme:` of an `https` listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcmeScope {
    /// The hosts of services labelled `tls.acme=true` (YAML `tls: { acme: true }`).
    #[default]
    Labelled,
    /// Every host routed on the listener.
    All,
}

/// The ACME challenge berth answers to prove it controls a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum Challenge {
    /// A token over plain HTTP on port 80 (an `http` listener).
    #[serde(rename = "http-01")]
    Http01,
    /// A special certificate in a TLS handshake on port 443 (an `https` listener).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl Challenge {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http01 => "http-01",
            Self::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// `acme:`: certificates ordered from an ACME CA (RFC 8555) for the names berth serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acme {
    /// The account's contact (`mailto:`); `None`: an account without contact.
    pub email: Option<String>,
    /// The CA's directory URL (default: Let's Encrypt's production directory).
    pub directory: String,
    /// Account key and certificates live here; several berths may share it.
    pub storage: PathBuf,
    /// A PEM file of CAs to trust for the ACME server instead of the built-in roots.
    pub ca: Option<PathBuf>,
    pub challenge: Challenge,
    /// Names ordered whatever the routes say.
    pub names: Vec<String>,
    /// External account binding, for CAs that require one.
    pub eab: Option<Eab>,
    /// Wait after a failed order, doubled after each further failure (up to a day).
    pub backoff: Duration,
}

/// `acme.eab`: the key identifier and HMAC key the CA gave.
#[derive(Clone, PartialEq, Eq)]
pub struct Eab {
    pub kid: String,
    /// The decoded HMAC key.
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for Eab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eab")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// An `https` listener's `tls:` block; every file was read and checked at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// In file order: the first is served to clients that send no or an unknown SNI name.
    pub certificates: Vec<CertificateFiles>,
}

/// `redirect:` of an `http` listener: every request gets a permanent redirect to `https`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The `https` listener to send clients to.
    pub to: String,
    /// The port put in `Location`; `None`: the bound port of `to` (left out when 443).
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Admin {
    pub address: SocketAddr,
    /// The bearer token of the admin API's mutating calls (`admin.token_file`); `None`: the
    /// `BERTH_ADMIN_TOKEN` variable, else mutations are refused.
    pub token: Option<AdminToken>,
}

/// A provider that follows a Docker engine: `docker:` (its containers) or `swarm:` (a
/// manager's services and tasks).
#[derive(Clone, Debug, PartialEq)]
pub struct Engine {
    pub enabled: bool,
    /// `None`: `DOCKER_HOST`, else the platform default socket.
    pub endpoint: Option<String>,
    pub exposed_by_default: bool,
    pub network: Option<String>,
    pub label_prefix: String,
}

/// `connections:`: how many client connections berth holds open at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    /// Over every listener; `None`: derived from the open-file limit at start
    /// (`proxy::listener::default_max_connections`).
    pub max: Option<usize>,
    /// From one client IP (the TCP peer), over every listener; `None`: no such limit.
    pub per_client: Option<usize>,
}

/// `swarm:`: an [`Engine`] that is a Swarm manager.
#[derive(Clone, Debug, PartialEq)]
pub struct Swarm {
    pub engine: Engine,
    /// Everything is read again this often, a safety net under the events (Swarm reports
    /// no task events).
    pub refresh: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub address: SocketAddr,
    pub weight: NonZeroU32,
}

/// A service declared in the file: the same [`ServiceSpec`] a container's labels give, and
/// its backends.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticService {
    /// Its settings, with `defaults` filled in.
    pub spec: Arc<ServiceSpec>,
    pub backends: Vec<Backend>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
    /// `None`: off (the default).
    pub access_log: Option<AccessLog>,
    pub trace_context: TraceContext,
}

#[cfg(test)]
mod tests;

/// Helpers for the config modules' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{parse, ConfigError, Problem};

    /// Every problem `src` has; panics when it parses.
    pub fn problems(src: &str) -> Vec<Problem> {
        match parse(src, "t.yaml") {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    /// The single problem `src` has.
    pub fn one(src: &str) -> Problem {
        let mut all = problems(src);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }
}
