//! The request target checks (`berth::proxy::target`) on arbitrary `http::Request`s: a URI
//! as hyper would parse it (any bytes `http::Uri` accepts) and zero or more `Host` headers.
//!
//! Properties: never panics; a host `host` returns passes `valid_host` and is the URI's
//! authority or the one `Host` header; several `Host` headers are refused; `normalize`
//! accepts every URI `http` parsed, leaves scheme, authority and query alone, and gives a
//! path without dot segments (`.`, `..`, encoded or not) that normalising again leaves
//! unchanged; a `/`-rooted path stays `/`-rooted.
//!
//! Input: the request target on one line, `Host: value` lines for headers; see `read`.
#![no_main]

use berth::proxy::target::{host, normalize, valid_host, BadTarget};
use http::header::HOST;
use http::{HeaderValue, Request, Uri};
use libfuzzer_sys::fuzz_target;

/// Reads the text format: lines starting `Host:` are `Host` header values (after one
/// optional space), the first other line is the request target, as bytes.
fn read(data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut uri = None;
    let mut hosts = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        match line.strip_prefix(b"Host:") {
            Some(value) => hosts.push(value.strip_prefix(b" ").unwrap_or(value).to_vec()),
            None => {
                uri.get_or_insert_with(|| line.to_vec());
            }
        }
    }
    (uri.unwrap_or_default(), hosts)
}

struct Input {
    uri: Vec<u8>,
    hosts: Vec<Vec<u8>>,
}

fn has_dot_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase().replace("%2e", ".");
    lower.split('/').skip(1).any(|s| s == "." || s == "..")
}

fuzz_target!(|data: &[u8]| {
    let (uri, hosts) = read(data);
    let input = Input { uri, hosts };
    for h in &input.hosts {
        if let Ok(s) = std::str::from_utf8(h) {
            if valid_host(s) {
                assert!(s.is_ascii() && !s.is_empty(), "valid_host({s:?})");
                assert!(!s.contains(['/', '?', '#', '@', ' ']), "valid_host({s:?})");
            }
        }
    }
    let Ok(uri) = Uri::from_maybe_shared(input.uri.clone()) else {
        return;
    };
    let mut req = Request::new(());
    *req.uri_mut() = uri;
    let mut headers = 0;
    for h in &input.hosts {
        if let Ok(v) = HeaderValue::from_bytes(h) {
            req.headers_mut().append(HOST, v);
            headers += 1;
        }
    }

    let routed = host(&req).map(|h| h.map(str::to_owned));
    match &routed {
        Ok(Some(h)) => {
            assert!(valid_host(h), "host() gave an invalid host {h:?}");
            let authority = req.uri().authority().map(|a| a.as_str());
            let header = req.headers().get(HOST).and_then(|v| v.to_str().ok());
            assert!(Some(h.as_str()) == authority || Some(h.as_str()) == header);
        }
        Ok(None) => assert!(req.uri().authority().is_none() && headers == 0),
        Err(BadTarget::SeveralHosts) => assert!(headers >= 2),
        Err(_) => {}
    }
    if headers >= 2 {
        assert_eq!(routed, Err(BadTarget::SeveralHosts));
    }

    let before = req.uri().clone();
    assert!(normalize(&mut req), "normalize refused {before:?}");
    let once = req.uri().clone();
    assert_eq!(once.scheme(), before.scheme());
    assert_eq!(once.authority(), before.authority());
    assert_eq!(once.query(), before.query());
    let path = once.path();
    assert!(!has_dot_segment(path), "{before:?} → {path:?} keeps a dot segment");
    if before.path().starts_with('/') {
        assert!(path.starts_with('/'), "{before:?} → {path:?}");
    }
    if !has_dot_segment(before.path()) && !before.path().to_ascii_lowercase().contains("%2e") {
        assert_eq!(once, before, "a path without dot segments was changed");
    }
    assert!(normalize(&mut req), "normalize refused its own output {once:?}");
    assert_eq!(req.uri(), &once, "normalize is not idempotent on {before:?}");
    // Normalising never changes what the request is routed by.
    assert_eq!(host(&req).map(|h| h.map(str::to_owned)), routed);
});
