//! One active check against one address (control plane).
//!
//! TCP: a connection established within the timeout passes (also for `https` endpoints: no
//! handshake). HTTP: an HTTP/1.1 `GET` of the path over a fresh connection (no pooling: a
//! check also proves new connections work) with `User-Agent: berth-health`; a response
//! status within the range, received within the timeout, passes. The body is not read.
//!
//! For an `https` endpoint (the service's upstream TLS) the HTTP check first does the TLS
//! handshake the data plane does (`tls::upstream`: the same roots or CA file, ALPN
//! `http/1.1`), verifying the service's `server_name`, else the endpoint's IP, as there is
//! no request host. `Host` is that `server_name` when set, else the endpoint's address. A
//! failed handshake fails the check (`tls error: ...`).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

use crate::model::HealthCheck;
use crate::model::{UpstreamProtocol, UpstreamTls};
use crate::tls::upstream;

/// Why a check failed; `Display` is the short text the admin API and logs show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    ConnectRefused,
    /// No connection within the timeout.
    ConnectTimeout,
    Connect(io::ErrorKind),
    /// The TLS handshake with an `https` endpoint failed (untrusted certificate, wrong name,
    /// not TLS, ...) or did not finish within the timeout.
    Tls(String),
    /// Connected, but no response within the timeout.
    Timeout,
    /// A response whose status is outside the passing range.
    Status(u16),
    /// The HTTP exchange failed (reset, malformed response, ...).
    Http(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectRefused => f.write_str("connect refused"),
            Self::ConnectTimeout => f.write_str("connect timeout"),
            Self::Connect(kind) => write!(f, "connect error: {kind}"),
            Self::Tls(e) => write!(f, "tls error: {e}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Status(code) => write!(f, "status {code}"),
            Self::Http(e) => write!(f, "http error: {e}"),
        }
    }
}

/// Runs `check` once against `addr`; `tls` is the service's upstream TLS for an `https`
/// endpoint.
pub async fn probe(
    addr: SocketAddr,
    check: &HealthCheck,
    tls: Option<&UpstreamTls>,
) -> Result<(), ProbeError> {
    let deadline = Instant::now() + check.timeout;
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => return Err(ProbeError::ConnectTimeout),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(ProbeError::ConnectRefused)
        }
        Ok(Err(e)) => return Err(ProbeError::Connect(e.kind())),
        Ok(Ok(stream)) => stream,
    };
    let Some(path) = &check.path else {
        return Ok(());
    };
    let _ = stream.set_nodelay(true);
    let status = match tls {
        None => get_by(deadline, stream, addr.to_string(), path).await?,
        Some(tls) => {
            let (name, _) = upstream::server_name(tls, None, addr);
            let host = match &tls.server_name {
                Some(name) => name.to_str().into_owned(),
                None => addr.to_string(),
            };
            let handshake = upstream::start_tls(tls, UpstreamProtocol::Http1, name, stream);
            let stream = match timeout_at(deadline, handshake).await {
                Err(_) => return Err(ProbeError::Tls("handshake timed out".into())),
                Ok(Err(e)) => return Err(ProbeError::Tls(e.to_string())),
                Ok(Ok(stream)) => stream,
            };
            get_by(deadline, stream, host, path).await?
        }
    };
    match (check.status.0..=check.status.1).contains(&status) {
        true => Ok(()),
        false => Err(ProbeError::Status(status)),
    }
}

/// [`http_get`] within the deadline.
async fn get_by<S>(
    deadline: Instant,
    stream: S,
    host: String,
    path: &str,
) -> Result<u16, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let remaining = deadline.saturating_duration_since(Instant::now());
    timeout(remaining, http_get(stream, host, path))
        .await
        .map_err(|_| ProbeError::Timeout)?
}

/// One `GET` on a fresh connection (plain or TLS); the response status.
async fn http_get<S>(stream: S, host: String, path: &str) -> Result<u16, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| ProbeError::Http(e.to_string());
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
    // The connection task ends when the sender is dropped (or the peer closes).
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "berth-health")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Http(e.to_string()))?;
    let result = sender.send_request(request).await.map_err(http);
    drop(sender);
    conn.abort();
    Ok(result?.status().as_u16())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server answering every connection with `status` (after reading the request head),
    /// or never answering when `status` is 0.
    async fn server(status: u16) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = s.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    let head = String::from_utf8_lossy(&head).to_lowercase();
                    assert!(head.contains("user-agent: berth-health"), "{head}");
                    assert!(head.starts_with("get /health http/1.1"), "{head}");
                    if status == 0 {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn http(status: (u16, u16)) -> HealthCheck {
        HealthCheck {
            status,
            timeout: Duration::from_millis(300),
            ..HealthCheck::new(Some("/health".into()), Duration::from_secs(1))
        }
    }

    #[tokio::test]
    async fn http_status_range_decides() {
        let ok = server(204).await;
        assert_eq!(probe(ok, &http((200, 399)), None).await, Ok(()));
        assert_eq!(
            probe(ok, &http((200, 200)), None).await,
            Err(ProbeError::Status(204))
        );
        let bad = server(500).await;
        assert_eq!(
            probe(bad, &http((200, 399)), None).await,
            Err(ProbeError::Status(500))
        );
        assert_eq!(probe(bad, &http((500, 599)), None).await, Ok(()));
    }

    #[tokio::test]
    async fn http_without_answer_times_out() {
        let hang = server(0).await;
        assert_eq!(
            probe(hang, &http((200, 399)), None).await,
            Err(ProbeError::Timeout)
        );
    }

    #[tokio::test]
    async fn https_endpoints_fail_on_the_handshake_with_a_short_reason() {
        let tls = UpstreamTls::new(None, Some("backend.test")).unwrap();
        // Accepts and never answers the ClientHello.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                open.push(s);
            }
        });
        let e = probe(addr, &http((200, 399)), Some(&tls))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "tls error: handshake timed out");
        // A TCP check does no handshake.
        let tcp = HealthCheck::new(None, Duration::from_millis(300));
        assert_eq!(probe(addr, &tcp, Some(&tls)).await, Ok(()));
        held.abort();
        // Plain HTTP where TLS is expected.
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = plain.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = plain.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let e = probe(addr, &http((200, 399)), Some(&tls))
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Tls(_)), "{e:?}");
        assert!(e.to_string().starts_with("tls error: "), "{e}");
    }

    #[tokio::test]
    async fn tcp_connect_passes_or_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = HealthCheck::new(None, Duration::from_millis(300));
        assert_eq!(probe(addr, &tcp, None).await, Ok(()));
        drop(listener);
        assert_eq!(
            probe(addr, &tcp, None).await,
            Err(ProbeError::ConnectRefused)
        );
        assert_eq!(ProbeError::ConnectRefused.to_string(), "connect refused");
    }
}
