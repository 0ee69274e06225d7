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

pub mod handshake;
pub mod reload;
pub mod resolver;
pub mod stream;
pub mod upstream;

use crate::model::certs::{self, CertError};
use handshake::{Counters, Failure};
use resolver::{CertResolver, CertSet};

/// ALPN protocols offered, in preference order.
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
}

impl std::fmt::Debug for Terminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminator")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Terminator {
    /// Loads the certificates of `listener` and builds its TLS configuration.
    pub fn new(listener: &str, files: &[CertificateFiles]) -> Result<Self, TlsError> {
        let (serving, loaded) =
            load_all(files).map_err(|(index, source)| TlsError::Certificate {
                listener: listener.to_owned(),
                index,
                source,
            })?;
        let set = CertSet::new(&loaded).ok_or_else(|| TlsError::NoCertificate {
            listener: listener.to_owned(),
        })?;
        let resolver = Arc::new(CertResolver::new(set));
        let config = server_config(Arc::clone(&resolver)).map_err(|source| TlsError::Rustls {
            listener: listener.to_owned(),
            source,
        })?;
        Ok(Self {
            name: listener.into(),
            acceptor: TlsAcceptor::from(config),
            resolver,
            counters: Counters::new(listener),
            served: Mutex::new(reload::Served::new(serving)),
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

fn server_config(resolver: Arc<CertResolver>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let mut config = ServerConfig::builder_with_provider(crate::model::certs::provider())
        .with_protocol_versions(&versions)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// A [`Terminator`] for every `https` listener of `config`, by listener name.
pub fn terminators(config: &Config) -> Result<Vec<Arc<Terminator>>, TlsError> {
    config
        .listeners
        .values()
        .filter(|l| l.protocol == Protocol::Https)
        .map(|l| {
            let files = l.tls.as_ref().map_or(&[][..], |t| &t.certificates[..]);
            Terminator::new(&l.name, files).map(Arc::new)
        })
        .collect()
}
