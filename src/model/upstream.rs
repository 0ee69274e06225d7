//! How berth talks to a service's endpoints (control plane, load time): the protocol
//! (`upstream_protocol`, label `http.upstream_protocol`) and, for `https` backends, TLS
//! (`tls: { ca, server_name }`, labels `scheme`, `tls.ca`, `tls.server_name`).
//!
//! These are service-level settings, read from a static service or a container's labels into
//! [`Upstream`] on the [`ServiceSpec`](crate::model::ServiceSpec). Invariant: an
//! [`UpstreamTls`] that exists is usable as is: its rustls client configurations were built
//! (CA file read and parsed) when the settings were read, never on the request path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;

use super::certs::provider;

/// The protocol berth speaks to a service's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1, pooled keep-alive connections (the default).
    #[default]
    Http1,
    /// HTTP/2: with prior knowledge (h2c) over plain TCP, negotiated by ALPN over TLS; one
    /// multiplexed connection per endpoint and worker.
    H2,
}

impl UpstreamProtocol {
    /// The name as written in the config and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::H2 => "h2",
        }
    }
}

impl fmt::Display for UpstreamProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UpstreamProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "http1" => Ok(Self::Http1),
            "h2" => Ok(Self::H2),
            _ => Err(format!("unknown upstream protocol `{s}`; use http1 or h2")),
        }
    }
}

/// A service's upstream settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Upstream {
    pub protocol: UpstreamProtocol,
    /// `Some` when the endpoints are `https`.
    pub tls: Option<UpstreamTls>,
}

/// Why upstream TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    #[error("cannot read CA file {0}: {1}")]
    Read(PathBuf, String),
    #[error("CA file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("CA file {0}: {1}")]
    BadCertificate(PathBuf, String),
    #[error("`{0}` is not a valid TLS server name (a DNS name or an IP address)")]
    ServerName(String),
}

/// TLS to `https` endpoints: who to trust, which name to verify.
#[derive(Clone)]
pub struct UpstreamTls {
    /// The CA file trusted instead of the built-in (webpki-roots) roots: for a static
    /// service already joined to the config file's directory, for a label as written.
    pub ca: Option<PathBuf>,
    /// The name sent as SNI and verified; `None`: the request's host.
    pub server_name: Option<ServerName<'static>>,
    /// ALPN `http/1.1`.
    pub http1: Arc<ClientConfig>,
    /// ALPN `h2`.
    pub h2: Arc<ClientConfig>,
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &Self) -> bool {
        self.ca == other.ca && self.server_name == other.server_name
    }
}

impl fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("ca", &self.ca)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl UpstreamTls {
    /// Builds the client configurations: the CA file is read now.
    pub fn new(ca: Option<&Path>, server_name: Option<&str>) -> Result<Self, UpstreamTlsError> {
        let server_name = server_name
            .map(|n| {
                ServerName::try_from(n.to_owned())
                    .map_err(|_| UpstreamTlsError::ServerName(n.to_owned()))
            })
            .transpose()?;
        let roots = Arc::new(roots(ca)?);
        let config = |alpn: &[u8]| {
            let mut c = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                // Invariant: ring supports the default protocol versions.
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(Arc::clone(&roots))
                .with_no_client_auth();
            c.alpn_protocols = vec![alpn.to_vec()];
            Arc::new(c)
        };
        Ok(Self {
            ca: ca.map(Path::to_path_buf),
            server_name,
            http1: config(b"http/1.1"),
            h2: config(b"h2"),
        })
    }

    /// The client configuration whose ALPN offers `protocol`.
    pub fn client(&self, protocol: UpstreamProtocol) -> &Arc<ClientConfig> {
        match protocol {
            UpstreamProtocol::Http1 => &self.http1,
            UpstreamProtocol::H2 => &self.h2,
        }
    }
}

/// The certificates of `ca`, else the built-in roots.
fn roots(ca: Option<&Path>) -> Result<RootCertStore, UpstreamTlsError> {
    let mut store = RootCertStore::empty();
    let Some(path) = ca else {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    };
    let pem = super::file::read_small(path).map_err(|e| UpstreamTlsError::Read(path.into(), e))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| UpstreamTlsError::BadCertificate(path.into(), e.to_string()))?;
        store
            .add(cert)
            .map_err(|e| UpstreamTlsError::BadCertificate(path.into(), e.to_string()))?;
    }
    match store.is_empty() {
        true => Err(UpstreamTlsError::NoCertificate(path.into())),
        false => Ok(store),
    }
}

impl Upstream {
    /// The scheme of the endpoints' URLs.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "https",
            None => "http",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in [UpstreamProtocol::Http1, UpstreamProtocol::H2] {
            assert_eq!(p.as_str().parse::<UpstreamProtocol>(), Ok(p));
        }
        let err = "h3".parse::<UpstreamProtocol>().unwrap_err();
        assert!(err.contains("http1 or h2"), "{err}");
    }

    #[test]
    fn tls_settings_are_checked_when_read() {
        assert!(UpstreamTls::new(None, None).is_ok(), "built-in roots");
        assert!(UpstreamTls::new(None, Some("api.internal")).is_ok());
        let e = UpstreamTls::new(None, Some("bad name!")).unwrap_err();
        assert!(e.to_string().contains("not a valid TLS server name"), "{e}");
        let e = UpstreamTls::new(Some(Path::new("/nonexistent/ca.pem")), None).unwrap_err();
        assert!(e.to_string().contains("cannot read CA file"), "{e}");
        let empty = std::env::temp_dir().join(format!("berth-empty-ca-{}", std::process::id()));
        std::fs::write(&empty, "not pem").expect("write");
        let e = UpstreamTls::new(Some(&empty), None).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
