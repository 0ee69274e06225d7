//! What changes in a request sent to an HTTP/2 upstream (data plane).
//!
//! The rewrite (`proxy::http`) prepares every request for HTTP/1.1; for an `h2` service,
//! [`prepare`] then moves the host into the URI's authority (`:authority`, with the scheme
//! the upstream is reached by) and gives back `TE: trailers` when the client asked for it —
//! gRPC servers require it, and it is the one `TE` value HTTP/2 allows. Only `h2` services
//! pay for this; HTTP/1.1 requests never come here.

use http::header::{HeaderValue, HOST, TE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Uri, Version};

/// Whether the client's `TE` header lists `trailers` (read before hop-by-hop removal).
pub fn wants_trailers(headers: &http::HeaderMap) -> bool {
    headers.get_all(TE).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    })
}

/// Turns an HTTP/1.1-shaped request into an HTTP/2 one: absolute URI from `Host` (which is
/// then removed, `:authority` carries it), version 2, and `TE: trailers` when `trailers`.
/// A request without a usable host stays as it is (hyper sends it with `:scheme` only).
pub fn prepare<B>(req: &mut Request<B>, scheme: Scheme, trailers: bool) {
    if trailers {
        req.headers_mut()
            .insert(TE, HeaderValue::from_static("trailers"));
    }
    let authority = req
        .headers()
        .get(HOST)
        .and_then(|h| Authority::try_from(h.as_bytes()).ok());
    let Some(authority) = authority else {
        return;
    };
    let path = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme);
    parts.authority = Some(authority);
    parts.path_and_query = Some(path);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_2;
        req.headers_mut().remove(HOST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_becomes_the_authority_and_trailers_are_kept() {
        let mut req = Request::builder()
            .uri("/pkg.Svc/Call?x=1")
            .header(HOST, "api.test:8080")
            .body(())
            .expect("request");
        assert!(!wants_trailers(req.headers()));
        prepare(&mut req, Scheme::HTTP, true);
        assert_eq!(req.uri(), "http://api.test:8080/pkg.Svc/Call?x=1");
        assert_eq!(req.version(), Version::HTTP_2);
        assert!(req.headers().get(HOST).is_none());
        assert_eq!(req.headers()[TE], "trailers");
    }

    #[test]
    fn te_lists_are_read() {
        let mut h = http::HeaderMap::new();
        h.insert(TE, HeaderValue::from_static("gzip, Trailers"));
        assert!(wants_trailers(&h));
    }

    #[test]
    fn no_host_leaves_the_request_as_is() {
        let mut req = Request::builder().uri("/a").body(()).expect("request");
        prepare(&mut req, Scheme::HTTPS, false);
        assert_eq!(req.uri(), "/a");
        assert_eq!(req.version(), Version::HTTP_11);
    }
}
