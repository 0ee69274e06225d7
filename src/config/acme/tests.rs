//! Unit tests of `acme`: the top-level `acme:` section and the listener-side `acme:` key.

use std::path::Path;
use std::time::Duration;

use super::{LETS_ENCRYPT, LETS_ENCRYPT_STAGING};
use crate::config::{parse, AcmeScope, Challenge, Config, ConfigError, Eab, Problem};

/// A file in `tests/fixtures`, so `tls/a.pem` resolves to the fixture certificates.
fn fixtures() -> String {
    format!("{}/tests/fixtures/t.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// An `http` and an `https` listener (no certificates), then `acme` as the `acme:` section.
fn with_acme(acme: &str) -> String {
    format!(
        "listeners:\n  web: {{ address: 0.0.0.0:8080 }}\n  \
         websecure: {{ address: 0.0.0.0:8443, protocol: https }}\nacme: {acme}\n"
    )
}

const MINIMAL: &str = "{ agree_tos: true, email: ops@example.com }";

fn ok_at(src: &str, file: &str) -> Config {
    parse(src, file).unwrap_or_else(|e| panic!("{e}"))
}

fn ok(src: &str) -> Config {
    ok_at(src, &fixtures())
}

/// The single problem `src` has (file in `tests/fixtures`).
fn one(src: &str) -> Problem {
    match parse(src, &fixtures()) {
        Err(ConfigError::Invalid { mut problems, .. }) => {
            assert_eq!(problems.len(), 1, "{problems:#?}");
            problems.remove(0)
        }
        other => panic!("expected one problem, got {other:?}"),
    }
}

/// Asserts `p` is about `path` and its message holds every one of `parts`.
fn assert_problem(p: &Problem, path: &str, parts: &[&str]) {
    assert_eq!(p.path, path, "{p:?}");
    for part in parts {
        assert!(
            p.message.contains(part),
            "{part:?} missing in {}",
            p.message
        );
    }
}

#[test]
fn minimal_section_gets_the_defaults() {
    let c = ok(&with_acme(MINIMAL));
    let a = c.acme.expect("acme");
    assert_eq!(a.email.as_deref(), Some("ops@example.com"));
    assert_eq!(a.directory, LETS_ENCRYPT);
    assert_eq!(a.storage, Path::new("/var/lib/berth/acme"));
    assert_eq!(a.challenge, Challenge::Http01, "there is an http listener");
    assert_eq!(a.backoff, Duration::from_secs(60));
    assert_eq!((a.ca, a.eab, a.names.len()), (None, None, 0));
    let l = &c.listeners["websecure"];
    assert!(l.tls.as_ref().expect("tls").certificates.is_empty());
    assert_eq!(l.acme, AcmeScope::Labelled);
}

#[test]
fn without_an_http_listener_the_challenge_is_tls_alpn_01() {
    let src = format!(
        "listeners:\n  websecure: {{ address: 0.0.0.0:8443, protocol: https, acme: all }}\n\
         acme: {MINIMAL}\n"
    );
    let c = ok(&src);
    assert_eq!(c.acme.expect("acme").challenge, Challenge::TlsAlpn01);
    assert_eq!(c.listeners["websecure"].acme, AcmeScope::All);
}

#[test]
fn relative_storage_is_relative_to_the_config_file() {
    let src = with_acme("{ agree_tos: true, storage: acme-data }");
    let a = ok_at(&src, "/etc/berth/berth.yaml").acme.expect("acme");
    assert_eq!(a.storage, Path::new("/etc/berth/acme-data"));
    let a = ok_at(&with_acme(MINIMAL), "/etc/berth/berth.yaml")
        .acme
        .expect("acme");
    assert_eq!(
        a.storage,
        Path::new("/var/lib/berth/acme"),
        "absolute stays"
    );
}

#[test]
fn names_are_normalised_and_eab_decoded() {
    let src = with_acme(
        "{ agree_tos: true, names: [WWW.Example.com], directory: https://ca.test/dir, \
         eab: { kid: k1, hmac_key: aGVsbG8= }, backoff: 5m }",
    );
    let a = ok(&src).acme.expect("acme");
    assert_eq!(a.names, ["www.example.com"]);
    assert_eq!(a.directory, "https://ca.test/dir");
    let eab = a.eab.expect("eab");
    assert_eq!(
        (eab.kid.as_str(), eab.hmac_key.as_slice()),
        ("k1", &b"hello"[..])
    );
    assert_eq!(a.backoff, Duration::from_secs(300));
}

#[test]
fn terms_of_service_must_be_agreed_to() {
    for acme in ["{ email: ops@example.com }", "{ agree_tos: false }"] {
        let p = one(&with_acme(acme));
        assert_problem(&p, "acme.agree_tos", &["set `agree_tos: true`"]);
    }
}

#[test]
fn directory_must_be_an_https_url() {
    for url in ["http://ca.test/directory", "ca.test/directory"] {
        let p = one(&with_acme(&format!(
            "{{ agree_tos: true, directory: {url} }}"
        )));
        assert_problem(
            &p,
            "acme.directory",
            &["not an https URL", LETS_ENCRYPT, LETS_ENCRYPT_STAGING],
        );
    }
}

#[test]
fn wildcard_names_need_dns_01() {
    let p = one(&with_acme(
        "{ agree_tos: true, names: [a.example.com, \"*.example.com\"] }",
    ));
    assert_problem(
        &p,
        "acme.names[1]",
        &["wildcard", "DNS-01", "list the names"],
    );
}

#[test]
fn ip_addresses_and_single_labels_are_not_orderable() {
    let p = one(&with_acme("{ agree_tos: true, names: [192.0.2.1] }"));
    assert_problem(&p, "acme.names[0]", &["`192.0.2.1` is an IP address"]);
    let p = one(&with_acme("{ agree_tos: true, names: [localhost] }"));
    assert_problem(&p, "acme.names[0]", &["`localhost`", "one label"]);
}

#[test]
fn email_must_look_like_one() {
    for email in ["ops.example.com", "@example.com", "ops@localhost"] {
        let p = one(&with_acme(&format!(
            "{{ agree_tos: true, email: '{email}' }}"
        )));
        assert_problem(&p, "acme.email", &[email, "like ops@example.com"]);
    }
}

#[test]
fn http_01_needs_an_http_listener() {
    let src = "listeners:\n  websecure: { address: 0.0.0.0:8443, protocol: https }\n\
               acme: { agree_tos: true, challenge: http-01 }\n";
    let p = one(src);
    assert_problem(
        &p,
        "acme.challenge",
        &["`http` listener", "`challenge: tls-alpn-01`"],
    );
}

#[test]
fn acme_needs_an_https_listener() {
    let src = "listeners:\n  web: { address: 0.0.0.0:8080 }\nacme: { agree_tos: true }\n";
    let p = one(src);
    assert_problem(&p, "acme", &["no `https` listener", "protocol: https"]);
}

#[test]
fn eab_key_must_be_base64url() {
    let p = one(&with_acme(
        "{ agree_tos: true, eab: { kid: k1, hmac_key: \"not base64!\" } }",
    ));
    assert_problem(
        &p,
        "acme.eab.hmac_key",
        &["not base64url", "exactly as the CA gave"],
    );
    let p = one(&with_acme(
        "{ agree_tos: true, eab: { kid: '', hmac_key: aGVsbG8 } }",
    ));
    assert_problem(&p, "acme.eab.kid", &["key identifier"]);
    let p = one(&with_acme(
        "{ agree_tos: true, eab: { kid: k1, hmac_key: '' } }",
    ));
    assert_problem(&p, "acme.eab.hmac_key", &["empty"]);
    let both = parse(
        &with_acme("{ agree_tos: true, eab: { kid: '', hmac_key: '!' } }"),
        &fixtures(),
    );
    match both {
        Err(ConfigError::Invalid { problems, .. }) => assert_eq!(problems.len(), 2),
        other => panic!("both problems reported: {other:?}"),
    }
}

#[test]
fn a_service_opting_in_needs_the_section() {
    let src = "listeners:\n  websecure: { address: 0.0.0.0:8443, protocol: https, tls: { \
               certificates: [{ cert: tls/a.pem, key: tls/a.key }] } }\nservices:\n  shop:\n    \
               hosts: [shop.example.com]\n    tls: { acme: true }\n    \
               backends: [\"127.0.0.1:9001\"]\n";
    let p = one(src);
    assert_problem(&p, "services.shop.tls.acme", &["top-level `acme:` section"]);
}

#[test]
fn backoff_must_be_positive() {
    let p = one(&with_acme("{ agree_tos: true, backoff: 0s }"));
    assert_problem(&p, "acme.backoff", &["more than 0", "like 1m"]);
}

#[test]
fn ca_bundle_is_read_at_load_time() {
    let a = ok(&with_acme("{ agree_tos: true, ca: tls/a.pem }"))
        .acme
        .expect("acme");
    assert!(a.ca.expect("ca").ends_with("tests/fixtures/tls/a.pem"));
    let p = one(&with_acme("{ agree_tos: true, ca: tls/missing.pem }"));
    assert_problem(&p, "acme.ca", &["cannot read", "tls/missing.pem"]);
    let p = one(&with_acme("{ agree_tos: true, ca: tls/garbage.pem }"));
    assert_problem(&p, "acme.ca", &["holds no PEM certificate"]);
}

#[test]
fn listener_acme_is_for_https_listeners() {
    let src = format!(
        "listeners:\n  web: {{ address: 0.0.0.0:8080, acme: all }}\n  \
         websecure: {{ address: 0.0.0.0:8443, protocol: https }}\nacme: {MINIMAL}\n"
    );
    let p = one(&src);
    assert_problem(
        &p,
        "listeners.web.acme",
        &["for `https` listeners", "remove it"],
    );
    assert_eq!(p.line, Some(2));
}

#[test]
fn listener_acme_needs_the_top_level_section() {
    let src = "listeners:\n  websecure:\n    address: 0.0.0.0:8443\n    protocol: https\n    \
               acme: all\n    tls: { certificates: [ { cert: tls/a.pem, key: tls/a.key } ] }\n";
    let p = one(src);
    assert_problem(
        &p,
        "listeners.websecure.acme",
        &["top-level `acme:` section", "agree_tos: true"],
    );
    assert_eq!(p.line, Some(5));
}

#[test]
fn https_without_certificates_needs_the_top_level_section() {
    let src = "listeners:\n  websecure: { address: 0.0.0.0:8443, protocol: https }\n";
    let p = one(src);
    assert_problem(
        &p,
        "listeners.websecure",
        &["needs certificates", "top-level `acme:` section"],
    );
}

#[test]
fn eab_debug_hides_the_hmac_key() {
    let eab = Eab {
        kid: "kid-1".into(),
        hmac_key: b"s3cr3t-hmac".to_vec(),
    };
    let shown = format!("{eab:?} {eab:#?}");
    assert!(shown.contains("kid-1"), "{shown}");
    for secret in ["s3cr3t", "115, 51, 99", "hmac_key"] {
        assert!(!shown.contains(secret), "{secret:?} in {shown}");
    }
    let c = ok(&with_acme(
        "{ agree_tos: true, eab: { kid: kid-1, hmac_key: czNjcjN0LWhtYWM } }",
    ));
    let shown = format!("{:?}", c.acme.expect("acme"));
    assert!(
        !shown.contains("115, 51, 99") && !shown.contains("czNjcjN0"),
        "{shown}"
    );
}
