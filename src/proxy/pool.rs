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
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, TryFutureExt};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2, TrySendError};

use crate::endpoint::Endpoint;
use crate::model::UpstreamProtocol;

/// Idle connections kept per endpoint per worker; more are closed when returned.
const MAX_IDLE_PER_ENDPOINT: usize = 512;

/// A request body sent upstream: the client's (body-less as it is, else watched), or nothing
/// (a replayed body-less request).
pub type RequestBody = http_body_util::Either<
    hyper::body::Incoming,
    http_body_util::Either<crate::proxy::body::WatchedBody, http_body_util::Empty<bytes::Bytes>>,
>;

/// A connection's request sender.
#[derive(Debug)]
pub struct Sender {
    pub conn: Conn,
    /// The TLS server name it was opened for, when that is the request's host (a service
    /// with `https` endpoints and no `server_name`): only requests for that host reuse it.
    pub name: Option<Arc<str>>,
}

/// The sending half of an HTTP/1.1 or HTTP/2 connection.
#[derive(Debug)]
pub enum Conn {
    Http1(http1::SendRequest<RequestBody>),
    Http2(http2::SendRequest<H2Body>),
}

impl Sender {
    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        match &self.conn {
            Conn::Http1(s) => s.is_closed(),
            Conn::Http2(s) => s.is_closed(),
        }
    }

    /// Sends `req`; a request the connection could not take comes back in the error. The
    /// request is handed to the connection now, as hyper's own `try_send_request` does (not
    /// an `async fn`: that would move the request into one more future first).
    pub fn send(
        &mut self,
        req: http::Request<RequestBody>,
    ) -> impl Future<Output = Result<http::Response<Incoming>, SendError>> {
        match &mut self.conn {
            Conn::Http1(s) => Either::Left(s.try_send_request(req).map_err(SendError::from)),
            Conn::Http2(s) => Either::Right(
                s.try_send_request(req.map(H2Body))
                    .map_err(SendError::from_h2),
            ),
        }
    }

    /// Whether a request whose TLS name is `name` may use this connection.
    fn serves(&self, name: Option<&str>) -> bool {
        self.name.as_deref() == name
    }
}

/// A request that failed, and the request itself when it was not sent.
pub struct SendError {
    pub error: hyper::Error,
    pub unsent: Option<http::Request<RequestBody>>,
}

impl From<TrySendError<http::Request<RequestBody>>> for SendError {
    fn from(mut e: TrySendError<http::Request<RequestBody>>) -> Self {
        let unsent = e.take_message();
        Self {
            error: e.into_error(),
            unsent,
        }
    }
}

impl SendError {
    fn from_h2(mut e: TrySendError<http::Request<H2Body>>) -> Self {
        let unsent = e.take_message().map(|r| r.map(|b| b.0));
        Self {
            error: e.into_error(),
            unsent,
        }
    }
}

/// The request body as HTTP/2 connections take it: the same body in a distinct type, so
/// hyper's generic client code is instantiated apart for HTTP/2 and its HTTP/1.1
/// instantiation is optimised as before (measured with `benches/instructions.sh`: sharing it
/// cost the HTTP/1.1 path ~100 instructions per request).
#[derive(Debug)]
pub struct H2Body(RequestBody);

impl http_body::Body for H2Body {
    type Data = bytes::Bytes;
    type Error = <RequestBody as http_body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

struct Idle {
    endpoint: Arc<Endpoint>,
    /// Idle HTTP/1.1 connections (always `Conn::Http1`), each with when it went idle.
    senders: Vec<(Sender, Instant)>,
    /// The endpoint's shared HTTP/2 connection, if any (always `Conn::Http2`).
    shared: Option<Sender>,
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

/// An idle, ready sender to `endpoint` (HTTP/1.1) or a clone of its shared connection
/// (HTTP/2), if one is pooled.
/// `name` is the request's TLS server name when connections are opened per host (see
/// [`Sender::name`]), else `None`.
pub async fn checkout(
    endpoint: &Arc<Endpoint>,
    idle_timeout: Duration,
    protocol: UpstreamProtocol,
    name: Option<&str>,
) -> Option<Sender> {
    match protocol {
        UpstreamProtocol::Http1 => checkout_http1(endpoint, idle_timeout, name).await,
        UpstreamProtocol::H2 => shared(endpoint, name),
    }
}

async fn checkout_http1(
    endpoint: &Arc<Endpoint>,
    idle_timeout: Duration,
    name: Option<&str>,
) -> Option<Sender> {
    loop {
        let (mut sender, since) = POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let senders = &mut pool.idle.get_mut(&endpoint.id())?.senders;
            if name.is_none() {
                // No TLS names (the usual case): every sender of the endpoint serves.
                return senders.pop();
            }
            let i = senders.iter().rposition(|(s, _)| s.serves(name))?;
            Some(senders.swap_remove(i))
        })?;
        if sender.is_closed() || since.elapsed() >= idle_timeout {
            continue;
        }
        let Conn::Http1(inner) = &mut sender.conn else {
            continue;
        };
        if inner.ready().await.is_ok() {
            return Some(sender);
        }
    }
}

/// A clone of the endpoint's shared HTTP/2 connection, if one is open for `name`.
fn shared(endpoint: &Arc<Endpoint>, name: Option<&str>) -> Option<Sender> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = pool.idle.get_mut(&endpoint.id())?;
        let shared = idle.shared.as_ref()?;
        if shared.is_closed() {
            idle.shared = None;
            return None;
        }
        match (&shared.conn, shared.serves(name)) {
            (Conn::Http2(s), true) => Some(Sender {
                conn: Conn::Http2(s.clone()),
                name: shared.name.clone(),
            }),
            _ => None,
        }
    })
}

/// Makes a new HTTP/2 connection the endpoint's shared one (replacing a closed one), so the
/// requests that follow multiplex on it.
pub fn share(endpoint: &Arc<Endpoint>, sender: &Sender) {
    let Conn::Http2(conn) = &sender.conn else {
        return;
    };
    if !endpoint.is_routable_ignoring_active() {
        return;
    }
    with_idle(endpoint, |idle| {
        if idle.shared.as_ref().map_or(true, |s| s.is_closed()) {
            idle.shared = Some(Sender {
                conn: Conn::Http2(conn.clone()),
                name: sender.name.clone(),
            });
        }
    });
}

/// Returns a sender whose exchange completed; an HTTP/1.1 one is kept only if the endpoint
/// is still routable (an HTTP/2 clone is dropped: the shared connection stays pooled).
pub fn checkin(endpoint: &Arc<Endpoint>, sender: Sender, since: Instant) {
    if matches!(sender.conn, Conn::Http2(_)) {
        return;
    }
    // An endpoint excluded only by its active check may still serve in panic mode.
    if sender.is_closed() || !endpoint.is_routable_ignoring_active() {
        return;
    }
    with_idle(endpoint, |idle| {
        if idle.senders.len() < MAX_IDLE_PER_ENDPOINT {
            idle.senders.push((sender, since));
        }
    });
}

/// Runs `f` on this worker's idle connections of `endpoint` (created when it has none yet).
fn with_idle(endpoint: &Arc<Endpoint>, f: impl FnOnce(&mut Idle)) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = pool
            .idle
            .entry(endpoint.id())
            .or_insert_with(|| Idle::new(endpoint));
        f(idle);
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
