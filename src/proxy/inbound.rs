//! What a client connection says before it is proxied (data plane, once per connection):
//! a PROXY protocol header on listeners with `proxy_protocol: true`, and the ClientHello's
//! server name on `tls-passthrough` listeners.
//!
//! Both are read by one deadline, `header_read` after the accept. A peer that fails —
//! untrusted, silent, garbage, a truncated or oversized header — is closed with a metric and
//! a debug log (a flood of bad connections must not flood the log), never a panic: `berth_proxy_protocol_errors_total{listener,reason}` and
//! `berth_tls_handshake_errors_total{listener,reason}` (the same series an `https` listener's
//! failed handshakes use). Invariant: a header is read exactly (nothing past it is consumed),
//! and a peeked ClientHello is returned whole, to be forwarded first.

use std::net::SocketAddr;

use ipnet::IpNet;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use crate::metrics as m;
use crate::proxy::headers::is_trusted;
use crate::proxy::proxy_protocol::read_header;
use crate::proxy::sni::{read_client_hello, HostName};

/// Reads the PROXY header of a connection from `peer`, which must be in `trusted`. The
/// client's address and the address it connected to, each `None` when the header gives
/// none (a `LOCAL` health check, `UNKNOWN`); `None` when the connection must be closed.
pub async fn proxy_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    trusted: &[IpNet],
    listener: &str,
    deadline: Instant,
) -> Option<(Option<SocketAddr>, Option<SocketAddr>)> {
    let failed = |reason: &'static str| {
        debug!(listener, %peer, reason, "PROXY protocol header refused");
        metrics::counter!(m::PROXY_PROTOCOL_ERRORS_TOTAL,
            "listener" => listener.to_owned(), "reason" => reason)
        .increment(1);
        None
    };
    if !is_trusted(peer.ip(), trusted) {
        return failed("untrusted");
    }
    match tokio::time::timeout_at(deadline, read_header(stream)).await {
        Err(_) => failed("timeout"),
        Ok(Err(e)) => failed(e.reason()),
        Ok(Ok(header)) => Some((header.source, header.destination)),
    }
}

/// Reads the ClientHello into `buf` and returns its server name; `None` when the
/// connection must be closed (no name, not TLS, too slow, malformed).
pub async fn client_hello(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    peer: SocketAddr,
    listener: &str,
    deadline: Instant,
) -> Option<HostName> {
    let failed = |reason: &'static str| {
        debug!(listener, %peer, reason, "passthrough connection closed before routing");
        metrics::counter!(m::TLS_HANDSHAKE_ERRORS_TOTAL,
            "listener" => listener.to_owned(), "reason" => reason)
        .increment(1);
        None
    };
    match tokio::time::timeout_at(deadline, read_client_hello(stream, buf)).await {
        Err(_) => failed("timeout"),
        Ok(Err(e)) => failed(e.reason()),
        Ok(Ok(None)) => failed("no_sni"),
        Ok(Ok(Some(name))) => Some(name),
    }
}
