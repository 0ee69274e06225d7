//! Shared test fixtures: in-process hyper backends and a berth started from YAML.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// The CPU, for the tests of this binary that run in parallel: a test that saturates both
/// cores holds it [`exclusive`]ly, a test that measures time holds it [`timed`] (shared), so
/// the two kinds never run together.
static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Holds the CPU for a test that saturates it (a 1 GiB transfer, a load generator).
pub async fn exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().await
}

/// Holds the CPU, shared, for a test whose assertions measure time.
pub async fn timed() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CPU.read().await
}

/// An in-process HTTP backend that answers with its name and counts requests.
pub struct Backend {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    /// Status `/health` answers (200 unless changed with [`Backend::set_health`]).
    pub health: Arc<AtomicU16>,
    /// Status every other path answers (0: normal answers; see [`Backend::set_status`]).
    pub status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Makes `/health` answer `status` from now on.
    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::Relaxed);
    }

    /// Makes every path but `/health` answer `status` (body: the name); 0 restores answers.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a backend on 127.0.0.1:0. Paths:
/// `/slow?ms=N` sleeps N ms; `/headers` echoes request headers as `name: value` lines;
/// `/upload` answers the number of body bytes it read; `/download?bytes=N` streams N bytes;
/// `/health` answers the status set with [`Backend::set_health`] (200 at first), uncounted;
/// anything else answers the backend's name, with `x-backend` and `x-path` headers.
pub async fn backend(name: &'static str) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let health = Arc::new(AtomicU16::new(200));
    let health_status = Arc::clone(&health);
    let status = Arc::new(AtomicU16::new(0));
    let forced_status = Arc::clone(&status);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = Arc::clone(&counter);
            let health_status = Arc::clone(&health_status);
            let forced_status = Arc::clone(&forced_status);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let health = (req.uri().path() == "/health")
                        .then(|| health_status.load(Ordering::Relaxed));
                    if health.is_none() {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    let forced = forced_status.load(Ordering::Relaxed);
                    async move {
                        match health {
                            Some(status) => Ok(health_answer(status)),
                            None if forced != 0 => Ok(forced_answer(name, forced)),
                            None => answer(name, req).await,
                        }
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Backend {
        addr,
        hits,
        health,
        status,
        task,
    }
}

fn forced_answer(name: &'static str, status: u16) -> Response<BoxBody> {
    let mut response = Response::new(BodyExt::boxed(Full::new(Bytes::from_static(
        name.as_bytes(),
    ))));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response
}

fn health_answer(status: u16) -> Response<BoxBody> {
    let mut response = Response::new(BodyExt::boxed(Full::new(Bytes::from_static(b"health"))));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response
}

fn query_num(req: &Request<Incoming>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

async fn answer(
    name: &'static str,
    req: Request<Incoming>,
) -> Result<Response<BoxBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let body: BoxBody = match path.as_str() {
        "/slow" => {
            // A real sleep: a slow backend is what the caller tests.
            tokio::time::sleep(Duration::from_millis(query_num(&req, "ms"))).await;
            full(name)
        }
        "/headers" => {
            let text: String = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{}: {}\n", k, v.to_str().unwrap_or("?")))
                .collect();
            full(text)
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut n: u64 = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map(|f| f.into_data()) {
                    n += data.map(|d| d.len() as u64).unwrap_or(0);
                } else {
                    break;
                }
            }
            full(n.to_string())
        }
        "/download" => stream_bytes(query_num(&req, "bytes")),
        _ => full(name),
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert("x-backend", name.parse().expect("name header"));
    response
        .headers_mut()
        .insert("x-path", path.parse().expect("path header"));
    Ok(response)
}

fn full(s: impl Into<Bytes>) -> BoxBody {
    Full::new(s.into()).boxed()
}

/// A body of `n` zero bytes produced in 64 KiB chunks, never held whole.
pub fn stream_bytes(n: u64) -> BoxBody {
    const CHUNK: u64 = 64 * 1024;
    let chunk = Bytes::from(vec![0u8; CHUNK as usize]);
    let frames = futures_util::stream::unfold(n, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(CHUNK);
            Some((
                Ok::<_, Infallible>(Frame::data(chunk.slice(..take as usize))),
                left - take,
            ))
        }
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// YAML for a berth with one `web` listener on an ephemeral port, one worker, no Docker,
/// plus the given `services:` block (already indented by two spaces).
pub fn yaml(services: &str) -> String {
    format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\", protocol: http }}\n\
         admin: {{ address: \"127.0.0.1:0\", token_file: \"{}\" }}\n\
         docker: {{ enabled: false }}\n\
         workers: 1\n\
         services:\n{services}",
        admin_token_file().display()
    )
}

/// The admin token of the berths [`yaml`] configures.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A file holding [`ADMIN_TOKEN`] (written once per test process).
pub fn admin_token_file() -> &'static std::path::Path {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("berth-admin-token-{}", std::process::id()));
        std::fs::write(&path, format!("{ADMIN_TOKEN}\n")).expect("write the admin token");
        path
    })
}

/// A POST to an admin mutation, with the admin token of [`yaml`]'s berths.
pub fn admin_post(url: &str) -> reqwest::RequestBuilder {
    client().post(url).bearer_auth(ADMIN_TOKEN)
}

/// Starts berth from YAML text (not watched).
pub fn start(yaml: &str) -> berth::server::Server {
    let config = berth::config::parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    berth::server::Server::start(config, None).expect("berth starts")
}

/// A plain HTTP/1.1 client that never uses a system proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// `http://<web listener>` of `server`.
pub fn base(server: &berth::server::Server) -> String {
    format!("http://{}", server.listener("web").expect("web listener"))
}

/// Resident set size of this process in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Writes `text` to a fresh `berth.yaml` in a temp directory named after `tag` and this process.
pub fn temp_config(tag: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("berth.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Rewrites `path` the way editors do: write a new file, rename it over the old one.
pub fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The value of the series starting with `series` (name and labels, e.g.
/// `berth_retries_total{service="s"}`) on the admin's `/metrics`; 0 when absent.
pub async fn metric(admin: &str, series: &str) -> u64 {
    let text = client()
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse().expect("counter value"))
}

/// The `/api/services` document of `admin` (`http://ip:port`).
pub async fn services(admin: &str) -> serde_json::Value {
    client()
        .get(format!("{admin}/api/services"))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json")
}

/// Service `name` in `/api/services` of `admin`.
pub async fn service(admin: &str, name: &str) -> serde_json::Value {
    let doc = services(admin).await;
    let services = doc["services"].as_array().expect("services");
    services
        .iter()
        .find(|s| s["name"] == name)
        .expect("service listed")
        .clone()
}

/// The endpoints of service `name` in `/api/services` of `admin` (`http://ip:port`).
pub async fn endpoints(admin: &str, name: &str) -> Vec<serde_json::Value> {
    let service = service(admin, name).await;
    service["endpoints"].as_array().expect("endpoints").clone()
}

/// The `generation` of `/api/services` of `admin`: it grows by one with each snapshot
/// published (a config reload applied, a drain taking effect).
pub async fn generation(admin: &str) -> u64 {
    services(admin).await["generation"]
        .as_u64()
        .expect("generation")
}

/// `curl` through `addr` for `host` and `path` with `extra` arguments (`-u`, `-H`, `-X`...):
/// status, response head and body.
pub fn curl(addr: SocketAddr, host: &str, path: &str, extra: &[&str]) -> (u16, String, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-D",
            "-",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Host: {host}")])
        .args(extra)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, code) = text.rsplit_once('\n').expect("status line");
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    (
        code.parse().expect("status"),
        head.to_owned(),
        body.to_owned(),
    )
}

/// A plain HTTP/1.1 client whose connections leave from `ip` (any of 127.0.0.0/8 works on
/// loopback): a second client address for per-client policies.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(ip.parse::<std::net::IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

/// An echo backend: every connection gets `NAME\n`, then its own bytes back; the backend
/// shuts its write half when the client has shut its own (half-close passes through).
pub async fn echo(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut s, format!("{name}\n").as_bytes())
                    .await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut w).await;
            });
        }
    });
    addr
}
