//! A service's redirects (data plane): `redirect_scheme` and `redirect_regex`, answered by
//! berth before anything else of the request is looked at.
//!
//! The scheme a request came with is the connection's (`https` when berth terminated TLS),
//! or the `X-Forwarded-Proto` of a peer in `trusted_ips` (berth behind a TLS-terminating
//! balancer, which would otherwise loop). `Location` of a scheme redirect keeps the host
//! (without its port), the path and the query; a regex redirect replaces every match in
//! `scheme://host/path?query`. The host is the one `proxy::target` checked before routing.
//! A replacement that makes an invalid `Location` gets 500, logged.

use http::header::{HeaderValue, LOCATION};
use http::{Method, Request, Response, StatusCode};
use tracing::warn;

use super::plain;
use crate::model::shape::{RegexRedirect, SchemeRedirect};
use crate::proxy::error::ProxyBody;
use crate::proxy::headers::X_FORWARDED_PROTO;
use crate::proxy::target;

/// The scheme `req` came with: `proto`, or a trusted peer's `X-Forwarded-Proto`.
pub(super) fn scheme_of<B>(req: &Request<B>, proto: &'static str, trusted: bool) -> &'static str {
    let forwarded = trusted
        .then(|| req.headers().get(&X_FORWARDED_PROTO))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or_default().trim());
    match forwarded {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ => proto,
    }
}

/// The redirect of `req` to `to`'s scheme.
pub(super) fn to_scheme<B>(to: &SchemeRedirect, req: &Request<B>) -> Response<ProxyBody> {
    let Ok(Some(host)) = target::host(req) else {
        return plain(StatusCode::BAD_REQUEST, "no host to redirect to\n");
    };
    let port = match (to.scheme, to.port) {
        (_, None) | ("https", Some(443)) | ("http", Some(80)) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    let url = format!(
        "{}://{}{port}{}",
        to.scheme,
        strip_port(host),
        path_and_query(req)
    );
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let status = match (to.permanent, read) {
        (true, true) => StatusCode::MOVED_PERMANENTLY,
        (true, false) => StatusCode::PERMANENT_REDIRECT,
        (false, true) => StatusCode::FOUND,
        (false, false) => StatusCode::TEMPORARY_REDIRECT,
    };
    redirect(status, &url)
}

/// The redirect of `req` when its URL (`scheme://host/path?query`) matches `r`'s regex.
pub(super) fn by_regex<B>(
    r: &RegexRedirect,
    scheme: &str,
    req: &Request<B>,
) -> Option<Response<ProxyBody>> {
    let host = target::host(req).ok().flatten().unwrap_or_default();
    let url = format!("{scheme}://{host}{}", path_and_query(req));
    let regex = &r.replace.regex;
    if !regex.is_match(&url) {
        return None;
    }
    let location = regex.replace_all(&url, r.replace.replacement.as_str());
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FOUND);
    Some(redirect(status, &location))
}

fn path_and_query<B>(req: &Request<B>) -> &str {
    req.uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|pq| pq.starts_with('/'))
        .unwrap_or("/")
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

fn redirect(status: StatusCode, location: &str) -> Response<ProxyBody> {
    let Ok(value) = HeaderValue::from_str(location) else {
        warn!(
            location,
            "a redirect_regex replacement made an invalid Location"
        );
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect\n");
    };
    let mut response = plain(status, "");
    response.headers_mut().insert(LOCATION, value);
    response
}
