//! The admin listener (control plane): the live dashboard at `/`, `/metrics`, `/healthz`,
//! `/api/services` (and `/api/services/{service}`), `/api/rejected`, `/api/certificates`,
//! `/api/config`, `/api/version`, and `POST /api/services/{service}/endpoints/{endpoint}/drain` (or
//! `/undrain`), where `{endpoint}` is an address, a container id or a container name.
//!
//! Reading is open to whoever reaches the admin address (loopback by default); a mutating
//! call needs `Authorization: Bearer <token>` (`admin.token_file`, else `BERTH_ADMIN_TOKEN`)
//! and is refused with 403 when no token is configured.
//!
//! Runs on the control-plane runtime, never on a worker. Reads the same published snapshot as
//! the data plane; renders Prometheus text through the installed recorder.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::config::{AdminToken, Config, TOKEN_ENV};
use crate::discovery::Input;
use crate::discovery::Rejections;
use crate::proxy::listener::gate::{AcceptBackoff, Slots};
use crate::state::snapshot::Snapshot;
use crate::tls::Terminator;

mod api;
mod config_doc;
mod dashboard;

/// How often histogram samples are folded for rendering.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Admin connections open at once at most; more are closed at accept.
const MAX_CONNECTIONS: usize = 64;
/// An admin client's request head (or next request) must arrive within this.
const HEADER_READ: Duration = Duration::from_secs(10);

/// What the admin endpoints read.
#[derive(Clone, Debug)]
pub struct Admin {
    pub snapshots: Arc<ArcSwap<Snapshot>>,
    pub prometheus: PrometheusHandle,
    pub rejected: Rejections,
    /// Into the reconciler: an admin drain asks for a republish.
    pub inputs: mpsc::Sender<Input>,
    /// ACME's certificate state, with an `acme:` section.
    pub acme: Option<crate::acme::Status>,
    /// The `https` listeners, for their certificate files.
    pub terminators: Vec<Arc<Terminator>>,
    /// The configuration in force (reloads included): `/api/config` and the admin token.
    pub config: watch::Receiver<Arc<Config>>,
    /// `BERTH_ADMIN_TOKEN`, read at start; the file's `admin.token_file` wins over it.
    pub env_token: Option<AdminToken>,
    /// When this berth started, for `/api/version`.
    pub started: std::time::SystemTime,
}

impl Admin {
    /// Serves admin requests on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let upkeep = self.prometheus.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        // Out of descriptors: pause instead of spinning; a bounded number of connections, so
        // scrapes and probes keep being answered whatever else is open.
        let mut backoff = AcceptBackoff::default();
        let slots = Slots::new(MAX_CONNECTIONS);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    let pause = backoff.failed();
                    warn!("admin accept failed: {e}; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            backoff.succeeded();
            let Some(slot) = slots.take() else {
                continue;
            };
            let admin = self.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let service = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.route(&req)) }
                });
                // A client must send each request head within HEADER_READ, idle ones too.
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    debug!("admin connection: {e}");
                }
            });
        }
    }

    fn route(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if let Some((service, endpoint, drained)) = drain_target(path) {
            return self.drain(req, service, endpoint, drained);
        }
        match path {
            "/" => dashboard::page(),
            "/metrics" => reply(StatusCode::OK, "text/plain; version=0.0.4", self.metrics()),
            "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".to_owned()),
            "/api/services" => json(api::services(&self.snapshots.load())),
            "/api/certificates" => json(api::certificates(self.acme.as_ref(), &self.terminators)),
            "/api/rejected" => json(api::rejected(&self.rejected)),
            "/api/config" => {
                let config = Arc::clone(&self.config.borrow());
                json(config_doc::render(&config, self.env_token.is_some()))
            }
            "/api/version" => json(api::version(self.started)),
            _ => self.one_service(path).unwrap_or_else(|| {
                reply(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "not found\n".to_owned(),
                )
            }),
        }
    }

    /// `/api/services/{name}`: that service's document, or 404 saying none has that name.
    fn one_service(&self, path: &str) -> Option<Response<Full<Bytes>>> {
        let name = path.strip_prefix("/api/services/")?;
        if name.contains('/') {
            return None;
        }
        Some(match api::one_service(&self.snapshots.load(), name) {
            Some(body) => json(body),
            None => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                format!("no service {name}; GET /api/services lists them\n"),
            ),
        })
    }

    /// `None` when a mutating call carries the configured bearer token; else the answer: 403
    /// when no token is configured (saying how to set one), 401 otherwise.
    fn refusal<B>(&self, req: &Request<B>) -> Option<Response<Full<Bytes>>> {
        let config = Arc::clone(&self.config.borrow());
        let Some(token) = config.admin.token.as_ref().or(self.env_token.as_ref()) else {
            let msg = format!(
                "admin changes are disabled: set admin.token_file in the config file or the \
                 {TOKEN_ENV} environment variable, then send Authorization: Bearer <token>\n"
            );
            return Some(reply(StatusCode::FORBIDDEN, "text/plain", msg));
        };
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.expose()))) {
            true => None,
            false => {
                let mut refused = reply(
                    StatusCode::UNAUTHORIZED,
                    "text/plain",
                    "send Authorization: Bearer <the admin token>\n".to_owned(),
                );
                refused.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"berth admin\""),
                );
                Some(refused)
            }
        }
    }
}

impl Admin {
    /// The Prometheus text, after setting the gauges that mirror live state: each endpoint's
    /// requests in flight and the process's figures.
    fn metrics(&self) -> String {
        crate::metrics::collect_process();
        for service in &self.snapshots.load().services {
            let counts = service.endpoints.iter().map(|e| e.in_flight());
            crate::metrics::set_in_flight(&service.series, counts);
        }
        self.prometheus.render()
    }
}

/// `(service, endpoint, drain?)` of `/api/services/{service}/endpoints/{endpoint}/drain`
/// (`true`) or `.../undrain` (`false`).
fn drain_target(path: &str) -> Option<(&str, &str, bool)> {
    let rest = path.strip_prefix("/api/services/")?;
    let (service, rest) = rest.split_once("/endpoints/")?;
    let (endpoint, action) = rest.rsplit_once('/')?;
    let drained = match action {
        "drain" => true,
        "undrain" => false,
        _ => return None,
    };
    Some((service, endpoint, drained))
}

impl Admin {
    /// Drains or undrains the endpoints that match, then asks for a republish so workers
    /// close their idle connections to them.
    fn drain(
        &self,
        req: &Request<Incoming>,
        service: &str,
        endpoint: &str,
        drained: bool,
    ) -> Response<Full<Bytes>> {
        if req.method() != http::Method::POST {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "use POST\n".to_owned(),
            );
        }
        if let Some(refused) = self.refusal(req) {
            return refused;
        }
        match api::drain(&self.snapshots.load(), service, endpoint, drained) {
            Ok(body) => {
                // A full queue means a publish is coming anyway.
                let _ = self.inputs.try_send(Input::Republish);
                json(body)
            }
            Err(msg) => reply(StatusCode::NOT_FOUND, "text/plain", msg),
        }
    }
}

/// A 200 with a JSON document.
fn json(body: String) -> Response<Full<Bytes>> {
    reply(StatusCode::OK, "application/json", body)
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
