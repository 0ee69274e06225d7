//! A name gets its certificate through HTTP-01 and another through TLS-ALPN-01; both are
//! served by SNI to `openssl s_client` and curl; a restart serves the stored certificates at
//! once without a new order.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::harness::{openssl, pebble_for, Berth, ConfigText, Ports, TestDir};
use crate::pebble::{free_port, Options, Pebble};
use crate::{backend, require_pebble};

/// A service routed on both listeners for `host`, opted in with `tls: { acme: true }`.
fn service(host: &str, backend: u16) -> String {
    format!(
        "services:\n  app:\n    hosts: [{host}]\n    tls: {{ acme: true }}\n    \
         backends: [\"127.0.0.1:{backend}\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn http01_certificates_are_served_by_sni_and_survive_a_restart() {
    require_pebble();
    let dir = TestDir::new("http01");
    let ports = Ports::free();
    let pebble = pebble_for(ports, None);
    let storage = dir.path("storage");
    let services = service("app.test", backend::start());
    let config = ConfigText {
        ports,
        pebble: &pebble,
        storage: &storage,
        challenge: "http-01",
        scope: "",
        acme: "  names: [listed.test]\n",
        extra: &services,
    }
    .render();
    let mut berth = Berth::start(&dir, "berth", ports, &config).await;
    berth.wait_valid("listed.test", &pebble).await;
    berth.wait_valid("app.test", &pebble).await;
    assert_eq!(pebble.orders(), 2, "one order per name\n{}", pebble.logs());
    let app = berth.name_state("app.test").await;
    assert_eq!(app["source"], "service app", "{app}");

    let root = pebble.root_file();
    for name in ["listed.test", "app.test"] {
        let seen = openssl(ports.https, name, &root);
        assert!(seen.verified, "{name}: {seen:?}");
        assert_eq!(seen.subject, format!("CN = {name}"), "{seen:?}");
        assert!(seen.issuer.contains("Pebble Intermediate"), "{seen:?}");
    }
    let curl = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(&root)
        .arg("--resolve")
        .arg(format!("app.test:{}:127.0.0.1", ports.https))
        .arg(format!("https://app.test:{}/", ports.https))
        .output()
        .expect("run curl");
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "backend",
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let issued = berth
        .metric("berth_acme_orders_total{result=\"issued\"}")
        .await;
    assert_eq!(issued, 2.0);
    let expiry = berth
        .metric("berth_certificate_expiry_seconds{name=\"app.test\",source=\"acme\"}")
        .await;
    assert_eq!(Some(expiry as u64), app["not_after"].as_u64(), "{app}");

    // One directory per CA, named after its directory URL.
    let account = storage.join(format!("127.0.0.1-{}-dir", pebble.api_port()));
    for file in ["account.json", "certificates/app.test.pem"] {
        let mode = std::fs::metadata(account.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }

    berth.kill();
    let berth = Berth::start(&dir, "berth", ports, &config).await;
    berth.wait_valid("listed.test", &pebble).await;
    berth.wait_valid("app.test", &pebble).await;
    let seen = openssl(ports.https, "app.test", &root);
    assert!(seen.verified, "after the restart: {seen:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        pebble.orders(),
        2,
        "a restart orders nothing\n{}",
        berth.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_alpn01_certificates_are_served_by_sni() {
    require_pebble();
    let dir = TestDir::new("alpn");
    let ports = Ports::free();
    // Pebble's HTTP-01 port leads nowhere: only TLS-ALPN-01 can succeed.
    let pebble = Pebble::start(Options {
        http_port: free_port(),
        tls_port: ports.https,
        validity: None,
    });
    let storage = dir.path("storage");
    let config = ConfigText {
        ports,
        pebble: &pebble,
        storage: &storage,
        challenge: "tls-alpn-01",
        scope: "",
        acme: "  names: [alpn.test]\n",
        extra: "",
    }
    .render();
    let berth = Berth::start(&dir, "berth", ports, &config).await;
    berth.wait_valid("alpn.test", &pebble).await;
    let seen = openssl(ports.https, "alpn.test", &pebble.root_file());
    assert!(seen.verified, "{seen:?}");
    assert_eq!(seen.subject, "CN = alpn.test");
    let other = openssl(ports.https, "other.test", &pebble.root_file());
    assert_eq!(other.subject, "CN = berth default certificate", "{other:?}");
    assert!(!other.verified);
}
