//! Unit tests of the access-log formats and their escaping.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use http::header::{REFERER, USER_AGENT};
use http::{Method, Request, Version};

use super::*;
use crate::endpoint::Endpoint;
use crate::model::EndpointKey;
use crate::proxy::access_log::record::Texts;

/// 2000-10-10T13:55:36.250Z.
fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(971_186_136_250)
}

fn record(agent: &str) -> Record {
    let req = Request::builder()
        .method(Method::GET)
        .uri("/apache_pb.gif")
        .header("host", "www.example.test")
        .header(USER_AGENT, agent)
        .header(REFERER, "http://example.test/start.html")
        .body(())
        .unwrap();
    let key = EndpointKey {
        source: "c0ffee".into(),
        addr: "10.0.0.7:8080".parse().unwrap(),
    };
    let endpoint = Endpoint::new(key, 1);
    endpoint.set_origin(&Arc::from("shop-web-1"));
    Record {
        time: time(),
        listener: "web".into(),
        service: Some("shop".into()),
        endpoint: Some(Arc::new(endpoint)),
        client: "192.0.2.4".parse().unwrap(),
        method: Method::GET,
        version: Version::HTTP_11,
        texts: Texts::of(&req, true),
        status: 200,
        bytes_in: 12,
        bytes_out: 2326,
        duration: Duration::from_micros(4_567),
        upstream: Some(Duration::from_micros(3_210)),
        retries: 1,
        error: None,
        trace_id: Some([0xab; 16]),
    }
}

fn text(format: AccessFormat, r: &Record) -> String {
    let mut out = Vec::new();
    line(format, r, &mut Clock::default(), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn common_is_ncsa_clf() {
    assert_eq!(
        text(AccessFormat::Common, &record("curl/8.5")),
        "192.0.2.4 - - [10/Oct/2000:13:55:36 +0000] \"GET /apache_pb.gif HTTP/1.1\" 200 2326\n"
    );
}

#[test]
fn combined_adds_referer_and_user_agent() {
    assert_eq!(
        text(AccessFormat::Combined, &record("curl/8.5")),
        "192.0.2.4 - - [10/Oct/2000:13:55:36 +0000] \"GET /apache_pb.gif HTTP/1.1\" 200 2326 \
         \"http://example.test/start.html\" \"curl/8.5\"\n"
    );
    let mut bare = record("x");
    let req = Request::builder().uri("/").body(()).unwrap();
    bare.texts = Texts::of(&req, true);
    let line = text(AccessFormat::Combined, &bare);
    assert!(line.ends_with(" \"-\" \"-\"\n"), "{line}");
}

#[test]
fn quotes_and_control_characters_are_escaped_like_nginx() {
    let mut out = Vec::new();
    escape(b"a\"b\\c\x01\x7f\xc3\xa9 d", &mut out);
    assert_eq!(out, b"a\\x22b\\x5Cc\\x01\\x7F\\xC3\\xA9 d".to_vec());
    let line = text(AccessFormat::Combined, &record("evil\" 200 0 \"forged"));
    assert!(line.contains("\"evil\\x22 200 0 \\x22forged\"\n"), "{line}");
    assert_eq!(
        line.matches('"').count(),
        6,
        "no quote but the format's: {line}"
    );
}

#[test]
fn json_has_every_field() {
    let line = text(AccessFormat::Json, &record("curl/8.5"));
    assert!(line.ends_with("}\n") && !line.trim_end().contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["time"], "2000-10-10T13:55:36.250Z");
    assert_eq!(v["listener"], "web");
    assert_eq!(v["service"], "shop");
    assert_eq!(v["endpoint"], "10.0.0.7:8080");
    assert_eq!(v["container"], "shop-web-1");
    assert_eq!(v["client"], "192.0.2.4");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["host"], "www.example.test");
    assert_eq!(v["path"], "/apache_pb.gif");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes_in"], 12);
    assert_eq!(v["bytes_out"], 2326);
    assert_eq!(v["duration_ms"], 4.567);
    assert_eq!(v["upstream_ms"], 3.21);
    assert_eq!(v["retries"], 1);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["user_agent"], "curl/8.5");
    assert_eq!(v["referer"], "http://example.test/start.html");
    assert_eq!(v["trace_id"], "ab".repeat(16));
}

#[test]
fn json_escapes_and_nulls() {
    let mut r = record("quote\" and\ttab");
    r.endpoint = None;
    r.service = None;
    r.upstream = None;
    r.trace_id = None;
    r.error = Some("no_route");
    let line = text(AccessFormat::Json, &r);
    assert_eq!(line.matches('\n').count(), 1, "{line}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["user_agent"], "quote\" and\ttab");
    assert!(line.contains("\\t"), "{line}");
    assert_eq!(v["error"], "no_route");
    for absent in [
        "service",
        "endpoint",
        "container",
        "upstream_ms",
        "trace_id",
    ] {
        assert_eq!(v[absent], serde_json::Value::Null, "{absent}");
    }
}

#[test]
fn the_clock_renders_each_second_once() {
    let mut clock = Clock::default();
    assert_eq!(clock.clf(time()), "10/Oct/2000:13:55:36 +0000");
    let later = time() + Duration::from_secs(86_400 * 100);
    assert_eq!(clock.clf(later), "18/Jan/2001:13:55:36 +0000");
}
