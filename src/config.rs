//! Configuration (control plane): the YAML file, in two layers.
//!
//! `raw` holds serde structs that mirror the file exactly (`deny_unknown_fields`); `validate`
//! turns them into the typed [`Config`] below (addresses, durations, non-zero weights,
//! cross-references checked). Every error names the file, the field path, the line and column,
//! and what would be valid. A [`Config`] that exists is valid: the rest of berth never
//! re-checks it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;

use crate::balance::Balance;

/// A fully validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listeners: BTreeMap<String, Listener>,
    pub admin: Admin,
    pub docker: Docker,
    pub defaults: Defaults,
    /// Static services (the file provider), by name.
    pub services: BTreeMap<String, StaticService>,
    pub log: Log,
    /// Threads serving traffic; `0` in the file is resolved to the number of cores.
    pub workers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    TlsPassthrough,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub protocol: Protocol,
    /// Peers whose `X-Forwarded-*` headers are kept instead of dropped.
    pub trusted_ips: Vec<IpNet>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Admin {
    pub address: SocketAddr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Docker {
    pub enabled: bool,
    /// `None`: `DOCKER_HOST`, else the platform default socket.
    pub endpoint: Option<String>,
    pub exposed_by_default: bool,
    pub network: Option<String>,
    pub label_prefix: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    pub idle: Duration,
    pub header_read: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    pub balance: Balance,
    pub retries: u8,
    pub drain: Duration,
    pub timeouts: Timeouts,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub address: SocketAddr,
    pub weight: NonZeroU32,
}

/// A service declared in the file; the same model as a container's labels.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticService {
    pub name: String,
    /// Listener names; empty means every `http`/`https` listener.
    pub listeners: Vec<String>,
    /// Host patterns (`api.example.com`, `*.example.com`); empty means any host.
    pub hosts: Vec<String>,
    /// Path prefix, always starting with `/`.
    pub path: String,
    pub strip_prefix: bool,
    pub balance: Balance,
    pub retries: u8,
    pub request_timeout: Duration,
    pub drain: Duration,
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
    pub access_log: bool,
}
