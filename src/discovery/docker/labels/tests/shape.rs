//! The shaping labels: `headers.*`, `cors.*`, `max_request_body`, rewrites and redirects, and
//! what an L4 container may take.

use super::*;
use crate::model::shape::cors::{AllowHeaders, Origins};
use crate::model::shape::Rules;

fn rules(c: Container) -> Rules {
    service(c).shape.rules().cloned().expect("shaped")
}

#[test]
fn header_labels_name_the_header_in_the_key() {
    let r = rules(
        container()
            .label("berth.headers.request.set.X-Env", "prod")
            .label("berth.headers.request.add.X-Tag", "a")
            .label("berth.headers.request.remove", "X-Debug, X-Trace")
            .label("berth.headers.response.set.X-Frame-Options", "DENY")
            .label(
                "berth.headers.response.set.Content-Security-Policy",
                "default-src 'self'; img-src *",
            )
            .label("berth.headers.response.remove", "Server,X-Powered-By"),
    );
    assert_eq!(r.request_headers.set[0].0, "x-env");
    assert_eq!(r.request_headers.set[0].1, "prod");
    assert_eq!(r.request_headers.add[0].0, "x-tag");
    assert_eq!(r.request_headers.remove, ["x-debug", "x-trace"]);
    assert_eq!(r.response_headers.set.len(), 2);
    assert_eq!(r.response_headers.remove, ["server", "x-powered-by"]);
    assert!(!service(container()).shape.any(), "no label, no shaping");
}

#[test]
fn bad_header_labels_reject_the_container_with_the_reason() {
    let reason =
        rejected(container().label("berth.headers.request.set.X-Forwarded-For", "1.2.3.4"));
    assert!(
        reason.contains(
            "label berth.headers.request.set.X-Forwarded-For: X-Forwarded-For is written by berth"
        ),
        "{reason}"
    );
    assert!(reason.contains("trusted_ips"), "{reason}");
    let reason = rejected(container().label("berth.headers.response.remove", "Transfer-Encoding"));
    assert!(reason.contains("hop-by-hop"), "{reason}");
    let reason = rejected(container().label("berth.headers.request.set.Host", "x.test"));
    assert!(reason.contains("route by `hosts`"), "{reason}");
    let reason = rejected(container().label("berth.headers.response.set.X-A", ""));
    assert!(
        reason.contains("berth.headers.response.set.X-A is empty"),
        "{reason}"
    );
    let reason = rejected(
        container()
            .label("berth.headers.request.set.X-A", "1")
            .label("berth.headers.request.set.x-a", "2"),
    );
    assert!(reason.contains("listed twice"), "{reason}");
    let reason = rejected(container().label("berth.headers.request.set.", "1"));
    assert!(
        reason.contains("unknown label berth.headers.request.set."),
        "{reason}"
    );
}

#[test]
fn cors_labels() {
    let r = rules(
        container()
            .label(
                "berth.cors.origins",
                "https://app.example.com, https://*.example.org",
            )
            .label("berth.cors.methods", "GET,PUT")
            .label("berth.cors.headers", "*")
            .label("berth.cors.credentials", "true")
            .label("berth.cors.max_age", "10m"),
    );
    let cors = r.cors.expect("cors");
    assert!(matches!(cors.origins, Origins::List(ref l) if l.len() == 2));
    assert_eq!(cors.headers, AllowHeaders::Any);
    assert!(cors.credentials);
    let reason = rejected(
        container()
            .label("berth.cors.origins", "*")
            .label("berth.cors.credentials", "true"),
    );
    assert!(
        reason.contains("label berth.cors.origins: `*` cannot be used with"),
        "{reason}"
    );
    let reason = rejected(container().label("berth.cors.methods", "GET"));
    assert!(
        reason.contains("label berth.cors.methods has no effect without berth.cors.origins"),
        "{reason}"
    );
}

#[test]
fn size_rewrite_and_redirect_labels() {
    let r = rules(
        container()
            .label("berth.max_request_body", "10MiB")
            .label("berth.replace_path_regex.regex", "^/old/(.*)$")
            .label("berth.replace_path_regex.replacement", "/new/$1")
            .label("berth.add_prefix", "/v1")
            .label("berth.redirect_scheme", "https")
            .label("berth.redirect_scheme.port", "8443")
            .label("berth.redirect_regex.regex", "^http://old.test/(.*)")
            .label("berth.redirect_regex.replacement", "https://new.test/$1")
            .label("berth.redirect_regex.status", "301"),
    );
    assert_eq!(r.max_request_body, Some(10 << 20));
    assert_eq!(r.rewrite.add_prefix.as_deref(), Some("/v1"));
    assert!(r.rewrite.replace_path_regex.is_some());
    let s = r.redirect_scheme.expect("scheme redirect");
    assert_eq!((s.scheme, s.port, s.permanent), ("https", Some(8443), true));
    assert_eq!(r.redirect_regex.expect("regex redirect").status, 301);
    for (key, value, why) in [
        ("berth.max_request_body", "10", "like 10B or 10MB"),
        ("berth.add_prefix", "/v1/", "write `/v1`"),
        ("berth.replace_path", "v1", "start with `/`"),
        ("berth.redirect_scheme", "ftp", "https or http"),
        (
            "berth.redirect_scheme.port",
            "8443",
            "no effect without berth.redirect_scheme",
        ),
        ("berth.replace_path_regex.regex", "^/(", "go together"),
    ] {
        let reason = rejected(container().label(key, value));
        assert!(reason.contains(why), "{key}={value}: {reason}");
    }
    let reason = rejected(
        container()
            .label("berth.redirect_regex.regex", "^/(.*)")
            .label("berth.redirect_regex.replacement", "/x/$2")
            .label("berth.redirect_regex.status", "303"),
    );
    assert!(
        reason.contains("label berth.redirect_regex.replacement: `$2` names no group"),
        "{reason}"
    );
    assert!(
        reason.contains("label berth.redirect_regex.status=303"),
        "{reason}"
    );
    let reason = rejected(
        container()
            .label("berth.replace_path_regex.regex", "^/(")
            .label("berth.replace_path_regex.replacement", "/x"),
    );
    assert!(
        reason.contains("label berth.replace_path_regex.regex: invalid regex"),
        "{reason}"
    );
}

#[test]
fn an_l4_container_takes_no_shaping() {
    let reason = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.max_request_body", "1MB"),
    );
    assert!(
        reason.contains("labels berth.max_request_body*: shapes HTTP"),
        "{reason}"
    );
}

/// The labels fuzz target's dictionary (fuzz/dict/labels.dict) names every label berth
/// knows, the shaping ones among them, so the fuzzer reaches their parsers.
#[test]
fn the_fuzz_dictionary_names_every_label_shaping_ones_too() {
    let dict = include_str!("../../../../../fuzz/dict/labels.dict");
    for suffix in crate::discovery::docker::labels::KNOWN {
        let entry = match suffix.strip_suffix("<name>") {
            Some(family) => format!("\"berth.{family}\""),
            None => format!("\"berth.{suffix}=\""),
        };
        assert!(
            dict.lines().any(|l| l == entry),
            "{entry} is not in labels.dict"
        );
    }
}
