//! CORS on the data plane: the preflight answered by berth, and the headers of the
//! responses to cross-origin requests.
//!
//! A preflight is an `OPTIONS` request with `Origin` and `Access-Control-Request-Method`
//! (the Fetch standard's CORS-preflight request). From an allowed origin it gets `204` with
//! `Access-Control-Allow-Origin`, `-Allow-Methods`, `-Allow-Headers`, `-Allow-Credentials`
//! and `-Max-Age` as configured, without reaching the backend; from any other origin, `403`
//! and no CORS header (counted in `berth_policy_denied_total{policy="cors"}`). The methods and
//! headers a preflight asks for are not judged here: the browser compares them with the
//! answer. berth owns the service's CORS headers: on a response to an allowed origin it sets
//! them, on any other it removes the upstream's; with a list of origins, `Vary: Origin` is
//! merged into every response so caches keep the answers apart.

use http::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use http::{Method, Request, Response, StatusCode};

use super::plain;
use crate::metrics::policy_denied;
use crate::model::shape::cors::{AllowHeaders, Cors, Origins};
use crate::proxy::error::ProxyBody;

/// Whether `req` is a CORS preflight.
pub(super) fn is_preflight<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    req.method() == Method::OPTIONS
        && h.contains_key(ORIGIN)
        && h.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// berth's answer to a preflight.
pub(super) fn preflight<B>(cors: &Cors, req: &Request<B>, service: &str) -> Response<ProxyBody> {
    let origin = req.headers().get(ORIGIN);
    let Some(origin) = origin.filter(|o| cors.allows(o.as_bytes())) else {
        policy_denied(service, "cors", "origin");
        return plain(StatusCode::FORBIDDEN, "CORS origin not allowed\n");
    };
    let mut response = plain(StatusCode::NO_CONTENT, "");
    let headers = response.headers_mut();
    headers.remove(http::header::CONTENT_TYPE);
    allow(cors, origin, headers);
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, cors.methods.clone());
    let asked = req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS);
    let allowed = match &cors.headers {
        AllowHeaders::None => None,
        AllowHeaders::Any => asked,
        AllowHeaders::List(list) => Some(list),
    };
    if let Some(v) = allowed {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    if let Some(age) = &cors.max_age {
        headers.insert(ACCESS_CONTROL_MAX_AGE, age.clone());
    }
    response
}

/// The CORS headers of a response to a request from `origin`.
pub(super) fn respond(cors: &Cors, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    match origin.filter(|o| cors.allows(o.as_bytes())) {
        Some(origin) => {
            allow(cors, origin, headers);
            if let Some(expose) = &cors.expose_headers {
                headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
        }
        None => {
            for name in [
                ACCESS_CONTROL_ALLOW_ORIGIN,
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                ACCESS_CONTROL_EXPOSE_HEADERS,
            ] {
                headers.remove(name);
            }
        }
    }
    if matches!(cors.origins, Origins::List(_)) {
        vary_origin(headers);
    }
}

/// `Access-Control-Allow-Origin` (`*` for any origin, else the origin itself) and
/// `-Allow-Credentials`.
fn allow(cors: &Cors, origin: &HeaderValue, headers: &mut HeaderMap) {
    let value = match cors.origins {
        // `Cors::new` refuses `*` with credentials.
        Origins::Any => HeaderValue::from_static("*"),
        Origins::List(_) => origin.clone(),
    };
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    if cors.credentials {
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if matches!(cors.origins, Origins::List(_)) {
        vary_origin(headers);
    }
}

/// Adds `Origin` to `Vary` unless it is there (or `Vary: *`): one value is extended
/// (`Accept-Encoding, Origin`), several get one more.
pub(super) fn vary_origin(headers: &mut HeaderMap) {
    let listed = |v: &HeaderValue| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
        })
    };
    if headers.get_all(VARY).iter().any(listed) {
        return;
    }
    let mut values = headers.get_all(VARY).iter();
    let merged = match (values.next(), values.next()) {
        (Some(one), None) => {
            let mut bytes = one.as_bytes().to_vec();
            bytes.extend_from_slice(b", Origin");
            HeaderValue::from_bytes(&bytes).ok()
        }
        _ => None,
    };
    match merged {
        Some(v) => {
            headers.insert(VARY, v);
        }
        None => {
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
    }
}
