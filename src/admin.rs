//! The admin listener (control plane): `/metrics`, `/healthz`, `/api/services`,
//! `/api/rejected`, and `POST /api/services/{service}/endpoints/{endpoint}/drain` (or
//! `/undrain`), where `{endpoint}` is an address, a container id or a container name.
//!
//! Runs on the control-plane runtime, never on a worker. Reads the same published snapshot as
//! the data plane; renders Prometheus text through the installed recorder.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::discovery::Input;
use crate::discovery::Rejections;
use crate::proxy::listener::gate::{AcceptBackoff, Slots};
use crate::state::snapshot::Snapshot;
use crate::tls::Terminator;

mod api;
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
        if let Some((service, endpoint, drained)) = drain_target(req.uri().path()) {
            return self.drain(req, service, endpoint, drained);
        }
        match req.uri().path() {
            "/" => dashboard::page(),
            "/metrics" => reply(StatusCode::OK, "text/plain; version=0.0.4", self.metrics()),
            "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".to_owned()),
            "/api/services" => {
                let body = api::services(&self.snapshots.load());
                reply(StatusCode::OK, "application/json", body)
            }
            "/api/certificates" => {
                let body = api::certificates(self.acme.as_ref(), &self.terminators);
                reply(StatusCode::OK, "application/json", body)
            }
            "/api/rejected" => {
                let body = api::rejected(&self.rejected);
                reply(StatusCode::OK, "application/json", body)
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found\n".to_owned(),
            ),
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
        match api::drain(&self.snapshots.load(), service, endpoint, drained) {
            Ok(body) => {
                // A full queue means a publish is coming anyway.
                let _ = self.inputs.try_send(Input::Republish);
                reply(StatusCode::OK, "application/json", body)
            }
            Err(msg) => reply(StatusCode::NOT_FOUND, "text/plain", msg),
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
