//! Listening sockets and worker threads (data plane).
//!
//! `workers` threads each run a current-thread tokio runtime and accept on their own
//! `SO_REUSEPORT` socket per listener, so the kernel spreads connections and no work is
//! stolen between threads: `workers: 1` is exactly one thread serving traffic. Sockets are
//! bound before any thread starts, so a bind failure (port in use) is reported at start-up.
//! Shutdown: stop accepting, ask every connection to finish gracefully, wait up to the grace.
//!
//! A listener's [`Front`] says what a connection gets before HTTP: nothing (`http`), a TLS
//! handshake bounded by the `header_read` timeout (`https`, then the same hyper server, h2
//! included), or, for an `http` listener with `redirect:`, a redirect answer to every request
//! instead of proxying; on a `tcp` listener, the connection is forwarded as bytes
//! (`proxy::tcp`), and on a `tls-passthrough` one after its ClientHello's SNI chose the
//! service. With ACME on, an `http` listener answers HTTP-01 challenges first. A listener with `proxy_protocol: true` first reads the PROXY header
//! (`proxy::inbound`). Each connection's task: `connection`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use crate::config::Connections;
use crate::metrics as m;
use crate::proxy::access_log::AccessLog;
use crate::proxy::client::ClientConn;
use crate::proxy::redirect::Redirect;
use crate::state::snapshot::Snapshot;
use crate::tls::acme::Acme;
use crate::tls::Terminator;

/// Pending connections queued by the kernel per socket.
const BACKLOG: i32 = 4096;
/// Largest request head accepted; a larger one is answered 431.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How often an idle worker drops pooled connections of drained endpoints.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A listener to serve: its index in the snapshot, name, address and front.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    pub index: usize,
    pub name: Arc<str>,
    pub address: SocketAddr,
    pub front: Front,
    /// `proxy_protocol: true`: the peers allowed to send the header every connection starts
    /// with (`trusted_ips`).
    pub accept_proxy: Option<Arc<[IpNet]>>,
    /// Open client connections at most on this listener (besides `connections.max`).
    pub max_connections: Option<usize>,
    /// `http` listeners with ACME on: HTTP-01 challenges are answered before routing and
    /// before a redirect.
    pub acme: Option<Arc<Acme>>,
    /// The server's access log and trace context (HTTP requests); `None` when both are off.
    pub access_log: Option<Arc<AccessLog>>,
}

/// What a listener's connections get before (or instead of) proxying.
#[derive(Clone, Debug)]
pub enum Front {
    /// Plain HTTP, proxied.
    Http,
    /// A TLS handshake, then proxied.
    Https(Arc<Terminator>),
    /// Plain HTTP, every request redirected to the listener named `to`; to `port`, else to
    /// the port that listener is bound to.
    Redirect { to: Arc<str>, port: Option<u16> },
    /// L4: every connection forwarded as bytes to the listener's one service.
    Tcp,
    /// L4: the ClientHello's SNI chooses the service; TLS is forwarded untouched.
    Passthrough,
}

/// A [`Front`] with its redirect port resolved (bound addresses known).
#[derive(Clone, Debug)]
enum Mode {
    Proxy,
    Tls(Arc<Terminator>),
    Redirect(Arc<Redirect>),
    Tcp,
    Passthrough,
}

impl Mode {
    /// `front` of `spec`; a redirect to an unknown listener (which config refuses) goes to 443.
    fn of(spec: &ListenerSpec, specs: &[ListenerSpec], addresses: &[SocketAddr]) -> Self {
        match &spec.front {
            Front::Http => Self::Proxy,
            Front::Https(t) => Self::Tls(Arc::clone(t)),
            Front::Tcp => Self::Tcp,
            Front::Passthrough => Self::Passthrough,
            Front::Redirect { to, port } => {
                let bound = specs
                    .iter()
                    .zip(addresses)
                    .find(|(s, _)| s.name == *to)
                    .map(|(_, a)| a.port());
                let port = port.or(bound).unwrap_or(443);
                Self::Redirect(Arc::new(Redirect::new(&spec.name, port)))
            }
        }
    }
}

/// Binds one `SO_REUSEPORT` socket for `addr`.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// A listener that failed to bind.
#[derive(Debug, thiserror::Error)]
#[error("listener `{name}` cannot bind {address}: {source}")]
pub struct BindError {
    pub name: Arc<str>,
    pub address: SocketAddr,
    #[source]
    pub source: io::Error,
}

/// The running worker threads.
#[derive(Debug)]
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    /// The bound address of each listener (port 0 resolved), in spec order.
    pub addresses: Vec<SocketAddr>,
}

impl Workers {
    /// Binds every listener `workers` times and starts the worker threads, which admit
    /// connections within `limits`.
    pub fn start(
        specs: &[ListenerSpec],
        workers: usize,
        limits: Connections,
        snapshots: Arc<ArcSwap<Snapshot>>,
    ) -> Result<Self, BindError> {
        let workers = workers.max(1);
        let (sockets, addresses) = bind_all(specs, workers)?;
        let modes: Vec<Mode> = specs
            .iter()
            .map(|s| Mode::of(s, specs, &addresses))
            .collect();
        let gates = gates(specs, limits);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut threads = Vec::with_capacity(workers);
        for (n, per_worker) in sockets.into_iter().enumerate() {
            let snapshots = Arc::clone(&snapshots);
            let rx = shutdown_rx.clone();
            let listeners = specs
                .iter()
                .cloned()
                .zip(modes.iter().cloned())
                .zip(gates.iter().cloned())
                .map(|((spec, mode), gate)| Served { spec, mode, gate })
                .collect();
            let thread = std::thread::Builder::new()
                .name(format!("berth-worker-{n}"))
                .spawn(move || run_worker(listeners, per_worker, snapshots, rx))
                .map_err(|source| BindError {
                    name: "worker".into(),
                    address: addresses[0],
                    source,
                })?;
            threads.push(thread);
        }
        Ok(Self {
            threads,
            shutdown,
            addresses,
        })
    }

    /// Stops accepting, lets connections finish (up to the snapshot's grace), joins threads.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds each listener once per worker: `result[worker][listener]`. A port-0 listener's
/// first socket fixes the port the others reuse.
fn bind_all(
    specs: &[ListenerSpec],
    workers: usize,
) -> Result<(Vec<Vec<std::net::TcpListener>>, Vec<SocketAddr>), BindError> {
    let mut sockets: Vec<Vec<std::net::TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut addresses = Vec::with_capacity(specs.len());
    for spec in specs {
        let err = |source| BindError {
            name: Arc::clone(&spec.name),
            address: spec.address,
            source,
        };
        let first = bind_reuseport(spec.address).map_err(err)?;
        let bound = first.local_addr().map_err(err)?;
        addresses.push(bound);
        sockets[0].push(first);
        for per_worker in sockets.iter_mut().skip(1) {
            per_worker.push(bind_reuseport(bound).map_err(err)?);
        }
    }
    Ok((sockets, addresses))
}

/// The limits of each listener, sharing the total and the per-client counts.
fn gates(specs: &[ListenerSpec], limits: Connections) -> Vec<Gate> {
    let total = Slots::new(limits.max.unwrap_or_else(gate::default_max_connections));
    let per_client = limits.per_client.map(PerClient::new);
    info!(
        max_connections = total.max(),
        per_client = ?limits.per_client,
        "client connection limits"
    );
    specs
        .iter()
        .map(|spec| Gate {
            total: Arc::clone(&total),
            listener: spec.max_connections.map(Slots::new),
            per_client: per_client.clone(),
        })
        .collect()
}

/// One listener as a worker serves it.
#[derive(Clone)]
struct Served {
    spec: ListenerSpec,
    mode: Mode,
    gate: Gate,
}

fn run_worker(
    specs: Vec<Served>,
    sockets: Vec<std::net::TcpListener>,
    snapshots: Arc<ArcSwap<Snapshot>>,
    shutdown: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("worker runtime failed to start: {e}");
            return;
        }
    };
    runtime.block_on(serve(specs, sockets, snapshots, shutdown));
}

/// Live connections of one worker, to wait for at shutdown.
#[derive(Default)]
struct Tracker {
    live: AtomicUsize,
    idle: Notify,
}

async fn serve(
    specs: Vec<Served>,
    sockets: Vec<std::net::TcpListener>,
    snapshots: Arc<ArcSwap<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tracker = Arc::new(Tracker::default());
    let mut accepters = Vec::new();
    for (served, socket) in specs.into_iter().zip(sockets) {
        let spec = &served.spec;
        let listener = match TcpListener::from_std(socket) {
            Ok(l) => l,
            Err(e) => {
                error!(listener = %spec.name, "cannot register socket: {e}");
                continue;
            }
        };
        accepters.push(tokio::spawn(accept_loop(
            served,
            listener,
            Arc::clone(&snapshots),
            Arc::clone(&tracker),
            shutdown.clone(),
        )));
    }
    let sweeper = tokio::spawn(sweep_loop(Arc::clone(&snapshots)));
    stopped(&mut shutdown).await;
    for a in &accepters {
        a.abort();
    }
    let grace = snapshots.load().shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while tracker.live.load(Ordering::Acquire) > 0 {
            tracker.idle.notified().await;
        }
    })
    .await;
    if drained.is_err() {
        info!(
            open = tracker.live.load(Ordering::Acquire),
            "shutdown grace elapsed; closing remaining connections"
        );
    }
    sweeper.abort();
}

async fn sweep_loop(snapshots: Arc<ArcSwap<Snapshot>>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        crate::proxy::pool::sweep(snapshots.load().generation);
    }
}

async fn accept_loop(
    served: Served,
    listener: TcpListener,
    snapshots: Arc<ArcSwap<Snapshot>>,
    tracker: Arc<Tracker>,
    shutdown: watch::Receiver<bool>,
) {
    let Served { spec, mode, gate } = served;
    let builder = Arc::new(server_builder());
    let name = spec.name.to_string();
    let active = metrics::gauge!(m::CONNECTIONS_ACTIVE, "listener" => name.clone());
    let refused = Refused::ALL.map(|r| {
        metrics::counter!(m::CONNECTIONS_REFUSED_TOTAL, "listener" => name.clone(), "reason" => r.reason())
    });
    let errors = metrics::counter!(m::ACCEPT_ERRORS_TOTAL, "listener" => name);
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                errors.increment(1);
                let pause = backoff.failed();
                warn!(listener = %spec.name, "accept failed: {e}; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        backoff.succeeded();
        let admitted = match gate.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(why) => {
                // Closed at once (dropped): the client learns now, not at a timeout.
                refused[why as usize].increment(1);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let client = ClientConn {
            listener: spec.index,
            peer,
            snapshots: Arc::clone(&snapshots),
            access_log: spec.access_log.clone(),
        };
        tracker.live.fetch_add(1, Ordering::AcqRel);
        active.increment(1.0);
        let conn = Connection {
            _admitted: admitted,
            builder: Arc::clone(&builder),
            tracker: Arc::clone(&tracker),
            active: active.clone(),
            shutdown: shutdown.clone(),
            listener: Arc::clone(&spec.name),
            accept_proxy: spec.accept_proxy.clone(),
            acme: spec.acme.clone(),
        };
        conn.spawn(&mode, stream, client);
    }
}

/// Resolves once shutdown is asked for (the watch guard never lives across an await).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

mod connection;
pub mod gate;

use connection::{server_builder, Connection};
use gate::{AcceptBackoff, Gate, PerClient, Refused, Slots};
