//! Unit tests of `listener`: `https` certificates and `redirect`, on `tests/fixtures/tls`.

use crate::config::{parse, Config, ConfigError, Problem, Protocol};

/// A file name in `tests/fixtures`, so `tls/a.pem` resolves to the fixture certificates.
fn file() -> String {
    format!("{}/tests/fixtures/t.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn ok(src: &str) -> Config {
    parse(src, &file()).unwrap_or_else(|e| panic!("{e}"))
}

fn problems(src: &str) -> Vec<Problem> {
    match parse(src, &file()) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

const TWO: &str = "\
listeners:
  web: { address: 0.0.0.0:8080, redirect: { to: websecure } }
  websecure:
    address: 0.0.0.0:8443
    protocol: https
    tls:
      certificates:
        - { cert: tls/a.pem, key: tls/a.key }
        - { cert: tls/b.pem, key: tls/b.key }
        - { cert: tls/combined.pem }
";

#[test]
fn https_listener_with_certificates_relative_to_the_file() {
    let c = ok(TWO);
    let l = &c.listeners["websecure"];
    assert_eq!(l.protocol, Protocol::Https);
    let certs = &l.tls.as_ref().expect("tls").certificates;
    let names: Vec<_> = certs.iter().map(|c| c.names.join(",")).collect();
    assert_eq!(names, ["a.test", "*.b.test", "a.test"]);
    assert!(certs[0].cert.ends_with("tests/fixtures/tls/a.pem"));
    assert_eq!(certs[2].key, certs[2].cert, "no key: the combined file");
    let r = c.listeners["web"].redirect.as_ref().expect("redirect");
    assert_eq!((r.to.as_str(), r.port), ("websecure", None));
    let summary = c.summary();
    assert!(
        summary.contains("web  0.0.0.0:8080  http  redirect to websecure"),
        "{summary}"
    );
    assert!(summary.contains("tls/a.pem (default): a.test"), "{summary}");
}

#[test]
fn certificate_problems_point_at_the_entry_and_field() {
    let src = "\
listeners:
  s:
    address: 0.0.0.0:8443
    protocol: https
    tls:
      certificates:
        - { cert: tls/a.pem, key: tls/b.key }
        - { cert: tls/missing.pem, key: tls/a.key }
        - { cert: tls/nosan.pem, key: tls/nosan.key }
        - { cert: '', key: tls/a.key }
";
    let got: Vec<_> = problems(src)
        .into_iter()
        .map(|p| (p.path, p.line, p.message))
        .collect();
    let want = [
        (
            "listeners.s.tls.certificates[0].key",
            7,
            "does not match the certificate",
        ),
        ("listeners.s.tls.certificates[1].cert", 8, "No such file"),
        (
            "listeners.s.tls.certificates[2].cert",
            9,
            "only the first certificate",
        ),
        (
            "listeners.s.tls.certificates[3].cert",
            10,
            "`cert` is empty",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((path, line, message), (wpath, wline, part)) in got.iter().zip(want) {
        assert_eq!((path.as_str(), *line), (wpath, Some(wline)));
        assert!(message.contains(part), "{part:?} missing in {message}");
    }
}

#[test]
fn https_needs_tls_and_http_takes_none() {
    let p = problems("listeners: { s: { address: 0.0.0.0:1, protocol: https } }\n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "listeners.s");
    assert!(
        p[0].message.contains("needs certificates"),
        "{}",
        p[0].message
    );
    let p = problems(
        "listeners:\n  s: { address: 0.0.0.0:1, protocol: https, tls: { certificates: [] } }\n",
    );
    assert_eq!(p[0].path, "listeners.s.tls.certificates");
}

#[test]
fn redirects_go_from_http_to_a_known_https_listener() {
    let base = "listeners:\n  web: { address: 0.0.0.0:8080, redirect: { to: ";
    let p = problems(&format!("{base}websecur }}}}\n  websecure: {{ address: 0.0.0.0:8443, protocol: https, tls: {{ certificates: [{{ cert: tls/a.pem, key: tls/a.key }}] }} }}\n"));
    assert_eq!(
        (p[0].path.as_str(), p[0].line),
        ("listeners.web.redirect.to", Some(2))
    );
    assert!(
        p[0].message.contains(
            "unknown listener `websecur`; https listeners: websecure (did you mean `websecure`?)"
        ),
        "{}",
        p[0].message
    );
    let p = problems(&format!(
        "{base}other }} }}\n  other: {{ address: 0.0.0.0:81 }}\n"
    ));
    assert!(
        p[0].message
            .contains("`other` is not an https listener; no https listener is defined"),
        "{}",
        p[0].message
    );
    let p = problems(&format!("{base}web, port: 0 }} }}\n"));
    let paths: Vec<_> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["listeners.web.redirect.to", "listeners.web.redirect.port"]
    );
}
