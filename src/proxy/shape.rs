//! A service's shaping applied to one HTTP request and its response (data plane): see
//! `model::shape` for the settings.
//!
//! [`guard`] runs, in this order, before a request is forwarded: the redirects
//! (`redirect_scheme`, then `redirect_regex`) and the CORS preflight, each answered by berth;
//! the access policies (`proxy::policy`); the body limit by `Content-Length` (413); the path
//! rewrites. The request header edits are made with berth's own header rewriting
//! (`proxy::http`), after hop-by-hop headers are removed, so a client's `Connection` list
//! cannot take them away. [`respond`] edits every response of the service (the upstream's and
//! berth's own answers): the response header edits, then the CORS headers. A body longer than
//! `max_request_body` without a `Content-Length` is cut off by `proxy::body` as it streams.
//!
//! A service without shaping never gets here (one `Option` test per request).

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, ORIGIN};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use ipnet::IpNet;

use crate::metrics as m;
use crate::model::shape::{HeaderEdits, Rules};
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::policy;
use crate::state::rate_limiter::ClientSlot;
use crate::state::snapshot::Service;

mod cors;
mod redirect;
mod rewrite;
#[cfg(test)]
mod tests;

/// What the response side needs from the request, and what the forwarding must know.
#[derive(Debug, Default)]
pub struct Shaped {
    /// The request's `Origin`, for a service with CORS.
    pub origin: Option<HeaderValue>,
    /// The path was rewritten: the route's prefix is stripped already.
    pub rewritten: bool,
}

impl Shaped {
    /// The route's prefix length for the forwarding: 0 (strip nothing more) once rewritten.
    pub fn prefix_len(&self, routed: usize) -> usize {
        match self.rewritten {
            true => 0,
            false => routed,
        }
    }
}

/// `Ok` when the request goes on to the backend (with the client's in-flight count the
/// policies hold, and what [`respond`] needs), else berth's answer, already shaped.
/// `listener` names the listener (for the redirect count), `client` is the connection's
/// peer and scheme, `trusted` the listener's `trusted_ips`,
/// `prefix_len` the length of the route's path prefix.
pub async fn guard(
    service: &Service,
    listener: &str,
    client: (IpAddr, &'static str),
    trusted: &[IpNet],
    req: &mut Request<Incoming>,
    prefix_len: usize,
) -> Result<(Option<ClientSlot>, Shaped), Response<ProxyBody>> {
    let spec = &service.spec;
    let rules = spec.shape.rules();
    let origin = rules
        .filter(|r| r.cors.is_some())
        .and_then(|_| req.headers().get(ORIGIN).cloned());
    let shaped = |mut answer: Response<ProxyBody>| {
        if let Some(r) = rules {
            respond(r, origin.as_ref(), &mut answer);
        }
        answer
    };
    let at = (listener, &*spec.name);
    if let Some(answer) = rules.and_then(|r| intercept(r, client, trusted, req, at)) {
        return Err(shaped(answer));
    }
    let held = match spec.policies.any() {
        true => policy::guard(service, client, trusted, req)
            .await
            .map_err(&shaped)?,
        false => None,
    };
    let Some(rules) = rules else {
        return Ok((held, Shaped::default()));
    };
    if too_large(rules, req) {
        return Err(shaped(refuse_body(&spec.name)));
    }
    let strip = spec.strip_prefix;
    let rewritten = rewrite::apply(&rules.rewrite, req, prefix_len, strip).map_err(|()| {
        shaped(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid rewritten path\n",
        ))
    })?;
    Ok((held, Shaped { origin, rewritten }))
}

/// The redirect or the preflight answer berth gives instead of forwarding, if any.
fn intercept(
    rules: &Rules,
    (peer, proto): (IpAddr, &'static str),
    trusted: &[IpNet],
    req: &Request<Incoming>,
    (listener, service): (&str, &str),
) -> Option<Response<ProxyBody>> {
    if rules.redirect_scheme.is_some() || rules.redirect_regex.is_some() {
        let scheme =
            redirect::scheme_of(req, proto, crate::proxy::headers::is_trusted(peer, trusted));
        if let Some(to) = rules.redirect_scheme.filter(|r| r.scheme != scheme) {
            let answer = redirect::to_scheme(&to, req);
            return Some(counted(answer, listener, service, "redirect_scheme"));
        }
        if let Some(answer) = rules
            .redirect_regex
            .as_ref()
            .and_then(|r| redirect::by_regex(r, scheme, req))
        {
            return Some(counted(answer, listener, service, "redirect_regex"));
        }
    }
    let cors = rules.cors.as_ref()?;
    cors::is_preflight(req).then(|| cors::preflight(cors, req, service))
}

/// `answer`, counted in `berth_redirects_total` when it is a redirect (not the 400 or 500 a
/// redirect without a host or with an invalid `Location` becomes). A cold path: the counter
/// is looked up here.
#[cold]
fn counted(
    answer: Response<ProxyBody>,
    listener: &str,
    service: &str,
    rule: &'static str,
) -> Response<ProxyBody> {
    if answer.status().is_redirection() {
        crate::proxy::redirect::counter(listener, service, rule).increment(1);
    }
    answer
}

/// Whether the request's `Content-Length` says more than `max_request_body`.
fn too_large<B>(rules: &Rules, req: &Request<B>) -> bool {
    let Some(max) = rules.max_request_body else {
        return false;
    };
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > max)
}

/// 413 for a body over the limit, counted as the client's (a cold path: the counter is
/// looked up here).
#[cold]
fn refuse_body(service: &str) -> Response<ProxyBody> {
    let labels = [
        ("service", service.to_owned()),
        ("reason", "too_large".to_owned()),
    ];
    metrics::counter!(m::CLIENT_BODY_ERRORS_TOTAL, &labels).increment(1);
    ProxyError::PayloadTooLarge.into_response()
}

/// Shapes a response of the service: its header edits, then its CORS headers for `origin`
/// (the request's).
pub fn respond(rules: &Rules, origin: Option<&HeaderValue>, response: &mut Response<ProxyBody>) {
    let headers = response.headers_mut();
    edit(&rules.response_headers, headers);
    if let Some(c) = &rules.cors {
        cors::respond(c, origin, headers);
    }
}

/// Applies `edits` in place: remove, then set, then add.
pub fn edit(edits: &HeaderEdits, headers: &mut HeaderMap) {
    for name in &edits.remove {
        headers.remove(name);
    }
    for (name, value) in &edits.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &edits.add {
        headers.append(name.clone(), value.clone());
    }
}

/// A plain-text answer of berth's.
fn plain(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    crate::proxy::error::plain(status, Bytes::from_static(body.as_bytes()))
}
