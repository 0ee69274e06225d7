//! One accepted client connection, from its first byte to its close (data plane).
//!
//! [`Connection::spawn`] gives each connection a task of the type its listener needs: a plain
//! proxying connection is the hyper server alone; an L4 connection (`tcp`,
//! `tls-passthrough`) is a small task without the HTTP server's state; the rest (TLS, a
//! redirecting listener, a listener that expects a PROXY header) read what comes first, then
//! serve HTTP. Invariant: the connection counts in its listener's `connections_active` and
//! in the worker's tracker from accept until the task ends (`Drop`).

use std::convert::Infallible;
use std::future::ready;

use futures_util::future::Either;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::Instant;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ipnet::IpNet;
use tokio::sync::{oneshot, watch};
use tracing::debug;

use super::{stopped, Mode, Tracker, MAX_HEADER_BYTES};
use crate::metrics as m;
use crate::proxy::access_log::ServedBody;
use crate::proxy::client::ClientConn;
use crate::proxy::conn::{self, Expiry, Tracked};
use crate::proxy::http::{handle, ConnContext};
use crate::proxy::redirect::Redirect;
use crate::proxy::{inbound, tcp};
use crate::tls::acme::Acme;
use crate::tls::stream::ClientStream;
use crate::tls::Terminator;

/// hyper's header-read timer is off: it would also cut idle keep-alive connections at
/// `header_read`; [`conn::watchdog`] enforces both timeouts instead.
pub(super) fn server_builder() -> auto::Builder<TokioExecutor> {
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

/// The address a PROXY header says the client connected to; `None` without one (the
/// socket's own local address then, looked up only if needed).
type Destination = Option<SocketAddr>;

/// One accepted client connection.
pub(super) struct Connection {
    /// Its slots under the connection limits, given back when it ends.
    pub(super) _admitted: super::gate::Admitted,
    pub(super) builder: Arc<auto::Builder<TokioExecutor>>,
    pub(super) tracker: Arc<Tracker>,
    pub(super) active: metrics::Gauge,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) listener: Arc<str>,
    pub(super) accept_proxy: Option<Arc<[IpNet]>>,
    /// ACME's HTTP-01 answers, on an `http` listener with ACME on.
    pub(super) acme: Option<Arc<Acme>>,
}

impl Connection {
    /// Serves the connection in a task of its own. A plain proxying connection without a
    /// PROXY header to read is the HTTP server alone, with nothing wrapped around it.
    pub(super) fn spawn(self, mode: &Mode, stream: tokio::net::TcpStream, client: ClientConn) {
        match (mode, &self.accept_proxy, &self.acme) {
            (Mode::Proxy, None, None) => {
                let cx = Arc::new(ConnContext::new(client, "http"));
                let plain = ClientStream::Plain(stream);
                tokio::spawn(self.serve_http(plain, Arc::clone(&cx), proxying(cx)));
            }
            // A task type of their own, free of the HTTP server's state: an idle L4
            // connection costs its sockets and this small task.
            (Mode::Tcp | Mode::Passthrough, _, _) => {
                let sni = matches!(mode, Mode::Passthrough);
                tokio::spawn(self.run_l4(sni, stream, client));
            }
            _ => {
                tokio::spawn(self.run(mode.clone(), stream, client));
            }
        }
    }

    /// Reads the PROXY header if the listener expects one; `None` when the connection must
    /// be closed. `client.peer` becomes the header's client.
    async fn accepted(
        &self,
        stream: &mut tokio::net::TcpStream,
        client: &mut ClientConn,
        deadline: Instant,
    ) -> Option<Destination> {
        let Some(trusted) = &self.accept_proxy else {
            return Some(None);
        };
        let read = inbound::proxy_header(stream, client.peer, trusted, &self.listener, deadline);
        let (source, destination) = read.await?;
        if let Some(source) = source {
            client.peer = source;
        }
        Some(destination)
    }

    /// An HTTP-speaking connection of a listener that expects a PROXY header, or any
    /// connection of an `https` or redirecting listener.
    async fn run(self, mode: Mode, mut stream: tokio::net::TcpStream, mut client: ClientConn) {
        let deadline = Instant::now() + client.snapshots.load().timeouts.header_read;
        if self
            .accepted(&mut stream, &mut client, deadline)
            .await
            .is_none()
        {
            return;
        }
        match mode {
            Mode::Proxy => {
                let cx = Arc::new(ConnContext::new(client, "http"));
                let plain = ClientStream::Plain(stream);
                let service = challenges(self.acme.clone(), proxying(Arc::clone(&cx)));
                self.serve_http(plain, cx, service).await;
            }
            Mode::Tls(t) => self.serve_tls(stream, client, t, deadline).await,
            Mode::Redirect(r) => {
                let cx = Arc::new(ConnContext::new(client, "http"));
                let plain = ClientStream::Plain(stream);
                let service = challenges(self.acme.clone(), redirecting(&r, Arc::clone(&cx)));
                self.serve_http(plain, cx, service).await;
            }
            Mode::Tcp | Mode::Passthrough => {
                self.run_l4(matches!(mode, Mode::Passthrough), stream, client)
                    .await;
            }
        }
    }

    /// An L4 connection: its PROXY header if expected, the ClientHello's SNI on a
    /// passthrough listener, then the copy (`proxy::tcp`).
    /// The PROXY header and the ClientHello share one `header_read` deadline.
    async fn run_l4(self, sni: bool, mut stream: tokio::net::TcpStream, mut client: ClientConn) {
        let deadline = Instant::now() + client.snapshots.load().timeouts.header_read;
        let Some(destination) = self.accepted(&mut stream, &mut client, deadline).await else {
            return;
        };
        let mut hello = Vec::new();
        let name = match sni {
            true => {
                let peek = inbound::client_hello(
                    &mut stream,
                    &mut hello,
                    client.peer,
                    &self.listener,
                    deadline,
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
        tcp::serve(stream, &client, opening).await;
    }

    /// The TLS handshake (by `deadline`, shared with a PROXY header before it), then HTTP on
    /// the decrypted stream.
    async fn serve_tls(
        self,
        tcp: tokio::net::TcpStream,
        client: ClientConn,
        t: Arc<Terminator>,
        deadline: Instant,
    ) {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let Ok(tls) = t.accept(tcp, timeout).await else {
            return;
        };
        if Terminator::is_challenge(&tls) {
            return;
        }
        let cx = Arc::new(ConnContext::new(client, "https"));
        let service = proxying(Arc::clone(&cx));
        self.serve_http(ClientStream::Tls(Box::new(tls)), cx, service)
            .await;
    }

    /// Serves HTTP on `stream` (plain or decrypted) with `service`, under the timeouts.
    async fn serve_http<S>(self, stream: ClientStream, cx: Arc<ConnContext>, service: S)
    where
        S: hyper::service::Service<
                hyper::Request<hyper::body::Incoming>,
                Response = hyper::Response<ServedBody>,
                Error = Infallible,
            > + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let timeouts = cx.client.snapshots.load().timeouts.clone();
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
                // A slow request head is cut at once; idle and shutdown close gracefully. An
                // idle connection has no request in flight, so its graceful close is quick,
                // unless the peer holds a stream it never finishes (an HTTP/2 HEADERS
                // trickle): it gets `header_read` for that, like any head.
                if close != Some(Expiry::HeadTimeout) {
                    conn.as_mut().graceful_shutdown();
                    match close {
                        Some(Expiry::Idle) => {
                            let _ = tokio::time::timeout(timeouts.header_read, conn).await;
                        }
                        _ => {
                            let _ = conn.await;
                        }
                    }
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
    Response = hyper::Response<ServedBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<ServedBody>, Infallible>> + Send,
> + Send {
    service_fn(move |req| handle(Arc::clone(&cx), req))
}

/// `service`, with ACME's HTTP-01 challenges answered first when `acme` is set.
fn challenges<S>(
    acme: Option<Arc<Acme>>,
    service: S,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<ServedBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<ServedBody>, Infallible>> + Send,
> + Send
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<ServedBody>,
            Error = Infallible,
        > + Send,
    S::Future: Send,
{
    service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let answer = acme.as_ref().and_then(|a| a.http_answer(req.uri().path()));
        match answer {
            Some(key_authorization) => {
                Either::Left(ready(Ok(challenge_answer(&key_authorization))))
            }
            None => Either::Right(hyper::service::Service::call(&service, req)),
        }
    })
}

/// The body RFC 8555 §8.3 asks for: the key authorization, as `application/octet-stream`.
fn challenge_answer(key_authorization: &str) -> hyper::Response<ServedBody> {
    let body =
        http_body_util::Full::new(bytes::Bytes::copy_from_slice(key_authorization.as_bytes()));
    let mut response = hyper::Response::new(http_body_util::Either::Left(
        http_body_util::Either::Right(body),
    ));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// The redirecting service of one connection.
fn redirecting(
    r: &Arc<Redirect>,
    cx: Arc<ConnContext>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<ServedBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<ServedBody>, Infallible>> + Send,
> + Send {
    let r = Arc::clone(r);
    service_fn(move |req| ready(Ok(redirect_now(&r, &cx, &req))))
}

/// Answers a request of a redirecting listener (counted as a request for the timeouts).
fn redirect_now<B>(
    r: &Redirect,
    cx: &ConnContext,
    req: &hyper::Request<B>,
) -> hyper::Response<ServedBody> {
    cx.activity.request_started();
    let response = r.respond(req);
    cx.activity.request_finished();
    response.map(http_body_util::Either::Left)
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.active.decrement(1.0);
        if self.tracker.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker.idle.notify_one();
        }
    }
}
