//! L4 connections on `tcp` and `tls-passthrough` listeners (data plane, one task each).
//!
//! A connection is routed once, when it arrives (and closed at once when its client is not
//! on the service's allow-list): a `tcp` listener sends every connection to
//! its one service; a `tls-passthrough` listener first reads the client's TLS ClientHello
//! (within `header_read`) and routes by its SNI name, without terminating TLS. The
//! service's selector picks an endpoint, which **balances connections** (least_request
//! counts open connections; `limits.max_in_flight` caps them per endpoint). A connect
//! failure is retried on other endpoints (up to `retries`), and counts toward outlier
//! ejection.
//!
//! Then bytes are copied both ways ([`copy`]), half-close included, until:
//! - both sides have closed (`closed`), or either fails (`reset`);
//! - nothing moved either way for the service's `tcp_idle` (`idle_timeout`);
//! - the endpoint drains (Docker `kill`/`stop`) or is removed, plus the service's `drain`
//!   grace (`drained`).
//!
//! Each outcome is counted in `berth_tcp_connections_total{listener,service,result}`, with
//! counters resolved when the snapshot was built; a connection looks nothing up. A connect
//! retry spends the service's retry budget like an HTTP retry does.
//! Invariant: bytes read before the upstream was chosen (the ClientHello) are forwarded
//! first and untouched; nothing else is added but a PROXY protocol header when the service
//! asks for one.

pub mod copy;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use socket2::SockRef;
use tokio::net::TcpStream;
use tracing::debug;

use crate::balance::PickContext;
use crate::endpoint::{now_ns, Endpoint};
use crate::metrics::TcpCounters;
use crate::proxy::admit::{self, Admitted};
use crate::proxy::client::ClientConn;
use crate::proxy::proxy_protocol;
use crate::state::snapshot::Service;

/// Why a connection ended: an index into [`TcpCounters::outcomes`] ([`crate::metrics::TCP_RESULTS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Closed = 0,
    Reset = 1,
    IdleTimeout = 2,
    Drained = 3,
    /// The service had no routable endpoint, none accepted a connection, or all were full.
    Unavailable = 4,
}

/// What is known of an L4 connection when it is routed.
pub struct Opening<'a> {
    /// Bytes already read from the client (a ClientHello), forwarded first, then freed.
    pub first: Vec<u8>,
    /// The name to route by: the SNI on a passthrough listener.
    pub sni: Option<&'a str>,
    /// The address the client connected to, from its PROXY header; `None`: the socket's
    /// local address, looked up only when berth sends a PROXY header.
    pub destination: Option<SocketAddr>,
}

/// Serves one L4 connection; `cx.peer` is the client (from its PROXY header, if any).
pub async fn serve(client: TcpStream, cx: &ClientConn, opening: Opening<'_>) {
    let (route, timeouts) = {
        let snapshot = cx.snapshots.load();
        let listener = &snapshot.listeners[cx.listener];
        let found = listener.routes.find(opening.sni, "/");
        let Some(route) = found.map(|m| Arc::clone(m.target)) else {
            debug!(listener = %listener.name, peer = %cx.peer, sni = ?opening.sni,
                "connection closed: no service for this server name");
            listener.no_route.increment(1);
            return;
        };
        (route, snapshot.timeouts.clone())
    };
    // Invariant: routes of L4 listeners carry their counters (`ServiceRoute::tcp`), and the
    // reconciler puts only L4 services there.
    let Some(counters) = route.tcp.clone() else {
        return;
    };
    if let Some(allow) = &route.service.spec.policies.allow {
        if !allow.allows(cx.peer.ip()) {
            debug!(service = %route.service.spec.name, peer = %cx.peer,
                "connection closed: not on the allow-list");
            crate::metrics::policy_denied(&route.service.spec.name, "allow", "ip");
            return;
        }
    }
    let Some((upstream, admitted)) = open(&route.service, cx, timeouts.connect).await else {
        counters.outcomes[Outcome::Unavailable as usize].increment(1);
        return;
    };
    // From here on the connection keeps its endpoint and settings, not the service: a
    // long-lived connection must not hold a replaced service (selector tables) alive.
    let spec = Arc::clone(&route.service.spec);
    drop(route);
    let first = match spec.proxy_protocol {
        None => opening.first,
        Some(version) => {
            let mut header = Vec::with_capacity(proxy_protocol::MAX_V1);
            let destination = opening.destination.or_else(|| client.local_addr().ok());
            let destination = destination.unwrap_or(cx.peer);
            proxy_protocol::encode(version, cx.peer, destination, &mut header);
            header.extend_from_slice(&opening.first);
            header
        }
    };
    let link = Link {
        client,
        upstream,
        endpoint: admitted.in_flight.endpoint(),
        counters: &counters,
    };
    let outcome = link.relay(first, spec.tcp_idle, spec.drain).await;
    counters.outcomes[outcome as usize].increment(1);
}

/// Picks an endpoint and connects to it, trying others after a failure; the connection and
/// its slot (which counts it as in flight until dropped).
async fn open(
    service: &Service,
    cx: &ClientConn,
    connect_timeout: Duration,
) -> Option<(TcpStream, Admitted)> {
    let headers = HeaderMap::new();
    let ctx = PickContext {
        client_ip: cx.peer.ip(),
        headers: &headers,
    };
    let mut tried = Vec::new();
    service.count_request(now_ns());
    for attempt in 0..=service.spec.retries {
        if attempt > 0 {
            if !service.try_retry(now_ns()) {
                return None;
            }
            service.retries.increment(1);
        }
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
        0 => admit::unlimited(service, ctx, tried, (None, None)),
        _ => admit::limited(service, ctx, tried, (None, None), queue_timeout)
            .await
            .ok()
            .flatten(),
    }
}

/// A connected client and endpoint.
struct Link<'a> {
    client: TcpStream,
    upstream: TcpStream,
    endpoint: &'a Endpoint,
    counters: &'a TcpCounters,
}

impl Link<'_> {
    /// Forwards `first`, then copies both ways until the connection ends (see the module
    /// doc). A reset on one side is passed on as a reset (`SO_LINGER` 0), not a clean close
    /// that could pass a cut-short answer as whole.
    async fn relay(self, first: Vec<u8>, idle_timeout: Duration, grace: Duration) -> Outcome {
        if copy::send(&self.upstream, &first).await.is_err() {
            self.reset();
            return Outcome::Reset;
        }
        drop(first);
        let activity = AtomicU64::new(now_ns());
        let up = copy::Direction {
            from: &self.client,
            to: &self.upstream,
            bytes: &self.counters.sent,
        };
        let down = copy::Direction {
            from: &self.upstream,
            to: &self.client,
            bytes: &self.counters.received,
        };
        let outcome = tokio::select! {
            done = copy::both_ways(up, down, &activity) => match done {
                Ok(()) => Outcome::Closed,
                Err(_) => Outcome::Reset,
            },
            () = idle(&activity, idle_timeout) => Outcome::IdleTimeout,
            () = drained(self.endpoint, grace) => Outcome::Drained,
        };
        if outcome == Outcome::Reset {
            self.reset();
        }
        outcome
    }

    /// Closes both sides with a reset.
    fn reset(&self) {
        for s in [&self.client, &self.upstream] {
            let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
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
