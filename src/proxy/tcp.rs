//! L4 connections on `tcp` and `tls-passthrough` listeners (data plane, one task each).
//!
//! A connection is routed once, when it arrives: a `tcp` listener sends every connection to
//! its one service; a `tls-passthrough` listener first reads the client's TLS ClientHello
//! (within `header_read`) and routes by its SNI name, without terminating TLS. The
//! service's selector picks an endpoint, which **balances connections** (least_request
//! counts open connections; `limits.max_in_flight` caps them per endpoint). A connect
//! failure is retried on other endpoints (up to `retries`), and counts toward outlier
//! ejection.
//!
//! Then bytes are copied both ways ([`copy`]), half-close included, until:
//! - both sides have closed (`closed`), or either fails (`reset`);
//! - nothing moved either way for `timeouts.idle` (`idle_timeout`);
//! - the endpoint drains (Docker `kill`/`stop`) or is removed, plus the service's `drain`
//!   grace (`drained`).
//!
//! Each outcome is counted in `berth_tcp_connections_total{listener,service,result}`.
//! Invariant: bytes read before the upstream was chosen (the ClientHello) are forwarded
//! first and untouched; nothing else is added but a PROXY protocol header when the service
//! asks for one.

pub mod copy;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::balance::PickContext;
use crate::metrics as m;
use crate::proxy::admit::{self, Admitted};
use crate::proxy::http::ConnContext;
use crate::proxy::proxy_protocol;
use crate::state::endpoint::{now_ns, Endpoint};
use crate::state::snapshot::Service;

/// Why a connection ended, the `result` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Closed,
    Reset,
    IdleTimeout,
    Drained,
    /// No service for the connection (a `tcp` listener without one, an unknown SNI).
    NoRoute,
    /// The service had no routable endpoint, none accepted a connection, or all were full.
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Reset => "reset",
            Self::IdleTimeout => "idle_timeout",
            Self::Drained => "drained",
            Self::NoRoute => "no_route",
            Self::Unavailable => "unavailable",
        }
    }
}

/// What is known of an L4 connection when it is routed.
pub struct Opening<'a> {
    /// Bytes already read from the client (a ClientHello), forwarded first, then freed.
    pub first: Vec<u8>,
    /// The name to route by: the SNI on a passthrough listener.
    pub sni: Option<&'a str>,
    /// The address the client connected to (from its PROXY header, if it came with one),
    /// for the PROXY header berth sends.
    pub destination: SocketAddr,
}

/// Serves one L4 connection; `cx.peer` is the client (from its PROXY header, if any).
pub async fn serve(client: TcpStream, cx: &ConnContext, opening: Opening<'_>) {
    // Only what the connection needs is kept, not the snapshot: a long-lived connection
    // must not hold every later-replaced route table alive.
    let (listener_name, service, timeouts) = {
        let snapshot = cx.snapshots.load();
        let listener = &snapshot.listeners[cx.listener];
        let found = listener.routes.find(opening.sni, "/");
        (
            Arc::clone(&listener.name),
            found.map(|m| Arc::clone(&m.target.service)),
            snapshot.timeouts.clone(),
        )
    };
    let listener = listener_name;
    let Some(service) = service else {
        info!(listener = %listener, peer = %cx.peer, sni = ?opening.sni,
            "connection closed: no service for this server name");
        count(&listener, "", Outcome::NoRoute);
        return;
    };
    let outcome = match open(&service, cx, timeouts.connect).await {
        Some((upstream, admitted)) => {
            let endpoint = Arc::clone(admitted.in_flight.endpoint());
            let first = match service.spec.proxy_protocol {
                None => opening.first,
                Some(version) => {
                    let mut header = Vec::with_capacity(proxy_protocol::MAX_V1);
                    proxy_protocol::encode(version, cx.peer, opening.destination, &mut header);
                    header.extend_from_slice(&opening.first);
                    header
                }
            };
            relay(client, upstream, &service, &endpoint, first, timeouts.idle).await
        }
        None => Outcome::Unavailable,
    };
    count(&listener, &service.spec.name, outcome);
}

fn count(listener: &str, service: &str, outcome: Outcome) {
    metrics::counter!(
        m::TCP_CONNECTIONS_TOTAL,
        "listener" => listener.to_owned(),
        "service" => service.to_owned(),
        "result" => outcome.as_str()
    )
    .increment(1);
}

/// Picks an endpoint and connects to it, trying others after a failure; the connection and
/// its slot (which counts it as in flight until dropped).
async fn open(
    service: &Service,
    cx: &ConnContext,
    connect_timeout: Duration,
) -> Option<(TcpStream, Admitted)> {
    let headers = HeaderMap::new();
    let ctx = PickContext {
        client_ip: cx.peer.ip(),
        headers: &headers,
    };
    let mut tried = Vec::new();
    for _ in 0..=service.spec.retries {
        let admitted = admit_one(service, &ctx, &tried, connect_timeout).await?;
        let addr = admitted.in_flight.endpoint().addr();
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                service.observe(admitted.index, 200);
                let _ = stream.set_nodelay(true);
                return Some((stream, admitted));
            }
            failed => {
                debug!(service = %service.spec.name, %addr, ?failed, "upstream connect failed");
                service.connect_errors.increment(1);
                service.observe(admitted.index, 502);
                tried.push(admitted.index);
            }
        }
    }
    None
}

async fn admit_one(
    service: &Service,
    ctx: &PickContext<'_>,
    tried: &[usize],
    queue_timeout: Duration,
) -> Option<Admitted> {
    match service.spec.resilience.limits.max_in_flight {
        0 => admit::unlimited(service, ctx, tried, None),
        _ => admit::limited(service, ctx, tried, None, queue_timeout)
            .await
            .ok()
            .flatten(),
    }
}

/// Forwards `first`, then copies both ways until the connection ends (see the module doc).
async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    service: &Service,
    endpoint: &Endpoint,
    first: Vec<u8>,
    idle_timeout: Duration,
) -> Outcome {
    if copy::send(&upstream, &first).await.is_err() {
        return Outcome::Reset;
    }
    drop(first);
    let name = service.spec.name.to_string();
    let sent =
        metrics::counter!(m::TCP_BYTES_TOTAL, "service" => name.clone(), "direction" => "upstream");
    let received =
        metrics::counter!(m::TCP_BYTES_TOTAL, "service" => name, "direction" => "downstream");
    let activity = AtomicU64::new(now_ns());
    let up = copy::Direction {
        from: &client,
        to: &upstream,
        bytes: &sent,
    };
    let down = copy::Direction {
        from: &upstream,
        to: &client,
        bytes: &received,
    };
    tokio::select! {
        done = copy::both_ways(up, down, &activity) => match done {
            Ok(()) => Outcome::Closed,
            Err(_) => Outcome::Reset,
        },
        () = idle(&activity, idle_timeout) => Outcome::IdleTimeout,
        () = drained(endpoint, service.spec.drain) => Outcome::Drained,
    }
}

/// Resolves once nothing was read either way for `limit`.
async fn idle(activity: &AtomicU64, limit: Duration) {
    let limit_ns = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    loop {
        let last = activity.load(Relaxed);
        let quiet = now_ns().saturating_sub(last);
        if quiet >= limit_ns {
            return;
        }
        tokio::time::sleep(Duration::from_nanos(limit_ns - quiet)).await;
    }
}

/// Resolves `grace` after the endpoint starts draining or is removed.
async fn drained(endpoint: &Endpoint, grace: Duration) {
    endpoint.closing().await;
    tokio::time::sleep(grace).await;
}
