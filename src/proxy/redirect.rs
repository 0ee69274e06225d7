//! The `http` → `https` redirect (data plane) of an `http` listener with `redirect:`.
//!
//! Every request is answered at once, without routing: `301 Moved Permanently` for `GET`
//! and `HEAD` (what browsers and crawlers remember), `308 Permanent Redirect` for other
//! methods (which keeps the method and body, where a 301 may turn a POST into a GET), as
//! Traefik's `redirectScheme` does. `Location` keeps the host (without its port), the path
//! and the query, and names the https port unless it is 443. A request without a host gets
//! 400: there is nowhere to send it; so does one whose host `target::host` refuses (several,
//! invalid such as `a@evil.com`, or conflicting), so `Location` never names a host berth
//! did not validate.
//!
//! Each redirect is counted in `berth_redirects_total` with `rule="listener"` (and an empty
//! `service`); a service's own redirects (`proxy::shape`) are counted there too, under the
//! service's name and their rule.

use bytes::Bytes;
use http::header::{HeaderValue, LOCATION};
use http::{Method, Request, Response, StatusCode};
use metrics::Counter;

use crate::metrics as m;
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::target;

/// Where one listener redirects to.
#[derive(Debug)]
pub struct Redirect {
    /// `:PORT`, or empty for 443.
    port_suffix: String,
    redirects: Counter,
}

impl Redirect {
    /// Redirects of `listener` to `https://HOST:port`.
    pub fn new(listener: &str, port: u16) -> Self {
        let port_suffix = match port {
            443 => String::new(),
            p => format!(":{p}"),
        };
        Self {
            port_suffix,
            redirects: counter(listener, "", "listener"),
        }
    }

    /// The redirect for `req`.
    pub fn respond<B>(&self, req: &Request<B>) -> Response<ProxyBody> {
        let host = match target::host(req) {
            Ok(Some(host)) => strip_port(host),
            Ok(None) => return plain(StatusCode::BAD_REQUEST, "no host to redirect to\n"),
            Err(bad) => return ProxyError::BadTarget(bad).into_response(),
        };
        let Some(location) = self.location(req, host) else {
            return plain(StatusCode::BAD_REQUEST, "no host to redirect to\n");
        };
        self.redirects.increment(1);
        let status = match *req.method() {
            Method::GET | Method::HEAD => StatusCode::MOVED_PERMANENTLY,
            _ => StatusCode::PERMANENT_REDIRECT,
        };
        let mut response = plain(status, "");
        response.headers_mut().insert(LOCATION, location);
        response
    }

    /// `https://<host><port suffix><path and query>`; `host` was checked (`target::host`).
    fn location<B>(&self, req: &Request<B>, host: &str) -> Option<HeaderValue> {
        let target = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .filter(|pq| pq.starts_with('/'))
            .unwrap_or("/");
        let url = format!("https://{host}{}{target}", self.port_suffix);
        HeaderValue::from_str(&url).ok()
    }
}

/// The `berth_redirects_total` series of redirects made on `listener` by `rule`:
/// `listener` (the listener's `redirect:`, `service` empty), `redirect_scheme` or
/// `redirect_regex` (a service's, `service` its name).
pub fn counter(listener: &str, service: &str, rule: &'static str) -> Counter {
    let labels = [
        ("listener", listener.to_owned()),
        ("service", service.to_owned()),
        ("rule", rule.to_owned()),
    ];
    metrics::counter!(m::REDIRECTS_TOTAL, &labels)
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    crate::proxy::error::plain(status, Bytes::from_static(body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;

    fn request(method: Method, uri: &str, host: Option<&str>) -> Request<()> {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(h) = host {
            b = b.header(HOST, h);
        }
        b.body(()).expect("test request")
    }

    fn answer(r: &Redirect, req: &Request<()>) -> (u16, String) {
        let resp = r.respond(req);
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        (resp.status().as_u16(), location)
    }

    #[test]
    fn a_host_berth_cannot_vouch_for_is_not_redirected_to() {
        let r = Redirect::new("web", 443);
        for host in ["a@evil.com", "evil.com/x?"] {
            let (status, location) = answer(&r, &request(Method::GET, "/", Some(host)));
            assert_eq!((status, location.as_str()), (400, ""), "{host}");
        }
    }

    #[test]
    fn get_is_301_and_others_308_with_path_and_query() {
        let r = Redirect::new("web", 8443);
        let get = request(Method::GET, "/a/b?x=1&y=2", Some("example.com:8080"));
        assert_eq!(
            answer(&r, &get),
            (301, "https://example.com:8443/a/b?x=1&y=2".into())
        );
        let post = request(Method::POST, "/form", Some("example.com"));
        assert_eq!(
            answer(&r, &post),
            (308, "https://example.com:8443/form".into())
        );
        let head = request(Method::HEAD, "/", Some("example.com"));
        assert_eq!(answer(&r, &head).0, 301);
    }

    #[test]
    fn port_443_is_left_out_and_ipv6_hosts_keep_brackets() {
        let r = Redirect::new("web", 443);
        let req = request(Method::GET, "/", Some("[::1]:80"));
        assert_eq!(answer(&r, &req), (301, "https://[::1]/".into()));
        let abs = request(Method::GET, "http://a.example:80/p?q", None);
        assert_eq!(answer(&r, &abs), (301, "https://a.example/p?q".into()));
    }

    #[test]
    fn no_host_is_400() {
        let r = Redirect::new("web", 443);
        assert_eq!(answer(&r, &request(Method::GET, "/", None)).0, 400);
        assert_eq!(answer(&r, &request(Method::GET, "/", Some(""))).0, 400);
    }
}
