//! **Benchmark fixture, not an engine**: a simulated Docker engine API for berth's scale
//! benchmark (`benches/scale.sh`), which needs more containers (10,000) than the machine's
//! engine can run. It is never a substitute for the engine tests (`tests/docker/`), which run
//! against the real engine.
//!
//! It serves, on a Unix socket, what berth's Docker provider reads, shaped exactly like a real
//! engine's answers (templates copied from Docker 20.10, API 1.41; see `fleet.rs`):
//! `/_ping`, `/version`, `GET /containers/json` (every simulated container, running),
//! `GET /containers/{id}/json`, and `GET /events` (held open; the events pushed below). Paths
//! may carry the `/v1.41` version prefix. `services × replicas` containers named `svc<s>-<r>`,
//! labelled `berth.enable=true`, `berth.service=svc<s>`, `berth.http.path=/svc<s>`, each on
//! network `scale` with its own 10.x.y.z address, exposing 8080/tcp.
//!
//! Control (benchmark only, same socket): `POST /fake/start` adds a container to a new service
//! `added<k>` and streams its `start` event (the answer is the event, with its `timeNano`);
//! `POST /fake/die/{id}` removes one and streams its `die` event.
//!
//! Usage: `fake_docker --socket /tmp/fake-docker.sock --services 2000 --replicas 5`
//! (`cargo build --release --features replica --bin fake_docker`), then `DOCKER_HOST=unix:///tmp/fake-docker.sock`
//! or `docker.endpoint: unix:///tmp/fake-docker.sock` for berth.

mod fleet;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use clap::Parser;
use fleet::Container;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::broadcast;

type Body = BoxBody<Bytes, Infallible>;

#[derive(Parser, Debug)]
struct Args {
    /// Unix socket to serve on (replaced if it exists).
    #[arg(long, default_value = "/tmp/fake-docker.sock")]
    socket: PathBuf,
    #[arg(long, default_value_t = 2000)]
    services: u32,
    #[arg(long, default_value_t = 5)]
    replicas: u32,
}

/// The engine's state: its containers, the rendered list, the event stream's sender.
struct Engine {
    containers: Mutex<Fleet>,
    events: broadcast::Sender<Bytes>,
}

struct Fleet {
    /// By id.
    all: HashMap<String, Container>,
    /// `GET /containers/json`, rendered once per change.
    list: Option<Bytes>,
    /// Containers added by `/fake/start` so far, and the index the first one got.
    added: u32,
    first_added: u32,
}

impl Engine {
    fn fleet(&self) -> std::sync::MutexGuard<'_, Fleet> {
        // A poisoned lock only means a handler panicked; the data is still whole.
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn list(&self) -> Bytes {
        let mut fleet = self.fleet();
        if let Some(list) = &fleet.list {
            return list.clone();
        }
        // Newest first, as the engine lists them.
        let mut sorted: Vec<&Container> = fleet.all.values().collect();
        sorted.sort_by_key(|c| std::cmp::Reverse(c.index));
        let docs: Vec<serde_json::Value> = sorted.into_iter().map(Container::summary).collect();
        let list = Bytes::from(serde_json::to_vec(&docs).unwrap_or_default());
        fleet.list = Some(list.clone());
        list
    }

    fn inspect(&self, id: &str) -> Option<Bytes> {
        let fleet = self.fleet();
        let c = fleet.all.get(id)?;
        Some(Bytes::from(c.inspect().to_string()))
    }

    /// Adds a container to a new service and streams its `start` event.
    fn start(&self) -> Bytes {
        let mut fleet = self.fleet();
        let k = fleet.added;
        let index = fleet.first_added + k;
        fleet.added += 1;
        let c = Container::new(
            index,
            format!("added{k}"),
            format!("added{k}-0"),
            SystemTime::now(),
        );
        let event = self.push(&c, "start");
        fleet.all.insert(c.id.clone(), c);
        fleet.list = None;
        event
    }

    fn die(&self, id: &str) -> Option<Bytes> {
        let mut fleet = self.fleet();
        let c = fleet.all.remove(id)?;
        fleet.list = None;
        Some(self.push(&c, "die"))
    }

    fn push(&self, c: &Container, action: &str) -> Bytes {
        let mut line = c.event(action, SystemTime::now()).to_string();
        line.push('\n');
        let line = Bytes::from(line);
        // No subscriber yet is fine: berth replays nothing from a fixture.
        let _ = self.events.send(line.clone());
        line
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The held-open `/events` stream: every event pushed from now on, one JSON line each.
fn events(engine: &Engine) -> Response<Body> {
    let rx = engine.events.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(line) => return Some((Ok::<_, Infallible>(Frame::data(line)), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The path without a `/v1.41`-style version prefix.
fn unversioned(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    match rest.find('/') {
        Some(i) if rest[..i].bytes().all(|b| b.is_ascii_digit() || b == b'.') => &rest[i..],
        _ => path,
    }
}

fn route(engine: &Engine, method: &Method, path: &str) -> Response<Body> {
    let not_found = |what: &str| {
        let body = serde_json::json!({ "message": format!("No such container: {what}") });
        full(StatusCode::NOT_FOUND, body.to_string())
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => full(StatusCode::OK, "OK"),
        (&Method::GET, ["version"]) => full(StatusCode::OK, fleet::VERSION),
        (&Method::GET, ["containers", "json"]) => full(StatusCode::OK, engine.list()),
        (&Method::GET, ["containers", id, "json"]) => match engine.inspect(id) {
            Some(doc) => full(StatusCode::OK, doc),
            None => not_found(id),
        },
        (&Method::GET, ["events"]) => events(engine),
        (&Method::POST, ["fake", "start"]) => full(StatusCode::OK, engine.start()),
        (&Method::POST, ["fake", "die", id]) => match engine.die(id) {
            Some(event) => full(StatusCode::OK, event),
            None => not_found(id),
        },
        _ => full(
            StatusCode::NOT_FOUND,
            r#"{"message":"not simulated by the benchmark fixture"}"#,
        ),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let all: HashMap<String, Container> = fleet::fleet(args.services, args.replicas)
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let first_added = u32::try_from(all.len()).unwrap_or(u32::MAX);
    eprintln!(
        "fake_docker (benchmark fixture): {} containers in {} services on {}",
        all.len(),
        args.services,
        args.socket.display()
    );
    let (events, _) = broadcast::channel(1024);
    let engine = Arc::new(Engine {
        containers: Mutex::new(Fleet {
            all,
            list: None,
            added: 0,
            first_added,
        }),
        events,
    });
    engine.list();
    let _ = std::fs::remove_file(&args.socket);
    let listener = UnixListener::bind(&args.socket)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let path = unversioned(req.uri().path()).to_owned();
                let resp = route(&engine, req.method(), &path);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
