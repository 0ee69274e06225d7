//! The TLS handshake towards `https` endpoints (data plane and health checks): one place,
//! so an active check trusts and verifies exactly what requests do.
//!
//! The client configuration (roots, ALPN) is the service's `model::UpstreamTls`, built when
//! the config or the labels were read.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::model::{UpstreamProtocol, UpstreamTls};

/// The TLS handshake on a connected `stream`, offering ALPN for `protocol` and verifying
/// `server_name` against the service's roots .
pub async fn start_tls(
    tls: &UpstreamTls,
    protocol: UpstreamProtocol,
    server_name: ServerName<'static>,
    stream: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(Arc::clone(tls.client(protocol)));
    connector.connect(server_name, stream).await
}

/// The name to verify, and whether it is the request's host (so the connection serves only
/// that host). Without a request (`host: None`, as in a health check): `server_name`, else
/// the endpoint's IP.
pub fn server_name(
    tls: &UpstreamTls,
    host: Option<&str>,
    addr: SocketAddr,
) -> (ServerName<'static>, bool) {
    if let Some(name) = &tls.server_name {
        return (name.clone(), false);
    }
    let from_host = host.and_then(|h| ServerName::try_from(h.to_owned()).ok());
    match from_host {
        Some(name) => (name, true),
        None => (ServerName::IpAddress(addr.ip().into()), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_prefers_the_setting_then_the_host_then_the_ip() {
        let addr: SocketAddr = "10.0.0.1:443".parse().expect("addr");
        let plain = UpstreamTls::new(None, None).expect("tls");
        let named = UpstreamTls::new(None, Some("api.internal")).expect("tls");
        let (n, per_host) = server_name(&named, Some("x.test"), addr);
        assert_eq!((n.to_str().as_ref(), per_host), ("api.internal", false));
        let (n, per_host) = server_name(&plain, Some("x.test"), addr);
        assert_eq!((n.to_str().as_ref(), per_host), ("x.test", true));
        let (n, per_host) = server_name(&plain, None, addr);
        assert_eq!((n.to_str().as_ref(), per_host), ("10.0.0.1", false));
    }
}
