//! Proxying one HTTP request (data plane).
//!
//! Per request: one snapshot load, a route match, a selector pick, header edits in place, and
//! the request streamed to an upstream connection from the worker's pool. On an https
//! listener, a service's pre-rendered `Strict-Transport-Security` is added to the responses
//! it proxies that lack one.
//!
//! This module routes the request and accounts for it (metrics, access log, the
//! connection's timeouts); `forward` sends it upstream, with retries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::HeaderValue;
use http::{Request, Response, StatusCode};
use http_body_util::Either;
use hyper::body::Incoming;
use tracing::debug;

use crate::proxy::access_log;
use crate::proxy::client::ClientConn;
use crate::proxy::compress;
use crate::proxy::conn::Activity;
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::headers;
use crate::proxy::policy;
use crate::proxy::pool;
use crate::proxy::target::{self, BadTarget};

/// What an HTTP client connection knows for all of its requests.
#[derive(Debug)]
pub struct ConnContext {
    pub client: ClientConn,
    /// The client's IP, rendered once for `X-Forwarded-For`.
    pub peer_value: HeaderValue,
    /// What the connection's timeout watchdog reads.
    pub activity: Arc<Activity>,
    /// `X-Forwarded-Proto`: `http`, or `https` on a connection whose TLS berth terminated.
    pub proto: &'static str,
}

impl ConnContext {
    /// The context of `client`'s requests (its PROXY header, if any, already read).
    pub fn new(client: ClientConn, proto: &'static str) -> Self {
        Self {
            peer_value: peer_value(client.peer),
            client,
            activity: Arc::default(),
            proto,
        }
    }
}

/// The peer's IP as an `X-Forwarded-For` value.
fn peer_value(peer: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.ip().to_string())
        // Invariant: an IP address renders as visible ASCII, always a valid header value.
        .expect("IP address is a valid header value")
}

/// Serves one request: route, pick, forward; errors become the responses of
/// docs/ARCHITECTURE.md, "Errors a client sees".
pub async fn handle(
    cx: Arc<ConnContext>,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let _serving = Serving::new(&cx.activity);
    let snapshot = cx.client.snapshots.load_full();
    pool::sweep(snapshot.generation);
    let listener = &snapshot.listeners[cx.client.listener];
    let logged = access_log::enabled().then(|| {
        (
            req.method().clone(),
            access_log::loggable_path(req.uri().path()),
        )
    });
    let checked = match target::normalize(&mut req) {
        true => target::host(&req),
        false => Err(BadTarget::InvalidPath),
    };
    let found = match checked {
        Ok(host) => listener
            .routes
            .find(host, req.uri().path())
            .map(|m| (m.target, m.prefix_len)),
        Err(bad) => {
            let response = refuse(&listener.name, bad);
            log_access(&cx, &listener.name, None, logged, response.status(), start);
            return Ok(response);
        }
    };
    let Some((route, prefix_len)) = found else {
        listener.no_route.increment(1);
        let response = ProxyError::NoRoute.into_response();
        log_access(&cx, &listener.name, None, logged, response.status(), start);
        return Ok(response);
    };
    let spec = &route.service.spec;
    let mut held = None;
    if spec.policies.any() {
        let client = (cx.client.peer.ip(), cx.proto);
        match policy::guard(&route.service, client, &listener.trusted_ips, &mut req).await {
            Ok(slot) => held = slot,
            Err(response) => {
                route.requests.increment(response.status().as_u16());
                let status = response.status();
                log_access(&cx, &listener.name, Some(&spec.name), logged, status, start);
                return Ok(response);
            }
        }
    }
    let trusted = headers::is_trusted(cx.client.peer.ip(), &listener.trusted_ips);
    // HSTS only over TLS: user agents ignore it on plain HTTP (RFC 6797 §8.1).
    let hsts = route.service.spec.hsts.as_ref();
    let plan = Plan {
        start,
        service: &route.service,
        prefix_len,
        trusted,
        hsts: hsts.filter(|_| cx.proto == "https").map(|h| &h.value),
        connect_timeout: snapshot.timeouts.connect,
        idle_timeout: snapshot.timeouts.idle,
    };
    let compress = spec
        .compress
        .as_ref()
        .and_then(|c| compress::wanted(c, &req));
    let mut response = match plan.forward(&cx, req).await {
        Ok(r) => r,
        Err(e) => {
            debug!(service = %route.service.spec.name, error = ?e, "request failed");
            e.into_response()
        }
    };
    if let Some(slot) = held {
        response = response.map(|body| match body {
            Either::Left(upstream) => Either::Left(upstream.hold(slot)),
            generated => generated,
        });
    }
    if let Some(wanted) = compress {
        response = wanted.apply(response);
    }
    route.requests.increment(response.status().as_u16());
    route.service.duration.record(start.elapsed().as_secs_f64());
    let service = Some(&route.service.spec.name);
    log_access(
        &cx,
        &listener.name,
        service,
        logged,
        response.status(),
        start,
    );
    Ok(response)
}

/// Hands the request's summary to the access log, when it is on.
fn log_access(
    cx: &ConnContext,
    listener: &Arc<str>,
    service: Option<&Arc<str>>,
    logged: Option<(http::Method, String)>,
    status: StatusCode,
    start: Instant,
) {
    if let Some((method, path)) = logged {
        access_log::write(access_log::Record {
            listener: Arc::clone(listener),
            service: service.cloned(),
            client: cx.client.peer.ip(),
            method,
            path,
            status: status.as_u16(),
            duration: start.elapsed(),
        });
    }
}

/// Marks a request as in flight on its connection for as long as it lives.
struct Serving<'a>(&'a Activity);

impl<'a> Serving<'a> {
    fn new(activity: &'a Activity) -> Self {
        activity.request_started();
        Self(activity)
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The 400 for a refused target, counted (a cold path: the counter is looked up here).
#[cold]
fn refuse(listener: &Arc<str>, bad: BadTarget) -> Response<ProxyBody> {
    let labels = [
        ("listener", listener.to_string()),
        ("reason", bad.reason().to_owned()),
    ];
    metrics::counter!(crate::metrics::BAD_REQUESTS_TOTAL, &labels).increment(1);
    ProxyError::BadTarget(bad).into_response()
}

mod forward;

use forward::Plan;
