//! Proxying one HTTP request (data plane).
//!
//! Per request: one snapshot load, a route match, a selector pick, header edits in place, and
//! the request streamed to an upstream connection from the worker's pool. On an https
//! listener, a service's pre-rendered `Strict-Transport-Security` is added to the responses
//! it proxies that lack one. A service with policies or shaping passes `proxy::shape::guard`
//! first (redirects, CORS preflight, policies, body limit, rewrites), and its responses
//! `proxy::shape::respond`.
//!
//! This module routes the request and accounts for it (metrics, access log, the
//! connection's timeouts); `forward` sends it upstream, with retries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::HeaderValue;
use http::{Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;
use tracing::debug;

use crate::proxy::access_log::{Outcome, ServedBody};
use crate::proxy::client::ClientConn;
use crate::proxy::compress;
use crate::proxy::conn::Activity;
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::headers;
use crate::proxy::pool;
use crate::proxy::shape;
use crate::proxy::target::{self, BadTarget};
use crate::state::snapshot::Snapshot;

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
/// docs/ARCHITECTURE.md, "Errors a client sees". A logged request's response body is
/// wrapped to finish its access-log record.
pub async fn handle(
    cx: Arc<ConnContext>,
    mut req: Request<Incoming>,
) -> Result<Response<ServedBody>, Infallible> {
    let start = Instant::now();
    let _serving = Serving::new(&cx.activity);
    let snapshot = cx.client.snapshots.load_full();
    pool::sweep(snapshot.generation);
    let entry = match &cx.client.access_log {
        None => None,
        Some(log) => {
            let listener = &snapshot.listeners[cx.client.listener].name;
            log.begin(&mut req, listener, cx.client.peer.ip())
        }
    };
    let mut outcome = entry.as_ref().map(|_| Outcome::default());
    let response = serve(&cx, &snapshot, req, start, outcome.as_mut()).await;
    Ok(match entry {
        None => response.map(Either::Left),
        Some(entry) => entry.respond(response, outcome.unwrap_or_default(), start),
    })
}

/// Routes and answers one request; `notes`, with the access log on, learns what became of
/// it.
async fn serve<'s>(
    cx: &ConnContext,
    snapshot: &'s Snapshot,
    mut req: Request<Incoming>,
    start: Instant,
    mut notes: Option<&mut Outcome<'s>>,
) -> Response<ProxyBody> {
    let listener = &snapshot.listeners[cx.client.listener];
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
            note_error(&mut notes, "bad_target");
            return refuse(&listener.name, bad);
        }
    };
    let Some((route, prefix_len)) = found else {
        listener.no_route.increment(1);
        note_error(&mut notes, ProxyError::NoRoute.reason());
        return ProxyError::NoRoute.into_response();
    };
    if let Some(n) = notes.as_deref_mut() {
        n.service = Some(&route.service);
    }
    let spec = &route.service.spec;
    let (mut held, mut shaped) = (None, shape::Shaped::default());
    if spec.policies.any() || spec.shape.any() {
        let client = (cx.client.peer.ip(), cx.proto);
        let trusted = &listener.trusted_ips;
        let guarded = shape::guard(
            &route.service,
            &listener.name,
            client,
            trusted,
            &mut req,
            prefix_len,
        );
        match guarded.await {
            Ok(passed) => (held, shaped) = passed,
            Err(response) => {
                route.requests.increment(response.status().as_u16());
                note_error(&mut notes, policy_reason(response.status()));
                return response;
            }
        }
    }
    let trusted = headers::is_trusted(cx.client.peer.ip(), &listener.trusted_ips);
    // HSTS only over TLS: user agents ignore it on plain HTTP (RFC 6797 §8.1).
    let hsts = route.service.spec.hsts.as_ref();
    let plan = Plan {
        start,
        service: &route.service,
        prefix_len: shaped.prefix_len(prefix_len),
        trusted,
        hsts: hsts.filter(|_| cx.proto == "https").map(|h| &h.value),
        connect_timeout: snapshot.timeouts.connect,
        idle_timeout: snapshot.timeouts.idle,
        body_rate: snapshot.timeouts.body_rate(),
        trail: notes.as_deref().map(|n| &n.trail),
    };
    let compress = spec
        .compress
        .as_ref()
        .and_then(|c| compress::wanted(c, &req));
    let mut response = match plan.forward(cx, req).await {
        Ok(r) => r,
        Err(e) => {
            debug!(service = %route.service.spec.name, error = ?e, "request failed");
            note_error(&mut notes, e.reason());
            e.into_response()
        }
    };
    if let Some(slot) = held {
        response = response.map(|body| match body {
            Either::Left(upstream) => Either::Left(upstream.hold(slot)),
            generated => generated,
        });
    }
    if let Some(rules) = spec.shape.rules() {
        shape::respond(rules, shaped.origin.as_ref(), &mut response);
    }
    if let Some(wanted) = compress {
        response = wanted.apply(response);
    }
    route.requests.increment(response.status().as_u16());
    route.service.duration.record(start.elapsed().as_secs_f64());
    response
}

/// The access log's `error` for a policy's refusal or a shaping answer (`proxy::shape`), by
/// its status (forward auth may answer with anything).
fn policy_reason(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        204 => "cors_preflight",
        301 | 302 | 307 | 308 => "redirect",
        413 => "client_body_too_large",
        500 => "rewrite",
        401 => "unauthorized",
        403 => "forbidden",
        429 => "rate_limited",
        503 => "auth_unavailable",
        _ => "forward_auth",
    }
}

/// Notes why berth answered itself, when the access log is on.
fn note_error(notes: &mut Option<&mut Outcome<'_>>, reason: &'static str) {
    if let Some(n) = notes.as_deref_mut() {
        n.error = Some(reason);
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
