//! Forward authentication of a request (data plane): the service's auth service is asked
//! first (see `model::policy::forward` for the conventions), with the worker's own pooled
//! HTTP(S) client (`http://`, or `https://` verified against the built-in roots).
//!
//! The auth service's refusal (any non-2xx, typically a redirect to its login page) is
//! returned to the client as it came, its body read up to [`MAX_ANSWER`]; a timeout or an
//! error is answered with the policy's `failure_status`.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::model::certs;
use crate::model::policy::ForwardAuth;
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::headers::strip_hop_by_hop;

/// The largest auth answer body passed back to a client.
const MAX_ANSWER: usize = 1 << 20;

type AuthClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

thread_local! {
    /// One pooled client per worker thread (each worker runs its own runtime).
    static CLIENT: AuthClient = client();
}

fn client() -> AuthClient {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(certs::provider())
        .with_safe_default_protocol_versions()
        // Invariant: ring's provider supports the safe default versions.
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Why a request did not pass, with the answer the client gets.
pub struct Refused {
    pub response: Response<ProxyBody>,
    /// `denied` (the auth service said no), `timeout` or `error`.
    pub reason: &'static str,
}

/// What the auth service is told about the request.
pub struct Asking<'a> {
    pub client: IpAddr,
    pub proto: &'static str,
    pub host: &'a str,
}

/// Asks the auth service about `req`; on a 2xx, sets its `response_headers` on `req`.
pub async fn check(
    auth: &ForwardAuth,
    req: &mut Request<Incoming>,
    asking: Asking<'_>,
) -> Result<(), Refused> {
    let question = question(auth, req, &asking);
    let sent = CLIENT.with(|c| c.request(question));
    let answer = match tokio::time::timeout(auth.timeout, sent).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::debug!(url = %auth.url, error = %e, "forward auth unreachable");
            return Err(failed(auth, "error"));
        }
        Err(_) => return Err(failed(auth, "timeout")),
    };
    for name in &auth.response_headers {
        req.headers_mut().remove(name);
    }
    if answer.status().is_success() {
        copy_headers(&auth.response_headers, answer.headers(), req.headers_mut());
        return Ok(());
    }
    let (mut parts, body) = answer.into_parts();
    let body = match Limited::new(body, MAX_ANSWER).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(failed(auth, "error")),
    };
    strip_hop_by_hop(&mut parts.headers, false);
    parts.headers.remove(TRANSFER_ENCODING);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let response = Response::from_parts(parts, http_body_util::Either::Right(Full::new(body)));
    Err(Refused {
        response,
        reason: "denied",
    })
}

/// The `GET` to the auth service: the client's headers (all, or the chosen ones) and the
/// `X-Forwarded-*` conventions.
fn question(
    auth: &ForwardAuth,
    req: &Request<Incoming>,
    asking: &Asking<'_>,
) -> Request<Empty<Bytes>> {
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers() {
        let chosen = auth.request_headers.is_empty() || auth.request_headers.contains(name);
        if chosen && name != HOST && name != CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    strip_hop_by_hop(&mut headers, false);
    let uri = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let forwarded = [
        ("x-forwarded-method", req.method().as_str().to_owned()),
        ("x-forwarded-proto", asking.proto.to_owned()),
        ("x-forwarded-host", asking.host.to_owned()),
        ("x-forwarded-uri", uri),
        ("x-forwarded-for", asking.client.to_string()),
    ];
    for (name, value) in forwarded {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let mut question = Request::new(Empty::new());
    *question.method_mut() = Method::GET;
    *question.uri_mut() = auth.url.clone();
    *question.headers_mut() = headers;
    question
}

fn copy_headers(names: &[HeaderName], from: &HeaderMap, to: &mut HeaderMap) {
    for name in names {
        for value in from.get_all(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

fn failed(auth: &ForwardAuth, reason: &'static str) -> Refused {
    let error = match auth.failure_status {
        401 => ProxyError::Unauthorized,
        _ => ProxyError::AuthUnavailable,
    };
    Refused {
        response: error.into_response(),
        reason,
    }
}
