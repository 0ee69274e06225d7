//! Unit tests of loading and reloading a config file, bind errors and the summary.

use super::*;

/// `text` written to a fresh file, reloaded over a config with one service.
fn reloaded(name: &str, text: &str) -> Result<Config, ConfigError> {
    let one = "services: { s: { backends: [\"127.0.0.1:9001\"] } }\n";
    let current = parse(one, "t.yaml").expect("valid");
    let path =
        std::env::temp_dir().join(format!("berth-reload-{}-{name}.yaml", std::process::id()));
    std::fs::write(&path, text).expect("write");
    let result = reload(&path, &current);
    let _ = std::fs::remove_file(&path);
    result
}

#[test]
fn a_reload_of_an_empty_file_is_refused() {
    for (name, text) in [("zero", ""), ("blank", "\n  \n"), ("comments", "# only\n")] {
        let err = reloaded(name, text).expect_err("refused");
        assert!(err.to_string().contains("the file is empty"), "{err}");
    }
}

#[test]
fn a_reload_that_drops_every_service_must_say_so() {
    let err = reloaded("cut", "log: { level: info }\n").expect_err("refused");
    assert_eq!(err.problems()[0].path, "services");
    assert!(err.to_string().contains("services: {}"), "{err}");
    let meant = reloaded("meant", "services: {}\n").expect("explicit");
    assert!(meant.services.is_empty());
    let other = "services: { t: { backends: [\"127.0.0.1:9002\"] } }\n";
    assert_eq!(reloaded("other", other).expect("valid").services.len(), 1);
}

#[test]
fn embedded_default_is_valid() {
    let c = embedded_default();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(
        c.listeners["web"].address,
        SocketAddr::from(([0, 0, 0, 0], 8080))
    );
    assert_eq!(c.listeners["web"].protocol, Protocol::Http);
    assert_eq!(c.admin.address, SocketAddr::from(([127, 0, 0, 1], 9900)));
    assert!(c.docker.enabled);
    assert_eq!(c.docker.endpoint, None);
    assert!(c.services.is_empty());
}

#[test]
fn bind_error_points_at_the_address() {
    let addr = SocketAddr::from(([0, 0, 0, 0], 8080));
    let err = io::Error::from(io::ErrorKind::AddrInUse);
    let e = bind_error(
        EMBEDDED_DEFAULT,
        EMBEDDED_NAME,
        BindSite::Listener("web"),
        addr,
        &err,
    );
    assert_eq!(
        e.to_string(),
        "(embedded default):5:5: listeners.web.address: address 0.0.0.0:8080 is already in use; \
         stop what holds it or choose another port"
    );
    let e = bind_error("", "x.yaml", BindSite::Admin, addr, &err);
    assert!(e.to_string().starts_with("x.yaml: admin.address: "));
}

#[test]
fn summary_lists_listeners_services_and_admin() {
    let src = "services:\n  legacy: { hosts: [legacy.local], backends: [127.0.0.1:9001, { address: 127.0.0.1:9002, weight: 3 }] }\n";
    let s = parse(src, "t.yaml").unwrap().summary();
    for want in [
        "web  0.0.0.0:8080  http",
        "admin: 127.0.0.1:9900",
        "legacy  on every http listener  hosts legacy.local  path /",
        "balance least_request  retries 2  timeout 60s",
        "-> 127.0.0.1:9002  weight 3",
    ] {
        assert!(s.contains(want), "{want:?} missing in\n{s}");
    }
}

#[test]
fn load_reports_unreadable_files() {
    let e = load(Path::new("/nonexistent/berth.yaml")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e
        .to_string()
        .starts_with("/nonexistent/berth.yaml: cannot read"));
}
