//! Header rewriting for proxied requests and responses (data plane).
//!
//! Edits headers in place: hop-by-hop headers (RFC 9110 §7.6.1, plus those named in
//! `Connection`) are removed both ways — except the end-to-end headers berth and backends
//! depend on ([`PROTECTED`]), which `Connection` can never make disappear;
//! `X-Forwarded-For/-Proto/-Host` and `X-Real-IP` are set from what berth saw, and what the
//! client sent in them, and any `Forwarded`, is dropped unless the peer is trusted. `Upgrade`
//! requests keep `Connection: upgrade` and `Upgrade` so the upstream can switch protocols.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers always removed (besides those listed in `Connection`).
static HOP_BY_HOP: [&HeaderName; 8] = [
    &header::CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &header::PROXY_AUTHENTICATE,
    &header::PROXY_AUTHORIZATION,
    &header::TE,
    &header::TRAILER,
    &header::TRANSFER_ENCODING,
];

/// End-to-end headers a `Connection` list cannot remove: routing, authentication, framing
/// and what berth itself sets for the backend.
static PROTECTED: [&HeaderName; 9] = [
    &header::HOST,
    &header::AUTHORIZATION,
    &header::COOKIE,
    &header::CONTENT_LENGTH,
    &header::CONTENT_TYPE,
    &X_FORWARDED_FOR,
    &X_FORWARDED_PROTO,
    &X_FORWARDED_HOST,
    &X_REAL_IP,
];

/// True when the request asks to switch protocols (`Connection: upgrade` + `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| has_token(v, "upgrade"))
}

fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

/// Removes hop-by-hop headers; with `upgrade`, keeps `Upgrade` and sets `Connection: upgrade`.
/// One pass over the names finds them (most messages carry none), instead of a hash lookup
/// per hop-by-hop name.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let mut found = [false; HOP_BY_HOP.len()];
    let mut has_upgrade = false;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| *h == name) {
            found[i] = true;
        }
        has_upgrade |= name == header::UPGRADE;
    }
    if found[0] {
        // HOP_BY_HOP[0] is `Connection`: also remove the headers it lists.
        remove_connection_listed(headers);
    }
    for (name, _) in HOP_BY_HOP.iter().zip(found).filter(|(_, f)| *f) {
        headers.remove(*name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if has_upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// Removes the headers a `Connection` header names (cold: few requests carry such a list).
#[cold]
fn remove_connection_listed(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| n != header::UPGRADE && !PROTECTED.contains(&n))
        .collect();
    for name in listed {
        headers.remove(name);
    }
}

/// True when `ip` is in one of `trusted`.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    crate::model::policy::in_nets(ip, trusted)
}

/// What berth knows of the client, applied to one request.
#[derive(Debug)]
pub struct Forwarded<'a> {
    /// The peer's address, pre-rendered once per connection.
    pub client: &'a HeaderValue,
    pub proto: &'static str,
    /// Whether the peer's own `X-Forwarded-*` headers are kept.
    pub trusted: bool,
}

/// Sets `X-Forwarded-For/-Proto/-Host` and `X-Real-IP` from `fwd`, and drops `Forwarded`
/// from an untrusted peer; `host` is the request's host.
pub fn set_forwarded(headers: &mut HeaderMap, fwd: &Forwarded<'_>, host: Option<HeaderValue>) {
    if !fwd.trusted {
        headers.remove(header::FORWARDED);
    }
    if !(fwd.trusted && headers.contains_key(&X_REAL_IP)) {
        headers.insert(X_REAL_IP.clone(), fwd.client.clone());
    }
    let prior = if fwd.trusted {
        headers.get(&X_FORWARDED_FOR).cloned()
    } else {
        None
    };
    let xff = match prior.as_ref().and_then(|p| p.to_str().ok()) {
        Some(p) => append_client(p, fwd.client),
        None => fwd.client.clone(),
    };
    headers.insert(X_FORWARDED_FOR.clone(), xff);
    if !(fwd.trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(fwd.proto),
        );
    }
    if !(fwd.trusted && headers.contains_key(&X_FORWARDED_HOST)) {
        match host {
            Some(h) => headers.insert(X_FORWARDED_HOST.clone(), h),
            None => headers.remove(&X_FORWARDED_HOST),
        };
    }
}

fn append_client(prior: &str, client: &HeaderValue) -> HeaderValue {
    let mut joined = Vec::with_capacity(prior.len() + 2 + client.len());
    joined.extend_from_slice(prior.as_bytes());
    joined.extend_from_slice(b", ");
    joined.extend_from_slice(client.as_bytes());
    // Invariant: both parts were valid header values and ", " is visible ASCII.
    HeaderValue::from_bytes(&joined).unwrap_or_else(|_| client.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("test header name"),
                HeaderValue::from_str(v).expect("test header value"),
            );
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_listed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("x-keep", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn connection_cannot_remove_end_to_end_headers() {
        let mut h = map(&[
            (
                "connection",
                "Host, Authorization, Cookie, X-Real-IP, x-gone",
            ),
            ("host", "api.test"),
            ("authorization", "Bearer t"),
            ("cookie", "a=1"),
            ("x-gone", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["host"], "api.test");
        assert_eq!(h["authorization"], "Bearer t");
        assert_eq!(h["cookie"], "a=1");
        assert!(!h.contains_key("x-gone") && !h.contains_key("connection"));
    }

    #[test]
    fn forwarded_and_real_ip_are_berths_unless_the_peer_is_trusted() {
        let client = HeaderValue::from_static("192.0.2.7");
        let sent = [("forwarded", "for=1.2.3.4"), ("x-real-ip", "1.2.3.4")];
        for trusted in [false, true] {
            let mut h = map(&sent);
            let fwd = Forwarded {
                client: &client,
                proto: "http",
                trusted,
            };
            set_forwarded(&mut h, &fwd, None);
            let real = h["x-real-ip"].to_str().expect("ascii");
            match trusted {
                false => {
                    assert!(!h.contains_key("forwarded"));
                    assert_eq!(real, "192.0.2.7");
                }
                true => {
                    assert_eq!(h["forwarded"], "for=1.2.3.4");
                    assert_eq!(real, "1.2.3.4");
                }
            }
        }
    }

    #[test]
    fn upgrade_keeps_upgrade_headers() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }

    #[test]
    fn untrusted_forwarded_headers_are_replaced() {
        let client = HeaderValue::from_static("10.0.0.9");
        let fwd = Forwarded {
            client: &client,
            proto: "http",
            trusted: false,
        };
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil"),
        ]);
        set_forwarded(&mut h, &fwd, Some(HeaderValue::from_static("a.example")));
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.example");
    }

    #[test]
    fn trusted_forwarded_headers_are_kept_and_appended() {
        let client = HeaderValue::from_static("10.0.0.9");
        let fwd = Forwarded {
            client: &client,
            proto: "http",
            trusted: true,
        };
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        set_forwarded(&mut h, &fwd, Some(HeaderValue::from_static("a.example")));
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "a.example");
    }

    #[test]
    fn trust_is_by_cidr() {
        let nets: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("literal cidr")];
        assert!(is_trusted("10.1.2.3".parse().expect("ip"), &nets));
        assert!(!is_trusted("11.1.2.3".parse().expect("ip"), &nets));
    }
}
