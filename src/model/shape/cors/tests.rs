//! The CORS settings' checks and origin matching.

use super::*;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn cors(origins: &[&str], credentials: bool) -> Result<Cors, Problem> {
    let origins = strings(origins);
    Cors::new(&Settings {
        origins: &origins,
        credentials,
        ..Settings::default()
    })
}

#[test]
fn origins_match_exactly_or_by_subdomain_ignoring_case() {
    let c = cors(
        &[
            "https://App.example.com",
            "https://*.example.org",
            "http://localhost:3000",
        ],
        true,
    )
    .expect("valid");
    for yes in [
        "https://app.example.com",
        "HTTPS://APP.EXAMPLE.COM",
        "https://a.example.org",
        "https://a.b.example.org",
        "http://localhost:3000",
    ] {
        assert!(c.allows(yes.as_bytes()), "{yes}");
    }
    for no in [
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://example.org",
        "https://.example.org",
        "https://evil.com/.example.org",
        "https://evilexample.org",
        "https://a.example.org.evil.com",
        "http://localhost",
        "null",
        "",
    ] {
        assert!(!c.allows(no.as_bytes()), "{no}");
    }
    assert_eq!(c.methods, "GET, HEAD, POST");
    assert!(cors(&["*"], false).expect("any").allows(b"https://x.test"));
}

#[test]
fn bad_origins_are_refused_with_the_fix() {
    for (bad, why) in [
        ("app.example.com", "expected an origin like"),
        ("ftp://a.test", "http or https"),
        ("https://a.test/", "write `https://a.test`"),
        ("https://a.test/app", "browsers send no path"),
        ("https://a.*.test", "first label"),
        ("https://a.test:http", "expected an origin like"),
        ("null", "sandboxed"),
    ] {
        let (field, e) = cors(&[bad], false).expect_err(bad);
        assert_eq!(field, "origins");
        assert!(e.contains(why), "{bad}: {e}");
    }
    let (_, e) = cors(&["*"], true).expect_err("* with credentials");
    assert!(e.contains("list the origins"), "{e}");
    let (_, e) = cors(&["*", "https://a.test"], false).expect_err("* among others");
    assert!(e.contains("stands alone"), "{e}");
    assert!(cors(&[], false).is_err());
}

#[test]
fn lists_are_rendered_once() {
    let (o, m, h, x) = (
        strings(&["https://a.test"]),
        strings(&["get", "PUT", "GET"]),
        strings(&["X-Request-Id", "content-type"]),
        strings(&["X-Total"]),
    );
    let c = Cors::new(&Settings {
        origins: &o,
        methods: Some(&m),
        headers: Some(&h),
        expose_headers: Some(&x),
        credentials: false,
        max_age: Some(Duration::from_secs(600)),
    })
    .expect("valid");
    assert_eq!(c.methods, "GET, PUT");
    assert_eq!(
        c.headers,
        AllowHeaders::List(HeaderValue::from_static("x-request-id, content-type"))
    );
    assert_eq!(
        c.expose_headers.as_ref().map(|v| v.to_str().ok()),
        Some(Some("x-total"))
    );
    assert_eq!(c.max_age, Some(HeaderValue::from(600u64)));
    let bad_method = strings(&["GE T"]);
    let e = Cors::new(&Settings {
        origins: &o,
        methods: Some(&bad_method),
        ..Settings::default()
    })
    .expect_err("bad method");
    assert_eq!(e.0, "methods");
    let star = strings(&["*"]);
    let e = Cors::new(&Settings {
        origins: &o,
        expose_headers: Some(&star),
        credentials: true,
        ..Settings::default()
    })
    .expect_err("* expose with credentials");
    assert_eq!(e.0, "expose_headers");
    let e = Cors::new(&Settings {
        origins: &o,
        max_age: Some(Duration::from_millis(1500)),
        ..Settings::default()
    })
    .expect_err("fractional max_age");
    assert_eq!(e.0, "max_age");
}
