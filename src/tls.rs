//! TLS termination for `https` listeners (both planes).
//!
//! One [`Terminator`] per `https` listener, built at start and shared by every worker: a
//! rustls `ServerConfig` (TLS 1.2 and 1.3 with rustls' safe defaults, the `ring` provider,
//! ALPN `h2` then `http/1.1`, stateless session tickets) whose certificate resolver picks by
//! SNI from a set that a reload swaps without touching open connections. The decrypted
//! stream is served by the same hyper server as plain HTTP, HTTP/2 included.
//!
//! # Layout
//! - [`resolver`]: the SNI → certificate choice, lock-free, swappable.
//! - [`acme`]: certificates issued by ACME and challenge answers, shared by every listener.
//! - [`handshake`]: handshake failure reasons and counters.
//! - [`reload`]: the control-plane task that re-reads certificate files on change or `SIGHUP`.
//! - [`stream`]: a client connection, plain or TLS, as the one type the HTTP server serves.
//! - [`upstream`]: the TLS handshake towards `https` endpoints (requests and health checks).
//!
//! Certificate files are read by `model::certs`, the same reading the config's validation
//! uses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, Protocol};

use crate::model::CertificateFiles;

pub mod acme;
pub mod handshake;
pub mod reload;
pub mod resolver;
pub mod stream;
pub mod upstream;

use crate::model::certs::{self, CertError};
use acme::{Acme, ACME_TLS_ALPN};
use handshake::{Counters, Failure};
use resolver::{CertResolver, CertSet};

/// ALPN protocols offered, in preference order (with ACME on, `acme-tls/1` last: only a
/// validation offers it, and alone).
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why TLS could not be set up for a listener at start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate file changed between loading the config and starting.
    #[error("listener `{listener}`: tls.certificates[{index}]: {source}")]
    Certificate {
        listener: String,
        index: usize,
        #[source]
        source: CertError,
    },
    #[error("listener `{listener}` has no certificate")]
    NoCertificate { listener: String },
    #[error("listener `{listener}`: cannot make the default certificate: {detail}")]
    Default { listener: String, detail: String },
    #[error("listener `{listener}`: TLS set-up failed: {source}")]
    Rustls {
        listener: String,
        #[source]
        source: rustls::Error,
    },
}

/// TLS for one `https` listener.
pub struct Terminator {
    pub name: Arc<str>,
    acceptor: TlsAcceptor,
    resolver: Arc<CertResolver>,
    counters: Counters,
    /// The certificate files now served and their bytes (control plane only: reloads).
    served: Mutex<reload::Served>,
    /// A listener that lists no file (ACME on) serves this self-signed certificate to names
    /// without an issued one.
    fallback: Option<certs::Loaded>,
}

impl std::fmt::Debug for Terminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminator")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Terminator {
    /// Loads the certificates of `listener` and builds its TLS configuration; with `acme`,
    /// issued certificates serve too, and a listener without files gets a self-signed
    /// default.
    pub fn new(
        listener: &str,
        files: &[CertificateFiles],
        acme: Option<Arc<Acme>>,
    ) -> Result<Self, TlsError> {
        let (serving, loaded) =
            load_all(files).map_err(|(index, source)| TlsError::Certificate {
                listener: listener.to_owned(),
                index,
                source,
            })?;
        let fallback = match (&acme, files.is_empty()) {
            (Some(_), true) => Some(self_signed().map_err(|detail| TlsError::Default {
                listener: listener.to_owned(),
                detail,
            })?),
            _ => None,
        };
        record_expiry(&loaded);
        let set = set_of(loaded, fallback.as_ref()).ok_or_else(|| TlsError::NoCertificate {
            listener: listener.to_owned(),
        })?;
        let alpn = acme.is_some();
        let resolver = Arc::new(CertResolver::new(set, acme));
        let config =
            server_config(Arc::clone(&resolver), alpn).map_err(|source| TlsError::Rustls {
                listener: listener.to_owned(),
                source,
            })?;
        Ok(Self {
            name: listener.into(),
            acceptor: TlsAcceptor::from(config),
            resolver,
            counters: Counters::new(listener),
            served: Mutex::new(reload::Served::new(serving)),
            fallback,
        })
    }

    /// Runs the handshake on `stream`, giving up after `timeout`; a failure is counted and
    /// the connection dropped.
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, Failure> {
        let result = match tokio::time::timeout(timeout, self.acceptor.accept(stream)).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Err(e)) => Err(Failure::of(&e)),
            Ok(Ok(tls)) => Ok(tls),
        };
        match &result {
            Ok(tls) => self.counters.done(tls.get_ref().1.protocol_version()),
            Err(why) => self.counters.failed(*why),
        }
        result
    }

    /// A TLS-ALPN-01 validation: its handshake was all it wanted; no HTTP follows.
    pub fn is_challenge(tls: &TlsStream<TcpStream>) -> bool {
        tls.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN)
    }
}

/// Reads and checks every entry: the files with their bytes, and the certificates.
#[allow(clippy::type_complexity)]
fn load_all(
    files: &[CertificateFiles],
) -> Result<(Vec<(CertificateFiles, certs::Pem)>, Vec<certs::Loaded>), (usize, CertError)> {
    let mut serving = Vec::with_capacity(files.len());
    let mut loaded = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let pem = certs::read(f).map_err(|e| (i, e))?;
        loaded.push(pem.parse().map_err(|e| (i, e))?);
        serving.push((f.clone(), pem));
    }
    Ok((serving, loaded))
}

/// `berth_certificate_expiry_seconds` of every name a file certificate serves.
fn record_expiry(loaded: &[certs::Loaded]) {
    for cert in loaded {
        for name in &cert.names {
            crate::metrics::certificate_expiry(name, "file", cert.validity.1);
        }
    }
}

/// A certificate file a listener serves, for the admin API.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileView {
    pub listener: String,
    pub cert: String,
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_after: u64,
}

impl Terminator {
    /// The certificate files served now, with their names and expiry.
    pub fn certificate_files(&self) -> Vec<FileView> {
        let served = reload::lock(&self.served);
        served
            .pems()
            .filter_map(|(files, pem)| {
                let loaded = pem.parse().ok()?;
                let not_after = loaded.validity.1.duration_since(std::time::UNIX_EPOCH);
                Some(FileView {
                    listener: self.name.to_string(),
                    cert: files.cert.display().to_string(),
                    names: loaded.names,
                    not_after: not_after.map_or(0, |d| d.as_secs()),
                })
            })
            .collect()
    }
}

/// The set serving `loaded`, or only `fallback` when nothing is loaded.
fn set_of(mut loaded: Vec<certs::Loaded>, fallback: Option<&certs::Loaded>) -> Option<CertSet> {
    if loaded.is_empty() {
        loaded.extend(fallback.cloned());
    }
    CertSet::new(&loaded)
}

/// A self-signed certificate naming no host: what an ACME-only listener serves until a
/// name's certificate is issued (clients see an untrusted certificate, not a closed port).
fn self_signed() -> Result<certs::Loaded, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth default certificate");
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let pem = certs::Pem::in_memory(
        "(generated)".into(),
        cert.pem().into_bytes(),
        key.serialize_pem().into_bytes(),
    );
    pem.parse().map_err(|e| e.to_string())
}

fn server_config(
    resolver: Arc<CertResolver>,
    acme: bool,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let mut config = ServerConfig::builder_with_provider(crate::model::certs::provider())
        .with_protocol_versions(&versions)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    if acme {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// A [`Terminator`] for every `https` listener of `config`, by listener name; `acme` when
/// the config has an `acme:` section.
pub fn terminators(
    config: &Config,
    acme: Option<&Arc<Acme>>,
) -> Result<Vec<Arc<Terminator>>, TlsError> {
    config
        .listeners
        .values()
        .filter(|l| l.protocol == Protocol::Https)
        .map(|l| {
            let files = l.tls.as_ref().map_or(&[][..], |t| &t.certificates[..]);
            Terminator::new(&l.name, files, acme.cloned()).map(Arc::new)
        })
        .collect()
}
