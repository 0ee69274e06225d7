//! Upstream connections, pooled per endpoint and per worker thread (data plane).
//!
//! Each worker is a current-thread runtime, so its pool is a thread-local map from endpoint id
//! to idle senders: no lock, no sharing. HTTP/1.1: a sender goes back to the pool only after
//! its response body ended; a sender whose connection closed, or that idled past the timeout,
//! is dropped on checkout. HTTP/2: one multiplexed connection per endpoint and worker is
//! *shared* — every request clones its sender, and it stays in the pool while it is open.
//! [`sweep`] drops every pooled connection of an endpoint that is draining or removed, so a
//! drain closes keep-alive connections at once instead of on next use (an HTTP/2 connection
//! closes once the requests still on it finish and drop their clones).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2, TrySendError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::config::UpstreamProtocol;
use crate::state::endpoint::Endpoint;

/// Idle connections kept per endpoint per worker; more are closed when returned.
const MAX_IDLE_PER_ENDPOINT: usize = 512;

/// A request body sent upstream: the client's, or nothing (a replayed body-less request).
pub type RequestBody =
    http_body_util::Either<hyper::body::Incoming, http_body_util::Empty<bytes::Bytes>>;

/// A connection's request sender, by protocol.
#[derive(Debug)]
pub enum Sender {
    Http1(http1::SendRequest<RequestBody>),
    Http2(http2::SendRequest<RequestBody>),
}

impl Sender {
    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_closed(),
            Self::Http2(s) => s.is_closed(),
        }
    }

    /// Sends `req`; a request the connection could not take comes back in the error.
    pub async fn send(
        &mut self,
        req: http::Request<RequestBody>,
    ) -> Result<http::Response<Incoming>, TrySendError<http::Request<RequestBody>>> {
        match self {
            Self::Http1(s) => s.try_send_request(req).await,
            Self::Http2(s) => s.try_send_request(req).await,
        }
    }
}

struct Idle {
    endpoint: Arc<Endpoint>,
    senders: Vec<(http1::SendRequest<RequestBody>, Instant)>,
    /// The endpoint's shared HTTP/2 connection, if any.
    shared: Option<http2::SendRequest<RequestBody>>,
}

impl Idle {
    fn new(endpoint: &Arc<Endpoint>) -> Self {
        Self {
            endpoint: Arc::clone(endpoint),
            senders: Vec::new(),
            shared: None,
        }
    }
}

#[derive(Default)]
struct Pool {
    idle: HashMap<u64, Idle>,
    generation: u64,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Why a new upstream connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {0} timed out")]
    Timeout(SocketAddr),
    #[error("connect to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
}

/// An idle, ready sender to `endpoint` (HTTP/1.1) or a clone of its shared connection
/// (HTTP/2), if one is pooled.
pub async fn checkout(
    endpoint: &Arc<Endpoint>,
    idle_timeout: Duration,
    protocol: UpstreamProtocol,
) -> Option<Sender> {
    match protocol {
        UpstreamProtocol::Http1 => checkout_http1(endpoint, idle_timeout)
            .await
            .map(Sender::Http1),
        UpstreamProtocol::H2 => shared(endpoint).map(Sender::Http2),
    }
}

async fn checkout_http1(
    endpoint: &Arc<Endpoint>,
    idle_timeout: Duration,
) -> Option<http1::SendRequest<RequestBody>> {
    loop {
        let (mut sender, since) = POOL.with(|p| {
            p.borrow_mut()
                .idle
                .get_mut(&endpoint.id())
                .and_then(|i| i.senders.pop())
        })?;
        if sender.is_closed() || since.elapsed() >= idle_timeout {
            continue;
        }
        if sender.ready().await.is_ok() {
            return Some(sender);
        }
    }
}

/// A clone of the endpoint's shared HTTP/2 connection, if one is open.
fn shared(endpoint: &Arc<Endpoint>) -> Option<http2::SendRequest<RequestBody>> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = pool.idle.get_mut(&endpoint.id())?;
        match &idle.shared {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                idle.shared = None;
                None
            }
            None => None,
        }
    })
}

/// Makes a new HTTP/2 connection the endpoint's shared one (replacing a closed one), so the
/// requests that follow multiplex on it.
pub fn share(endpoint: &Arc<Endpoint>, sender: &Sender) {
    let Sender::Http2(sender) = sender else {
        return;
    };
    if !endpoint.is_routable_ignoring_active() {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = pool
            .idle
            .entry(endpoint.id())
            .or_insert_with(|| Idle::new(endpoint));
        if idle.shared.as_ref().map_or(true, |s| s.is_closed()) {
            idle.shared = Some(sender.clone());
        }
    });
}

/// Returns a sender whose exchange completed; an HTTP/1.1 one is kept only if the endpoint
/// is still routable (an HTTP/2 clone is dropped: the shared connection stays pooled).
pub fn checkin(endpoint: &Arc<Endpoint>, sender: Sender, since: Instant) {
    let Sender::Http1(sender) = sender else {
        return;
    };
    // An endpoint excluded only by its active check may still serve in panic mode.
    if sender.is_closed() || !endpoint.is_routable_ignoring_active() {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = pool
            .idle
            .entry(endpoint.id())
            .or_insert_with(|| Idle::new(endpoint));
        if idle.senders.len() < MAX_IDLE_PER_ENDPOINT {
            idle.senders.push((sender, since));
        }
    });
}

/// Drops the idle connections of endpoints that are no longer routable. Cheap when
/// `generation` was already swept: call it with each snapshot's generation.
pub fn sweep(generation: u64) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.generation == generation {
            return;
        }
        pool.generation = generation;
        pool.idle
            .retain(|_, idle| idle.endpoint.is_routable_ignoring_active());
    });
}

/// Opens a new connection to `addr`; `upgrades` keeps an HTTP/1.1 one usable for `Upgrade`.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    upgrades: bool,
    protocol: UpstreamProtocol,
) -> Result<Sender, ConnectError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout(addr))?
        .map_err(|e| ConnectError::Io(addr, e))?;
    // Latency matters more than packet count for proxied request/response exchanges.
    let _ = stream.set_nodelay(true);
    if protocol == UpstreamProtocol::H2 {
        return handshake_h2(addr, TokioIo::new(stream)).await;
    }
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    if upgrades {
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
    } else {
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    Ok(Sender::Http1(sender))
}

/// HTTP/2 with prior knowledge over `io`; the connection runs on its own task.
async fn handshake_h2<T>(addr: SocketAddr, io: T) -> Result<Sender, ConnectError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .handshake(io)
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Sender::Http2(sender))
}
