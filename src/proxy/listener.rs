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
//! (`proxy::tcp`).

use std::convert::Infallible;
use std::future::ready;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ipnet::IpNet;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};
use tracing::{debug, error, info};

use crate::metrics as m;
use crate::proxy::conn::{self, Expiry, Tracked};
use crate::proxy::error::ProxyBody;
use crate::proxy::http::{handle, ConnContext};
use crate::proxy::{inbound, tcp};
use crate::state::snapshot::Snapshot;
use crate::tls::redirect::Redirect;
use crate::tls::stream::ClientStream;
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
    /// Binds every listener `workers` times and starts the worker threads.
    pub fn start(
        specs: &[ListenerSpec],
        workers: usize,
        snapshots: Arc<ArcSwap<Snapshot>>,
    ) -> Result<Self, BindError> {
        let workers = workers.max(1);
        let (sockets, addresses) = bind_all(specs, workers)?;
        let modes: Vec<Mode> = specs
            .iter()
            .map(|s| Mode::of(s, specs, &addresses))
            .collect();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut threads = Vec::with_capacity(workers);
        for (n, per_worker) in sockets.into_iter().enumerate() {
            let snapshots = Arc::clone(&snapshots);
            let rx = shutdown_rx.clone();
            let listeners = specs.iter().cloned().zip(modes.iter().cloned()).collect();
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

fn run_worker(
    specs: Vec<(ListenerSpec, Mode)>,
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
    specs: Vec<(ListenerSpec, Mode)>,
    sockets: Vec<std::net::TcpListener>,
    snapshots: Arc<ArcSwap<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tracker = Arc::new(Tracker::default());
    let mut accepters = Vec::new();
    for ((spec, mode), socket) in specs.into_iter().zip(sockets) {
        let listener = match TcpListener::from_std(socket) {
            Ok(l) => l,
            Err(e) => {
                error!(listener = %spec.name, "cannot register socket: {e}");
                continue;
            }
        };
        accepters.push(tokio::spawn(accept_loop(
            spec,
            mode,
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
    spec: ListenerSpec,
    mode: Mode,
    listener: TcpListener,
    snapshots: Arc<ArcSwap<Snapshot>>,
    tracker: Arc<Tracker>,
    shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(server_builder());
    let active = metrics::gauge!(m::CONNECTIONS_ACTIVE, "listener" => spec.name.to_string());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                debug!(listener = %spec.name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let cx = ConnContext::new(spec.index, peer, Arc::clone(&snapshots));
        tracker.live.fetch_add(1, Ordering::AcqRel);
        active.increment(1.0);
        let conn = Connection {
            builder: Arc::clone(&builder),
            tracker: Arc::clone(&tracker),
            active: active.clone(),
            shutdown: shutdown.clone(),
            listener: Arc::clone(&spec.name),
            accept_proxy: spec.accept_proxy.clone(),
        };
        conn.spawn(&mode, stream, cx);
    }
}

/// hyper's header-read timer is off: it would also cut idle keep-alive connections at
/// `header_read`; [`conn::watchdog`] enforces both timeouts instead.
fn server_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    builder
}

/// One accepted client connection.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    tracker: Arc<Tracker>,
    active: metrics::Gauge,
    shutdown: watch::Receiver<bool>,
    listener: Arc<str>,
    accept_proxy: Option<Arc<[IpNet]>>,
}

impl Connection {
    /// Serves the connection in a task of its own. A plain proxying connection without a
    /// PROXY header to read is the HTTP server alone, with nothing wrapped around it.
    fn spawn(self, mode: &Mode, stream: tokio::net::TcpStream, cx: ConnContext) {
        match (mode, &self.accept_proxy) {
            (Mode::Proxy, None) => {
                let cx = Arc::new(cx);
                let plain = ClientStream::Plain(stream);
                tokio::spawn(self.serve_http(plain, Arc::clone(&cx), proxying(cx)));
            }
            // A task type of their own, free of the HTTP server's state: an idle L4
            // connection costs its sockets and this small task.
            (Mode::Tcp | Mode::Passthrough, _) => {
                let sni = matches!(mode, Mode::Passthrough);
                tokio::spawn(self.run_l4(sni, stream, cx));
            }
            _ => {
                tokio::spawn(self.run(mode.clone(), stream, cx));
            }
        }
    }

    /// Reads the PROXY header if the listener expects one: the address the client connected
    /// to; `None` when the connection must be closed. `cx.peer` becomes the header's client.
    async fn accepted(
        &self,
        stream: &mut tokio::net::TcpStream,
        cx: &mut ConnContext,
        timeout: Duration,
    ) -> Option<SocketAddr> {
        let local = stream.local_addr().unwrap_or(cx.peer);
        let Some(trusted) = &self.accept_proxy else {
            return Some(local);
        };
        let read = inbound::proxy_header(stream, cx.peer, trusted, &self.listener, timeout);
        let (source, destination) = read.await?;
        if let Some(source) = source {
            cx.set_peer(source);
        }
        Some(destination.unwrap_or(local))
    }

    /// An HTTP-speaking connection of a listener that expects a PROXY header, or any
    /// connection of an `https` or redirecting listener.
    async fn run(self, mode: Mode, mut stream: tokio::net::TcpStream, mut cx: ConnContext) {
        let timeout = cx.snapshots.load().timeouts.header_read;
        if self.accepted(&mut stream, &mut cx, timeout).await.is_none() {
            return;
        }
        match mode {
            Mode::Proxy => {
                let cx = Arc::new(cx);
                let plain = ClientStream::Plain(stream);
                self.serve_http(plain, Arc::clone(&cx), proxying(cx)).await;
            }
            Mode::Tls(t) => self.serve_tls(stream, cx, t).await,
            Mode::Redirect(r) => {
                let cx = Arc::new(cx);
                let plain = ClientStream::Plain(stream);
                self.serve_http(plain, Arc::clone(&cx), redirecting(&r, cx))
                    .await;
            }
            Mode::Tcp | Mode::Passthrough => {
                self.run_l4(matches!(mode, Mode::Passthrough), stream, cx)
                    .await;
            }
        }
    }

    /// An L4 connection: its PROXY header if expected, the ClientHello's SNI on a
    /// passthrough listener, then the copy (`proxy::tcp`).
    async fn run_l4(self, sni: bool, mut stream: tokio::net::TcpStream, mut cx: ConnContext) {
        let timeout = cx.snapshots.load().timeouts.header_read;
        let Some(destination) = self.accepted(&mut stream, &mut cx, timeout).await else {
            return;
        };
        let mut hello = Vec::new();
        let name = match sni {
            true => {
                let peek = inbound::client_hello(
                    &mut stream,
                    &mut hello,
                    cx.peer,
                    &self.listener,
                    timeout,
                );
                let Some(name) = peek.await else { return };
                Some(name)
            }
            false => None,
        };
        let opening = tcp::Opening {
            first: hello,
            sni: name.as_ref().map(|n| n.as_str()),
            destination,
        };
        tcp::serve(stream, &cx, opening).await;
    }

    /// The TLS handshake, then HTTP on the decrypted stream.
    async fn serve_tls(self, tcp: tokio::net::TcpStream, mut cx: ConnContext, t: Arc<Terminator>) {
        let timeout = cx.snapshots.load().timeouts.header_read;
        let Ok(tls) = t.accept(tcp, timeout).await else {
            return;
        };
        cx.proto = "https";
        let cx = Arc::new(cx);
        let service = proxying(Arc::clone(&cx));
        self.serve_http(ClientStream::Tls(Box::new(tls)), cx, service)
            .await;
    }

    /// Serves HTTP on `stream` (plain or decrypted) with `service`, under the timeouts.
    async fn serve_http<S>(self, stream: ClientStream, cx: Arc<ConnContext>, service: S)
    where
        S: hyper::service::Service<
                hyper::Request<hyper::body::Incoming>,
                Response = hyper::Response<ProxyBody>,
                Error = Infallible,
            > + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let timeouts = cx.snapshots.load().timeouts.clone();
        let activity = Arc::clone(&cx.activity);
        let io = TokioIo::new(Tracked::new(stream, Arc::clone(&activity)));
        let conn = self.builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(conn);
        // The timers live in their own task: polling them beside the connection would cost
        // every wake-up of the connection (each request) a timer and a watch poll.
        let (close_tx, mut close_rx) = oneshot::channel();
        let mut shutdown = self.shutdown.clone();
        let guard = tokio::spawn(async move {
            let close = tokio::select! {
                expiry = conn::watchdog(&activity, timeouts.idle, timeouts.header_read) => Some(expiry),
                () = stopped(&mut shutdown) => None,
            };
            let _ = close_tx.send(close);
        });
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    debug!("client connection ended: {e}");
                    metrics::counter!(m::CONNECTIONS_CLOSED_TOTAL, "reason" => "error").increment(1);
                }
            }
            Ok(close) = &mut close_rx => {
                if let Some(expiry) = close {
                    metrics::counter!(m::CONNECTIONS_CLOSED_TOTAL, "reason" => expiry.as_str()).increment(1);
                }
                // A slow request head is cut at once; idle and shutdown close gracefully.
                if close != Some(Expiry::HeadTimeout) {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        }
        guard.abort();
    }
}

/// The proxying service of one connection.
fn proxying(
    cx: Arc<ConnContext>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<ProxyBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<ProxyBody>, Infallible>> + Send,
> + Send {
    service_fn(move |req| handle(Arc::clone(&cx), req))
}

/// The redirecting service of one connection.
fn redirecting(
    r: &Arc<Redirect>,
    cx: Arc<ConnContext>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<ProxyBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<ProxyBody>, Infallible>> + Send,
> + Send {
    let r = Arc::clone(r);
    service_fn(move |req| ready(Ok(redirect_now(&r, &cx, &req))))
}

/// Answers a request of a redirecting listener (counted as a request for the timeouts).
fn redirect_now<B>(
    r: &Redirect,
    cx: &ConnContext,
    req: &hyper::Request<B>,
) -> hyper::Response<ProxyBody> {
    cx.activity.request_started();
    let response = r.respond(req);
    cx.activity.request_finished();
    response
}

/// Resolves once shutdown is asked for (the watch guard never lives across an await).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.active.decrement(1.0);
        if self.tracker.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker.idle.notify_one();
        }
    }
}
