//! The data plane's shaping as pure functions: header edits, CORS headers, `Vary`,
//! redirects.

use http::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, VARY};
use http::{Method, Request};

use super::{cors, edit, redirect};
use crate::model::shape::cors::{Cors, Settings};
use crate::model::shape::headers::{Direction, HeaderEdits};
use crate::model::shape::rewrite::{replace, SchemeRedirect};
use crate::model::shape::RegexRedirect;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

#[test]
fn edits_remove_then_set_then_add() {
    let pairs = |l: &[(&str, &str)]| -> Vec<(String, String)> {
        l.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    };
    let edits = HeaderEdits::new(
        Direction::Response,
        &pairs(&[("X-Set", "new")]),
        &pairs(&[("X-Add", "2")]),
        &["Server".into()],
    )
    .expect("edits");
    let mut h = map(&[
        ("server", "nginx"),
        ("x-set", "a"),
        ("x-set", "b"),
        ("x-add", "1"),
    ]);
    edit(&edits, &mut h);
    assert!(!h.contains_key("server"));
    let set: Vec<_> = h.get_all("x-set").iter().collect();
    assert_eq!(set, ["new"]);
    let add: Vec<_> = h.get_all("x-add").iter().collect();
    assert_eq!(add, ["1", "2"]);
}

fn cors_of(origins: &[&str], credentials: bool) -> Cors {
    let origins: Vec<String> = origins.iter().map(|o| (*o).into()).collect();
    Cors::new(&Settings {
        origins: &origins,
        credentials,
        ..Settings::default()
    })
    .expect("cors")
}

#[test]
fn responses_to_allowed_origins_get_cors_headers_and_vary() {
    let c = cors_of(&["https://app.test"], true);
    let origin = HeaderValue::from_static("https://app.test");
    let mut h = map(&[
        ("vary", "Accept-Encoding"),
        ("access-control-allow-origin", "*"),
    ]);
    cors::respond(&c, Some(&origin), &mut h);
    assert_eq!(h["access-control-allow-origin"], "https://app.test");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h[VARY], "Accept-Encoding, Origin");
    let mut h = map(&[("access-control-allow-origin", "*")]);
    let evil = HeaderValue::from_static("https://evil.test");
    cors::respond(&c, Some(&evil), &mut h);
    assert!(
        !h.contains_key("access-control-allow-origin"),
        "the upstream's is removed"
    );
    assert_eq!(h[VARY], "Origin");
    let mut h = map(&[("vary", "origin")]);
    cors::respond(&c, None, &mut h);
    assert_eq!(h.get_all(VARY).iter().count(), 1, "Origin is listed once");
    let any = cors_of(&["*"], false);
    let mut h = HeaderMap::new();
    cors::respond(&any, Some(&evil), &mut h);
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(!h.contains_key(VARY), "`*` does not vary");
}

#[test]
fn preflights_are_recognised_and_answered() {
    let c = cors_of(&["https://app.test"], false);
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/x")
        .header("origin", "https://app.test")
        .header("access-control-request-method", "PUT")
        .body(())
        .expect("request");
    assert!(cors::is_preflight(&req));
    let r = cors::preflight(&c, &req, "shape-unit");
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-methods"],
        "GET, HEAD, POST"
    );
    let plain_options = Request::builder()
        .method(Method::OPTIONS)
        .header("origin", "https://app.test")
        .body(())
        .expect("request");
    assert!(!cors::is_preflight(&plain_options));
}

#[test]
fn redirects() {
    let req = |method: Method, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "a.test:8080")
            .header("x-forwarded-proto", "https")
            .body(())
            .expect("request")
    };
    let to = SchemeRedirect {
        scheme: "https",
        port: None,
        permanent: true,
    };
    let r = redirect::to_scheme(&to, &req(Method::GET, "/p?q=1"));
    assert_eq!(
        (r.status().as_u16(), &r.headers()[LOCATION]),
        (301, &HeaderValue::from_static("https://a.test/p?q=1"))
    );
    let temporary = SchemeRedirect {
        port: Some(8443),
        permanent: false,
        ..to
    };
    let r = redirect::to_scheme(&temporary, &req(Method::POST, "/p"));
    assert_eq!(
        (r.status().as_u16(), &r.headers()[LOCATION]),
        (307, &HeaderValue::from_static("https://a.test:8443/p"))
    );
    assert_eq!(
        redirect::scheme_of(&req(Method::GET, "/"), "http", true),
        "https"
    );
    assert_eq!(
        redirect::scheme_of(&req(Method::GET, "/"), "http", false),
        "http"
    );
    let by = RegexRedirect {
        replace: replace("^http://a.test:8080/old/(.*)", "https://b.test/new/$1").expect("regex"),
        status: 308,
    };
    let r = redirect::by_regex(&by, "http", &req(Method::GET, "/old/x?y")).expect("matches");
    assert_eq!(
        (r.status().as_u16(), &r.headers()[LOCATION]),
        (308, &HeaderValue::from_static("https://b.test/new/x?y"))
    );
    assert!(redirect::by_regex(&by, "http", &req(Method::GET, "/other")).is_none());
    let broken = RegexRedirect {
        replace: replace("^(.*)$", "https://x.test/\n$1").expect("regex"),
        status: 302,
    };
    let r = redirect::by_regex(&broken, "http", &req(Method::GET, "/")).expect("matches");
    assert_eq!(r.status(), 500);
}
