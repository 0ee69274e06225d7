//! `replica`: the test backend that runs inside containers in the Docker tests.
//!
//! A small HTTP/1.1 service that behaves like a real one: it answers its name, can be slow,
//! has a health endpoint that tests flip from outside, and as PID 1 it handles SIGTERM/SIGINT
//! by draining (stop accepting, finish in-flight requests for up to 10 s, exit 0).
//!
//! - `GET /` (and any other GET path) → 200, body and `x-replica` header = `NAME`; every answer
//!   carries `x-path` (the path as received, to check prefix stripping).
//! - `GET /slow?ms=N` → sleeps N ms, then answers like `/`.
//! - `GET /headers` → 200, the request's headers as received, one `name: value` line each
//!   (to check the header edits of a proxy in front).
//! - `GET /big?bytes=N` → 200, a `text/plain` body of N bytes (at most 16 MiB) of repeated
//!   text, with its `Content-Length` (to check response compression).
//! - `POST /echo` → 200, the request body back.
//! - `GET /health` → 200 `ok`, or 503 `unhealthy`.
//! - `POST /health/fail`, `POST /health/ok` → flip the health state.
//! - `POST /fail/N` (N a status, e.g. 500) → from now on every GET but `/health` answers N
//!   (body and `x-replica` = `NAME`, as usual); `POST /fail/off` → normal answers again.
//! - `POST /hang` → from now on every GET but `/health` is read and then held without an
//!   answer until `POST /hang/off` (then it is answered normally, if anyone still listens).
//!   For request timeouts: the connection stays open and silent.
//! - The switches answer 200 with the new state; `/health` and the switches themselves are
//!   never failed or held.
//! - `ECHO_PORT` set: a TCP service on that port too, for L4 tests: each connection gets
//!   `NAME\n`, then its own bytes back. Its connections live until the process exits, so
//!   with `STOP_DELAY_MS` they outlive a SIGTERM by that long.
//! - `replica probe` → GET `http://127.0.0.1:$PORT/health` with std only (no runtime), exit 0
//!   on 200, else 1. The test image's `HEALTHCHECK` runs this.
//!
//! Environment: `PORT` (8080), `NAME` (the hostname from `/etc/hostname`, which in a
//! container is the id prefix), `START_UNHEALTHY=1`, `LISTEN_DELAY_MS` (wait that long before
//! binding the port, like a service that is slow to start; 0), `STOP_DELAY_MS` (after
//! SIGTERM/SIGINT keep accepting and serving that long before draining, like a pre-stop sleep; 0).
//!
//! Built static (`-C target-feature=+crt-static`) so it runs in a `FROM scratch` image; it makes
//! no DNS lookups.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
const DRAIN_GRACE: Duration = Duration::from_secs(10);
/// The largest body `GET /big` makes.
const BIG_MAX: usize = 16 << 20;
/// Timeout of the whole probe (the image's HEALTHCHECK allows 2 s as well).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

struct State {
    name: String,
    healthy: AtomicBool,
    /// Status every GET but `/health` answers; 0: normal answers.
    fail: AtomicU16,
    /// `true` while GETs but `/health` are held unanswered.
    hang: watch::Sender<bool>,
}

fn port() -> u16 {
    std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080)
}

/// A number of milliseconds (or anything) from the environment; 0 when unset or invalid.
fn env_u64(key: &str) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn name() -> String {
    if let Ok(name) = std::env::var("NAME") {
        if !name.is_empty() {
            return name;
        }
    }
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".to_owned())
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("probe") {
        std::process::exit(match probe(port()) {
            Ok(()) => 0,
            Err(reason) => {
                eprintln!("probe: {reason}");
                1
            }
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(serve()) {
        eprintln!("replica: {e}");
        std::process::exit(1);
    }
}

/// `GET /health` on 127.0.0.1 with plain std I/O, the whole exchange bounded by 2 s.
fn probe(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "timed out".to_owned())
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, remaining()?).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_write_timeout(Some(remaining()?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        stream
            .set_read_timeout(Some(remaining()?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
        if response.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&response);
    let status_line = head.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("unexpected answer: {status_line:?}")),
    }
}

async fn serve() -> std::io::Result<()> {
    let state = Arc::new(State {
        name: name(),
        healthy: AtomicBool::new(std::env::var("START_UNHEALTHY").as_deref() != Ok("1")),
        fail: AtomicU16::new(0),
        hang: watch::Sender::new(false),
    });
    if let Some(port) = std::env::var("ECHO_PORT").ok().and_then(|p| p.parse().ok()) {
        let echo = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
        tokio::spawn(echo_service(echo, state.name.clone()));
    }
    // A slow starter: `LISTEN_DELAY_MS` before the port is bound (connects are refused).
    tokio::time::sleep(Duration::from_millis(env_u64("LISTEN_DELAY_MS"))).await;
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port()))).await?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut connections = tokio::task::JoinSet::new();
    eprintln!(
        "replica {} listening on {}",
        state.name,
        listener.local_addr()?
    );

    // After SIGTERM/SIGINT, keep serving for `STOP_DELAY_MS` (like a pre-stop sleep).
    let stop_delay = Duration::from_millis(env_u64("STOP_DELAY_MS"));
    let stop_timer = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    tokio::pin!(stop_timer);
    let mut signalled: Option<&'static str> = None;
    let signal_name = loop {
        tokio::select! {
            biased;
            () = &mut stop_timer, if signalled.is_some() => break signalled.unwrap_or("signal"),
            _ = sigterm.recv(), if signalled.is_none() => {
                signalled = Some("SIGTERM");
                stop_timer.as_mut().reset(tokio::time::Instant::now() + stop_delay);
            }
            _ = sigint.recv(), if signalled.is_none() => {
                signalled = Some("SIGINT");
                stop_timer.as_mut().reset(tokio::time::Instant::now() + stop_delay);
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let in_flight = Arc::clone(&in_flight);
                let mut stop = stop_rx.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        handle(req, Arc::clone(&state), Arc::clone(&in_flight))
                    });
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
                    }
                    let _ = conn.await;
                });
            }
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };

    drop(listener);
    eprintln!(
        "replica {}: {signal_name}, draining {} in-flight request(s)",
        state.name,
        in_flight.load(Ordering::Relaxed)
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "replica {}: drain grace over, {} request(s) cut",
            state.name,
            in_flight.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

/// `ECHO_PORT`: `NAME\n`, then every byte back, until the client closes.
async fn echo_service(listener: TcpListener, name: String) {
    use tokio::io::AsyncWriteExt;
    while let Ok((mut stream, _)) = listener.accept().await {
        let greeting = format!("{name}\n");
        tokio::spawn(async move {
            if stream.write_all(greeting.as_bytes()).await.is_err() {
                return;
            }
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    in_flight: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    in_flight.fetch_add(1, Ordering::Relaxed);
    let path = hyper::header::HeaderValue::from_str(req.uri().path()).ok();
    let mut response = match (req.method(), req.uri().path()) {
        (&Method::POST, "/echo") => echo(req, &state).await,
        _ => route(&req, &state).await,
    };
    if let Some(path) = path {
        response.headers_mut().insert("x-path", path);
    }
    in_flight.fetch_sub(1, Ordering::Relaxed);
    Ok(response)
}

async fn route(req: &Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => {
            if state.healthy.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ok", state)
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "unhealthy", state)
            }
        }
        (&Method::POST, "/health/fail") => {
            state.healthy.store(false, Ordering::Relaxed);
            text(StatusCode::OK, "unhealthy", state)
        }
        (&Method::POST, "/health/ok") => {
            state.healthy.store(true, Ordering::Relaxed);
            text(StatusCode::OK, "ok", state)
        }
        (&Method::POST, "/fail/off") => {
            state.fail.store(0, Ordering::Relaxed);
            text(StatusCode::OK, "fail off", state)
        }
        (&Method::POST, path) if path.starts_with("/fail/") => {
            match path["/fail/".len()..]
                .parse::<u16>()
                .ok()
                .and_then(|n| StatusCode::from_u16(n).ok())
            {
                Some(status) => {
                    state.fail.store(status.as_u16(), Ordering::Relaxed);
                    text(StatusCode::OK, &format!("fail {}", status.as_u16()), state)
                }
                None => text(
                    StatusCode::BAD_REQUEST,
                    "want /fail/<status> or /fail/off",
                    state,
                ),
            }
        }
        (&Method::POST, "/hang") => {
            state.hang.send_replace(true);
            text(StatusCode::OK, "hang", state)
        }
        (&Method::POST, "/hang/off") => {
            state.hang.send_replace(false);
            text(StatusCode::OK, "hang off", state)
        }
        (&Method::GET, _) if *state.hang.borrow() => {
            let _ = state.hang.subscribe().wait_for(|hang| !*hang).await;
            text(StatusCode::OK, &state.name, state)
        }
        (&Method::GET, _) if state.fail.load(Ordering::Relaxed) != 0 => {
            let status = StatusCode::from_u16(state.fail.load(Ordering::Relaxed))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text(status, &state.name, state)
        }
        (&Method::GET, "/slow") => {
            let ms = query_number(req, "ms");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, &state.name, state)
        }
        (&Method::GET, "/headers") => {
            let lines: String = req
                .headers()
                .iter()
                .map(|(n, v)| format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            text(StatusCode::OK, &lines, state)
        }
        (&Method::GET, "/big") => {
            let bytes = query_number(req, "bytes").min(BIG_MAX as u64) as usize;
            let line = format!("{} says hello to whoever reads this line.\n", state.name);
            let body: String = line.chars().cycle().take(bytes).collect();
            text(StatusCode::OK, &body, state)
        }
        (&Method::GET, _) => text(StatusCode::OK, &state.name, state),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", state),
    }
}

/// The number `key=N` of the request's query; 0 when absent or invalid.
fn query_number<B>(req: &Request<B>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// `POST /echo`: the request body back (400 if it could not be read).
async fn echo(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    match req.into_body().collect().await {
        Ok(body) => {
            let mut response = Response::new(Full::new(body.to_bytes()));
            if let Ok(value) = hyper::header::HeaderValue::from_str(&state.name) {
                response.headers_mut().insert("x-replica", value);
            }
            response
        }
        Err(_) => text(StatusCode::BAD_REQUEST, "unreadable body", state),
    }
}

fn text(status: StatusCode, body: &str, state: &State) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&state.name) {
        headers.insert("x-replica", value);
    }
    response
}
