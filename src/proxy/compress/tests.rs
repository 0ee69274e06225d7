//! Negotiation and the response rules of `proxy::compress`.

use super::*;
use crate::model::compress::Encoding::{Br, Gzip, Zstd};

fn accept(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).expect("header"));
    h
}

#[test]
fn q_values_choose_and_ties_keep_the_service_order() {
    let all = Encoding::ALL;
    assert_eq!(
        negotiate(&all, &accept("gzip, deflate, br, zstd")),
        Some(Br)
    );
    assert_eq!(negotiate(&all, &accept("gzip;q=0, br")), Some(Br));
    assert_eq!(negotiate(&all, &accept("gzip;q=1.0, br;q=0.5")), Some(Gzip));
    assert_eq!(
        negotiate(&all, &accept("zstd;q=0.9, gzip;q=0.8")),
        Some(Zstd)
    );
    assert_eq!(negotiate(&all, &accept("identity")), None);
    assert_eq!(negotiate(&all, &accept("*")), Some(Br));
    assert_eq!(negotiate(&all, &accept("*;q=0.1, br;q=0")), Some(Zstd));
    assert_eq!(negotiate(&all, &accept("x-gzip")), Some(Gzip));
    assert_eq!(negotiate(&all, &accept("br;q=0.000")), None);
    assert_eq!(
        negotiate(&all, &accept("br;q=2")),
        None,
        "invalid q refuses"
    );
    assert_eq!(negotiate(&all, &HeaderMap::new()), None);
    assert_eq!(negotiate(&[Gzip, Br], &accept("br, gzip")), Some(Gzip));
}

#[test]
fn q_values_read_up_to_three_decimals() {
    assert_eq!(qvalue("1"), 1000);
    assert_eq!(qvalue("0.5"), 500);
    assert_eq!(qvalue("0.125"), 125);
    assert_eq!(qvalue("0"), 0);
    assert_eq!(qvalue("0.1234"), 0);
    assert_eq!(qvalue("1.5"), 0);
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn only_compressible_responses_qualify() {
    let c = Compress::new(None, None, None).expect("defaults");
    let html = [("content-type", "text/html")];
    assert!(eligible(&c, 200, &headers(&html)));
    assert!(!eligible(&c, 206, &headers(&html)));
    assert!(!eligible(&c, 304, &headers(&html)));
    assert!(!eligible(
        &c,
        200,
        &headers(&[("content-type", "image/png")])
    ));
    assert!(!eligible(
        &c,
        200,
        &headers(&[("content-type", "text/html"), ("content-length", "100")])
    ));
    assert!(eligible(
        &c,
        200,
        &headers(&[("content-type", "text/html"), ("content-length", "1024")])
    ));
    assert!(!eligible(
        &c,
        200,
        &headers(&[("content-type", "text/html"), ("content-encoding", "gzip")])
    ));
    assert!(!eligible(
        &c,
        200,
        &headers(&[
            ("content-type", "text/html"),
            ("content-range", "bytes 0-9/99")
        ])
    ));
    assert!(!eligible(
        &c,
        200,
        &headers(&[
            ("content-type", "text/html"),
            ("cache-control", "public, No-Transform")
        ])
    ));
    assert!(!eligible(&c, 200, &HeaderMap::new()), "no content type");
}

#[test]
fn vary_is_merged_and_etags_weakened() {
    let mut h = headers(&[("vary", "Origin"), ("etag", "\"abc\"")]);
    add_vary(&mut h);
    add_vary(&mut h);
    let vary: Vec<_> = h.get_all(VARY).iter().collect();
    assert_eq!(vary, ["Origin", "Accept-Encoding"]);
    weaken_etag(&mut h);
    weaken_etag(&mut h);
    assert_eq!(h[ETAG], "W/\"abc\"");
}
