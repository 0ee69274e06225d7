//! The request's target, checked before anything routes by it (data plane).
//!
//! - **Host.** The host a request is routed by is the one the backend receives and the one
//!   an https redirect names, so it must be a single, valid host: several `Host` headers, a
//!   `Host` that is not `host[:port]` (`a@evil.com`, `evil.com/x?`), or a `Host` that differs
//!   from the URI's authority (HTTP/2 `:authority`, HTTP/1.1 absolute form) are refused with
//!   400 ([`BadTarget`]). `host` is a registered name (RFC 3986 `reg-name`), an IPv4 address
//!   or an IPv6 literal in brackets; `port` is digits.
//! - **Path.** Dot segments are removed (RFC 3986 §5.2.4) before routing and prefix
//!   stripping, so `/public/../admin` is routed, stripped and forwarded as `/admin`; a
//!   percent-encoded dot (`%2e`) counts as a dot (it is an unreserved character, §6.2.2.2).
//!   A percent-encoded slash (`%2F`) is not a separator: it stays as sent and never matches a
//!   `/` of a route's path prefix. Repeated slashes are kept.
//!
//! Invariant: never panics; a path is only rebuilt when it holds a dot segment or a `%2e`.

use std::fmt;

use http::header::HOST;
use http::uri::{PathAndQuery, Uri};
use http::Request;

/// Why a request's target is refused (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadTarget {
    SeveralHosts,
    InvalidHost,
    HostMismatch,
    /// Its path could not be rebuilt once normalised.
    InvalidPath,
}

impl BadTarget {
    /// The `reason` label of `berth_bad_requests_total`.
    pub fn reason(self) -> &'static str {
        match self {
            BadTarget::SeveralHosts => "several_hosts",
            BadTarget::InvalidHost => "invalid_host",
            BadTarget::HostMismatch => "host_mismatch",
            BadTarget::InvalidPath => "invalid_path",
        }
    }
}

impl fmt::Display for BadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadTarget::SeveralHosts => "several Host headers",
            BadTarget::InvalidHost => "invalid Host header",
            BadTarget::HostMismatch => "the Host header differs from the request's authority",
            BadTarget::InvalidPath => "invalid request path",
        })
    }
}

/// The host to route `req` by (`host[:port]` as sent), `None` when it names none.
pub fn host<B>(req: &Request<B>) -> Result<Option<&str>, BadTarget> {
    let mut headers = req.headers().get_all(HOST).iter();
    let header = headers.next();
    if headers.next().is_some() {
        return Err(BadTarget::SeveralHosts);
    }
    let header = match header {
        Some(v) => Some(v.to_str().map_err(|_| BadTarget::InvalidHost)?),
        None => None,
    };
    if let Some(h) = header {
        if !valid_host(h) {
            return Err(BadTarget::InvalidHost);
        }
    }
    let authority = req.uri().authority().map(|a| a.as_str());
    match (authority, header) {
        // `user@host` is legal in a URI's authority, never in what berth routes by.
        (Some(a), _) if !valid_host(a) => Err(BadTarget::InvalidHost),
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => Err(BadTarget::HostMismatch),
        (Some(a), _) => Ok(Some(a)),
        (None, h) => Ok(h),
    }
}

/// `host[:port]` with a reg-name, IPv4 or bracketed IPv6 host and a numeric port.
pub fn valid_host(value: &str) -> bool {
    let (host, port) = split_port(value);
    let port_ok = port.map_or(true, |p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
    });
    let host_ok = match host.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => !host.is_empty() && host.len() <= 255 && host.bytes().all(reg_name_byte),
    };
    host_ok && port_ok
}

/// `host:port` → (`host`, `Some(port)`); `[v6]` and `[v6]:port` keep their brackets.
fn split_port(value: &str) -> (&str, Option<&str>) {
    match value.rfind(':') {
        Some(i)
            if !value[i..].contains(']')
                && (value.starts_with('[') || !value[..i].contains(':')) =>
        {
            (&value[..i], Some(&value[i + 1..]))
        }
        _ => (value, None),
    }
}

/// RFC 3986 `reg-name`: unreserved, sub-delims and percent-encodings.
fn reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)
}

/// Removes `req`'s dot segments in place (see the module doc); false when the path could
/// not be rebuilt (the request is then refused as having an invalid target).
pub fn normalize<B>(req: &mut Request<B>) -> bool {
    let path = req.uri().path();
    if !needs_normalizing(path) {
        return true;
    }
    let normalized = remove_dot_segments(&decode_dots(path));
    let rebuilt = match req.uri().query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let Ok(path_and_query) = PathAndQuery::try_from(rebuilt) else {
        return false;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    match Uri::from_parts(parts) {
        Ok(uri) => {
            *req.uri_mut() = uri;
            true
        }
        Err(_) => false,
    }
}

/// A dot segment or an encoded dot anywhere: the only paths that change.
fn needs_normalizing(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.windows(2).any(|w| w == b"/.")
        || bytes
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'2' && (w[2] == b'e' || w[2] == b'E'))
}

/// `%2e` / `%2E` → `.`.
fn decode_dots(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail
            .as_bytes()
            .get(1..3)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"2e"))
        {
            out.push('.');
            rest = &tail[3..];
        } else {
            out.push('%');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// RFC 3986 §5.2.4 on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    let mut trailing = false;
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." => trailing = last,
            ".." => {
                segments.pop();
                trailing = last;
            }
            s => {
                segments.push(s);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, hosts: &[&str]) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        for h in hosts {
            b = b.header(HOST, *h);
        }
        b.body(()).expect("test request")
    }

    #[test]
    fn one_valid_host_is_routed_by() {
        assert_eq!(host(&request("/", &["api.test"])), Ok(Some("api.test")));
        assert_eq!(
            host(&request("/", &["api.test:8080"])),
            Ok(Some("api.test:8080"))
        );
        assert_eq!(host(&request("/", &["[::1]:80"])), Ok(Some("[::1]:80")));
        assert_eq!(host(&request("/", &["10.0.0.1"])), Ok(Some("10.0.0.1")));
        assert_eq!(host(&request("/", &[])), Ok(None));
        let absolute = request("http://api.test/x", &["API.test"]);
        assert_eq!(host(&absolute), Ok(Some("api.test")));
    }

    #[test]
    fn several_invalid_or_conflicting_hosts_are_refused() {
        let two = request("/", &["a.test", "b.test"]);
        assert_eq!(host(&two), Err(BadTarget::SeveralHosts));
        for bad in [
            "evil.com/x?",
            "a@evil.com",
            "a b",
            "",
            "x:",
            "x:80:80",
            "[zz]",
            "x:port",
        ] {
            assert_eq!(
                host(&request("/", &[bad])),
                Err(BadTarget::InvalidHost),
                "{bad}"
            );
        }
        let other = request("http://a.test/", &["b.test"]);
        assert_eq!(host(&other), Err(BadTarget::HostMismatch));
        let userinfo = request("http://u@a.test/", &[]);
        assert_eq!(host(&userinfo), Err(BadTarget::InvalidHost));
    }

    fn normalized(uri: &str) -> String {
        let mut req = request(uri, &[]);
        assert!(normalize(&mut req), "{uri}");
        req.uri().to_string()
    }

    #[test]
    fn dot_segments_are_removed_before_routing() {
        assert_eq!(normalized("/strip/../secret"), "/secret");
        assert_eq!(normalized("/a/./b/../c?x=/../y"), "/a/c?x=/../y");
        assert_eq!(normalized("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(normalized("/a/b/.."), "/a/");
        assert_eq!(normalized("/a/."), "/a/");
        assert_eq!(normalized("/.."), "/");
        assert_eq!(normalized("/a/%2e%2E/b"), "/b");
        assert_eq!(normalized("/a/.%2e/b"), "/b");
    }

    #[test]
    fn other_paths_are_left_as_sent() {
        assert_eq!(normalized("/a/b/c"), "/a/b/c");
        assert_eq!(normalized("/a//b"), "/a//b");
        assert_eq!(normalized("/a%2Fb/..x/.y"), "/a%2Fb/..x/.y");
        assert_eq!(normalized("/a%2F..%2Fb"), "/a%2F..%2Fb");
        assert_eq!(normalized("/v1.2/x"), "/v1.2/x");
    }
}
