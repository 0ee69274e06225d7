//! Upstream HTTP/1.1 connections, pooled per endpoint and per worker thread (data plane).
//!
//! Each worker is a current-thread runtime, so its pool is a thread-local map from endpoint id
//! to idle senders: no lock, no sharing. A sender goes back to the pool only after its
//! response body ended; a sender whose connection closed, or that idled past the timeout, is
//! dropped on checkout. [`sweep`] drops every idle connection of an endpoint that is draining
//! or removed, so a drain closes keep-alive connections at once instead of on next use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::state::endpoint::Endpoint;

/// Idle connections kept per endpoint per worker; more are closed when returned.
const MAX_IDLE_PER_ENDPOINT: usize = 512;

/// A request body sent upstream: the client's, or nothing (a replayed body-less request).
pub type RequestBody =
    http_body_util::Either<hyper::body::Incoming, http_body_util::Empty<bytes::Bytes>>;

pub type Sender = SendRequest<RequestBody>;

struct Idle {
    endpoint: Arc<Endpoint>,
    senders: Vec<(Sender, Instant)>,
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

/// An idle, ready sender to `endpoint`, if one is pooled.
pub async fn checkout(endpoint: &Arc<Endpoint>, idle_timeout: Duration) -> Option<Sender> {
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

/// Returns a sender whose exchange completed; kept only if the endpoint is still routable.
pub fn checkin(endpoint: &Arc<Endpoint>, sender: Sender, since: Instant) {
    // An endpoint excluded only by its active check may still serve in panic mode.
    if sender.is_closed() || !endpoint.is_routable_ignoring_active() {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = pool.idle.entry(endpoint.id()).or_insert_with(|| Idle {
            endpoint: Arc::clone(endpoint),
            senders: Vec::new(),
        });
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

/// Opens a new HTTP/1.1 connection to `addr`; `upgrades` keeps it usable for `Upgrade`.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    upgrades: bool,
) -> Result<Sender, ConnectError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout(addr))?
        .map_err(|e| ConnectError::Io(addr, e))?;
    // Latency matters more than packet count for proxied request/response exchanges.
    let _ = stream.set_nodelay(true);
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
    Ok(sender)
}
