//! Errors a client sees (data plane), exactly as docs/ARCHITECTURE.md, "Errors a client sees"
//! lists them.
//!
//! A [`ProxyError`] carries the decision: its status, and a short plain-text body that never
//! names an internal address. Details go to the log, not to the client.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};

use crate::endpoint::queue::Refusal;
use crate::proxy::body::UpstreamBody;
use crate::proxy::target::BadTarget;

/// The body of every response berth sends: streamed from upstream, or generated here.
pub type ProxyBody = Either<UpstreamBody, Full<Bytes>>;

/// Why a request could not be proxied.
#[derive(Debug)]
pub enum ProxyError {
    /// No route for the host and path (404).
    NoRoute,
    /// A route, but no routable endpoint (503 + `Retry-After`).
    NoHealthyEndpoint(std::sync::Arc<str>),
    /// Upstream refused or reset before a response, after retries (502).
    Upstream,
    /// Upstream too slow to answer (504).
    Timeout,
    /// Every endpoint at its in-flight limit and no room or time to wait (503 +
    /// `Retry-After`).
    OverLimit(std::sync::Arc<str>, Refusal),
    /// The client broke its request body: malformed framing or an aborted upload (400).
    ClientBody,
    /// The client's request body was still arriving when the request timed out (408).
    ClientBodyTimeout,
    /// The client's request body is over the service's `max_request_body` (413).
    PayloadTooLarge,
    /// The request's target is refused: several, invalid or conflicting hosts, or a path
    /// that cannot be normalised (400).
    BadTarget(BadTarget),
    /// A policy of the service refused the client (403).
    Forbidden,
    /// The service asks for credentials the request lacks or got wrong (401; the caller
    /// adds `WWW-Authenticate`).
    Unauthorized,
    /// The client is over the service's rate limit (429; the caller adds `Retry-After`).
    RateLimited,
    /// The service's forward-auth service did not answer in time, or failed (503).
    AuthUnavailable,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::NoHealthyEndpoint(_) | Self::OverLimit(..) | Self::AuthUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Upstream => StatusCode::BAD_GATEWAY,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::ClientBody | Self::BadTarget(_) => StatusCode::BAD_REQUEST,
            Self::ClientBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The access log's `error` value: why berth answered itself.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::NoHealthyEndpoint(_) => "no_healthy_endpoint",
            Self::Upstream => "upstream",
            Self::Timeout => "timeout",
            Self::OverLimit(..) => "over_limit",
            Self::ClientBody => "client_body",
            Self::ClientBodyTimeout => "client_body_timeout",
            Self::PayloadTooLarge => "client_body_too_large",
            Self::BadTarget(_) => "bad_target",
            Self::Forbidden => "forbidden",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::AuthUnavailable => "auth_unavailable",
        }
    }

    fn body(&self) -> Bytes {
        match self {
            Self::NoRoute => Bytes::from_static(b"no route\n"),
            Self::NoHealthyEndpoint(name) => {
                Bytes::from(format!("service {name} has no healthy endpoint\n"))
            }
            Self::Upstream => Bytes::from_static(b"upstream error\n"),
            Self::Timeout => Bytes::from_static(b"upstream timeout\n"),
            Self::ClientBody => Bytes::from_static(b"invalid request body\n"),
            Self::ClientBodyTimeout => Bytes::from_static(b"request body timeout\n"),
            Self::PayloadTooLarge => Bytes::from_static(b"request body too large\n"),
            Self::BadTarget(why) => Bytes::from(format!("{why}\n")),
            Self::Forbidden => Bytes::from_static(b"forbidden\n"),
            Self::Unauthorized => Bytes::from_static(b"unauthorized\n"),
            Self::RateLimited => Bytes::from_static(b"too many requests\n"),
            Self::AuthUnavailable => Bytes::from_static(b"authentication service unavailable\n"),
            Self::OverLimit(name, why) => Bytes::from(format!(
                "service {name} is over its limits ({})\n",
                why.as_str()
            )),
        }
    }

    /// The response the client gets.
    pub fn into_response(self) -> Response<ProxyBody> {
        let mut response = plain(self.status(), self.body());
        if matches!(self, Self::NoHealthyEndpoint(_) | Self::OverLimit(..)) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A plain-text answer of berth's own (an error, a redirect's body, a shaping refusal).
pub(crate) fn plain(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(e: ProxyError) -> (u16, String) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let body = r.into_body().collect().await.expect("full body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn statuses_and_bodies_match_the_design() {
        assert_eq!(text(ProxyError::NoRoute).await, (404, "no route\n".into()));
        assert_eq!(
            text(ProxyError::Forbidden).await,
            (403, "forbidden\n".into())
        );
        assert_eq!(
            text(ProxyError::NoHealthyEndpoint("api".into())).await,
            (503, "service api has no healthy endpoint\n".into())
        );
        assert_eq!(
            text(ProxyError::Upstream).await,
            (502, "upstream error\n".into())
        );
        assert_eq!(
            text(ProxyError::Timeout).await,
            (504, "upstream timeout\n".into())
        );
        assert_eq!(
            text(ProxyError::ClientBody).await,
            (400, "invalid request body\n".into())
        );
        assert_eq!(
            text(ProxyError::PayloadTooLarge).await,
            (413, "request body too large\n".into())
        );
        assert_eq!(
            text(ProxyError::ClientBodyTimeout).await,
            (408, "request body timeout\n".into())
        );
        assert_eq!(
            text(ProxyError::OverLimit("api".into(), Refusal::QueueTimeout)).await,
            (
                503,
                "service api is over its limits (queue_timeout)\n".into()
            )
        );
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let r = ProxyError::NoHealthyEndpoint("api".into()).into_response();
        assert_eq!(r.headers()[RETRY_AFTER], "1");
    }
}
