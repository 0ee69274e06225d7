//! Configuration errors as an operator sees them: each fixture in `tests/fixtures/` holds one
//! mistake, is loaded through `berth::config::load`, and the rendered error must name the
//! file, the line (and column where it matters), the field path and what would be valid.

use std::path::PathBuf;

use berth::config::{self, ConfigError};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The rendered error for a fixture that must fail.
fn error(name: &str) -> String {
    match config::load(&fixture(name)) {
        Ok(c) => panic!("{name} should be rejected, got {c:#?}"),
        Err(e) => {
            assert!(
                matches!(e, ConfigError::Invalid { .. }),
                "{name}: expected problems in the file, got {e}"
            );
            e.to_string()
        }
    }
}

/// Asserts `name` fails with one line that starts at `file:line[:col]` and contains `parts`.
fn expect(name: &str, position: &str, parts: &[&str]) {
    let text = error(name);
    let at = format!("fixtures/{name}:{position}: ");
    let line = text
        .lines()
        .find(|l| l.contains(&at))
        .unwrap_or_else(|| panic!("no line at {at:?} in:\n{text}"));
    for part in parts {
        assert!(line.contains(part), "{part:?} missing in:\n{line}");
    }
}

#[test]
fn valid_fixture_loads() {
    let c = config::load(&fixture("valid.yaml")).expect("valid.yaml");
    assert_eq!(c.services["legacy"].backends.len(), 2);
    assert_eq!(c.services["legacy"].backends[1].weight.get(), 3);
}

#[test]
fn example_config_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/berth.yaml");
    let c = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listeners.len(), 4);
    assert_eq!(c.services.len(), 6);
    assert_eq!(c.services["db"].spec.layer, berth::model::Layer::Tcp);
    assert_eq!(
        c.services["mail"].spec.proxy_protocol,
        Some(berth::model::ProxyVersion::V2)
    );
    assert!(c.listeners["passthrough"].proxy_protocol);
    assert_eq!(
        c.services["greeter"].spec.upstream.protocol,
        berth::model::UpstreamProtocol::H2
    );
    let tls = c.services["billing"]
        .spec
        .upstream
        .tls
        .as_ref()
        .expect("tls");
    assert_eq!(
        tls.server_name.as_ref().map(|n| n.to_str()),
        Some("billing.internal".into())
    );
    assert_eq!(
        c.services["legacy"].spec.hosts,
        ["legacy.local", "*.legacy.local"]
    );
    assert_eq!(c.services["reports"].spec.listeners, ["web", "internal"]);
    assert!(!c.summary().is_empty());
}

#[test]
fn unknown_top_level_key() {
    expect(
        "unknown_key_top.yaml",
        "3:1",
        &[
            "listners: unknown key `listners`",
            "did you mean `listeners`?",
        ],
    );
}

#[test]
fn unknown_nested_key() {
    expect(
        "unknown_key_nested.yaml",
        "4:5",
        &[
            "services.api.hots: unknown key `hots`",
            "valid keys here: listener, hosts, path",
            "did you mean `hosts`?",
        ],
    );
}

#[test]
fn bad_address() {
    expect(
        "bad_address.yaml",
        "3:14",
        &[
            "listeners.web.address: ",
            "`localhost:8080`",
            "127.0.0.1:8080",
        ],
    );
}

#[test]
fn bad_duration() {
    expect(
        "bad_duration.yaml",
        "5:14",
        &[
            "defaults.timeouts.request: invalid duration `5 parsecs`",
            "expected a number and a unit like 500ms, 30s, 2m",
        ],
    );
}

#[test]
fn weight_zero() {
    expect(
        "weight_zero.yaml",
        "6:17",
        &[
            "services.legacy.backends[1].weight: weight 0 is out of range",
            "from 1 to 1000",
        ],
    );
}

#[test]
fn retries_out_of_range() {
    expect(
        "retries_out_of_range.yaml",
        "2:12",
        &["defaults.retries: retries 9 is out of range", "from 0 to 5"],
    );
}

#[test]
fn duplicate_listener_address() {
    expect(
        "duplicate_address.yaml",
        "3:5",
        &[
            "listeners.web.address: address 0.0.0.0:8080 is also the address of listener `internal`",
            "(listeners.internal.address)",
            "another port",
        ],
    );
}

#[test]
fn service_on_unknown_listener() {
    expect(
        "unknown_listener.yaml",
        "6:5",
        &[
            "services.legacy.listener: unknown listener `webb`; known listeners: internal, web",
            "did you mean `web`?",
        ],
    );
}

#[test]
fn bad_balance() {
    expect(
        "bad_balance.yaml",
        "3:14",
        &[
            "services.legacy.balance: unknown balance `random`",
            "round_robin, least_request, peak_ewma",
        ],
    );
}

#[test]
fn bad_protocol() {
    expect(
        "bad_protocol.yaml",
        "4:15",
        &[
            "listeners.web.protocol: invalid value `htp`",
            "expected one of http, https, tcp, tls-passthrough",
            "did you mean `http`?",
        ],
    );
}

#[test]
fn tcp_listeners_and_services_refuse_http_fields() {
    expect(
        "tcp_http_fields.yaml",
        "5:5",
        &["listeners.pg.tls: a tcp listener forwards bytes and terminates no TLS"],
    );
    expect(
        "tcp_http_fields.yaml",
        "9:5",
        &["services.db.path: connections have no path"],
    );
}

#[test]
fn yaml_syntax_error() {
    let text = error("syntax_error.yaml");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("fixtures/syntax_error.yaml:3:"), "{text}");
    assert!(text.contains("YAML syntax error"), "{text}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = error("several_errors.yaml");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, part) in [
        (
            "3:10",
            "admin.address: address 0.0.0.0:8080 is also the address of listener `web`",
        ),
        ("6:5", "services.api.listener: unknown listener `internal`"),
        (
            "7:5",
            "services.api.path: path `api` must start with `/`, like /api",
        ),
        (
            "5:3",
            "services.api.backends: service `api` has no backends",
        ),
        (
            "9:5",
            "services.www.hosts: invalid host pattern `www.*.com`",
        ),
    ] {
        let at = format!("fixtures/several_errors.yaml:{line}: {part}");
        assert!(
            lines.iter().any(|l| l.contains(&at)),
            "{at:?} missing in:\n{text}"
        );
    }
    let Err(e) = config::load(&fixture("several_errors.yaml")) else {
        unreachable!("checked above");
    };
    let order: Vec<_> = e.problems().iter().map(|p| (p.line, p.column)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "problems are reported in file order");
}

#[test]
fn unreadable_file_names_it() {
    let e = config::load(&fixture("does_not_exist.yaml")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(
        e.to_string().contains("does_not_exist.yaml: cannot read"),
        "{e}"
    );
}

#[test]
fn tls_key_not_matching_its_certificate() {
    expect(
        "tls_key_mismatch.yaml",
        "9:30",
        &[
            "listeners.websecure.tls.certificates[1].key: the private key in ",
            "tests/fixtures/tls/a.key does not match the certificate in ",
            "give the key the certificate was issued for",
        ],
    );
}

#[test]
fn tls_certificate_file_missing() {
    expect(
        "tls_missing_cert.yaml",
        "6:30",
        &[
            "listeners.websecure.tls.certificates[0].cert: cannot read ",
            "tests/fixtures/tls/nope.pem: No such file or directory",
            "relative paths start at the config file's directory",
        ],
    );
}

#[test]
fn tls_cert_and_key_swapped() {
    expect(
        "tls_swapped.yaml",
        "8:11",
        &[
            "listeners.websecure.tls.certificates[0].cert: ",
            "holds no certificate, only a private key: did you swap `cert` and `key`?",
        ],
    );
}

#[test]
fn https_listener_without_tls() {
    expect(
        "https_without_tls.yaml",
        "3:3",
        &["listeners.websecure: an https listener needs certificates: add `tls: {"],
    );
}

#[test]
fn redirect_to_an_unknown_listener() {
    expect(
        "redirect_unknown.yaml",
        "3:49",
        &[
            "listeners.web.redirect.to: unknown listener `websecure`",
            "https listeners: secure",
        ],
    );
}

/// A relative `tls.ca` starts from the config file's directory, like certificate paths, not
/// from the working directory (here the crate's root, which has no `certs/`).
#[test]
fn relative_ca_is_resolved_from_the_config_files_directory() {
    let dir = std::env::temp_dir().join(format!("berth-relative-ca-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("certs")).expect("temp dir");
    let ca = fixture("tls/a.pem");
    std::fs::copy(&ca, dir.join("certs/ca.pem")).expect("copy CA");
    let cwd = std::env::current_dir().expect("cwd");
    assert_ne!(cwd, dir);
    assert!(
        !cwd.join("certs/ca.pem").exists(),
        "the test needs no certs/ in the cwd"
    );
    let path = dir.join("berth.yaml");
    let service = |ca: &str| {
        format!(
            "services:\n  billing:\n    tls: {{ ca: {ca} }}\n    backends: [\"https://127.0.0.1:9443\"]\n"
        )
    };

    std::fs::write(&path, service("certs/ca.pem")).expect("write config");
    let c = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let tls = c.services["billing"]
        .spec
        .upstream
        .tls
        .as_ref()
        .expect("tls");
    assert_eq!(tls.ca.as_deref(), Some(dir.join("certs/ca.pem").as_path()));

    // A missing one is reported with the path berth looked at.
    std::fs::write(&path, service("certs/nope.pem")).expect("write config");
    let text = config::load(&path).expect_err("missing CA").to_string();
    let want = format!(
        "berth.yaml:3:5: services.billing.tls: cannot read CA file {}",
        dir.join("certs/nope.pem").display()
    );
    assert!(text.contains(&want), "{want:?} missing in:\n{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compress_and_sticky_errors_name_the_line_field_and_fix() {
    expect(
        "compress_sticky.yaml",
        "6:23",
        &[
            "services.app.compress.encodings[1]",
            "unknown encoding `deflate`: expected br, zstd or gzip",
        ],
    );
}

#[test]
fn sticky_same_site_none_needs_secure() {
    let text = std::fs::read_to_string(fixture("compress_sticky.yaml")).expect("fixture");
    let fixed = text.replace("[br, deflate]", "[br, gzip]");
    let path = std::env::temp_dir().join(format!("berth-sticky-{}.yaml", std::process::id()));
    std::fs::write(&path, fixed).expect("write");
    let e = config::load(&path).expect_err("same_site none without secure");
    let text = e.to_string();
    let _ = std::fs::remove_file(&path);
    assert!(
        text.contains(":12:") && text.contains("services.shop.sticky.same_site: none needs secure"),
        "{text}"
    );
}
