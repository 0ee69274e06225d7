//! Opening a new upstream connection (data plane, on a pool miss): TCP, TLS for `https`
//! endpoints, then the HTTP/1.1 or HTTP/2 handshake; the connection runs on its own task.
//!
//! TLS verifies the endpoint's certificate (rustls, `ring`) for the server name the caller
//! gives — the service's `server_name`, else the request's host, else the endpoint's IP —
//! and offers ALPN `h2` or `http/1.1` to match the protocol spoken. Every failure is a
//! [`ConnectError`]; all of them happen before a request is written, so the caller may try
//! another endpoint. The TLS handshake is `tls::upstream`'s, shared with the active health
//! checks (`health::probe`), so a check trusts and verifies exactly what requests do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::model::UpstreamProtocol;
use crate::model::UpstreamTls;
use crate::proxy::pool::{Conn, Sender};
use crate::tls::upstream::{server_name, start_tls};

/// Why a new upstream connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {0} timed out")]
    Timeout(SocketAddr),
    #[error("connect to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("TLS handshake with {0} (server name {1}): {2}")]
    Tls(SocketAddr, String, std::io::Error),
    #[error("handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
}

/// What a new connection needs to know.
pub struct Dial<'a> {
    pub addr: SocketAddr,
    pub timeout: Duration,
    /// Keep an HTTP/1.1 connection usable for `Upgrade`.
    pub upgrades: bool,
    pub protocol: UpstreamProtocol,
    /// TLS settings for an `https` endpoint.
    pub tls: Option<&'a UpstreamTls>,
    /// The request's host (no port), for SNI when the service names no `server_name`.
    pub host: Option<&'a str>,
}

/// Opens a connection as `dial` says. The connect timeout covers TCP and TLS.
pub async fn connect(dial: Dial<'_>) -> Result<Sender, ConnectError> {
    let addr = dial.addr;
    let stream = tokio::time::timeout(dial.timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout(addr))?
        .map_err(|e| ConnectError::Io(addr, e))?;
    // Latency matters more than packet count for proxied request/response exchanges.
    let _ = stream.set_nodelay(true);
    let Some(tls) = dial.tls else {
        let conn = handshake(addr, TokioIo::new(stream), &dial).await?;
        return Ok(Sender { conn, name: None });
    };
    let (server_name, per_host) = server_name(tls, dial.host, addr);
    let shown = server_name.to_str().into_owned();
    let handshake_tls = start_tls(tls, dial.protocol, server_name, stream);
    let stream = tokio::time::timeout(dial.timeout, handshake_tls)
        .await
        .map_err(|_| ConnectError::Timeout(addr))?
        .map_err(|e| ConnectError::Tls(addr, shown.clone(), e))?;
    let conn = handshake(addr, TokioIo::new(stream), &dial).await?;
    Ok(Sender {
        conn,
        name: per_host.then(|| Arc::from(shown)),
    })
}

/// The HTTP handshake on an open stream.
async fn handshake<T>(addr: SocketAddr, io: T, dial: &Dial<'_>) -> Result<Conn, ConnectError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if dial.protocol == UpstreamProtocol::H2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(|e| ConnectError::Handshake(addr, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        return Ok(Conn::Http2(sender));
    }
    let (sender, conn) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    if dial.upgrades {
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
    } else {
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    Ok(Conn::Http1(sender))
}

/// The host of a request's `Host` value or authority, without its port.
pub fn host_only(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_not_part_of_the_host() {
        assert_eq!(host_only("api.test:8443"), "api.test");
        assert_eq!(host_only("api.test"), "api.test");
        assert_eq!(host_only("[::1]:443"), "::1");
    }
}
