//! A challenge that cannot succeed: the default certificate keeps serving, the name shows
//! `failed` with the CA's reason, failures are counted, and orders back off exponentially
//! instead of storming the CA.

use std::time::Duration;

use crate::harness::{openssl, Berth, ConfigText, Ports, TestDir};
use crate::pebble::{free_port, Options, Pebble};
use crate::require_pebble;
use crate::wait::wait_for;

/// How long the orders are watched.
const WATCH: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_challenge_backs_off_and_the_default_certificate_serves() {
    require_pebble();
    let dir = TestDir::new("failure");
    let ports = Ports::free();
    // Pebble validates HTTP-01 on a port nothing listens on.
    let pebble = Pebble::start(Options {
        http_port: free_port(),
        tls_port: free_port(),
        validity: None,
    });
    let storage = dir.path("storage");
    let config = ConfigText {
        ports,
        pebble: &pebble,
        storage: &storage,
        challenge: "http-01",
        scope: "",
        acme: "  names: [broken.test]\n  backoff: 1s\n",
        extra: "",
    }
    .render();
    let berth = Berth::start(&dir, "berth", ports, &config).await;
    let state = wait_for(Duration::from_secs(30), "the first failure", || async {
        let state = berth.name_state("broken.test").await;
        match state["state"].as_str() {
            Some("failed") => Ok(state),
            _ => Err(format!("{state}\n{}", berth.logs())),
        }
    })
    .await;
    let error = state["error"].as_str().unwrap_or_default();
    // The CA's own reason: it could not connect.
    assert!(error.contains("acme:error:connection"), "{state}");
    let seen = openssl(ports.https, "broken.test", &pebble.root_file());
    assert_eq!(seen.subject, "CN = berth default certificate", "{seen:?}");
    assert!(!seen.verified);

    tokio::time::sleep(WATCH).await;
    // Waits of 1, 2, 4, 8 s (±20 %) between orders that each take a second or two: about 5
    // orders in the first 20 s; retrying once a second would place about 8.
    let orders = pebble.orders();
    assert!(
        (3..=6).contains(&orders),
        "{orders} orders\n{}",
        berth.logs()
    );
    let failed = berth
        .metric("berth_acme_orders_total{result=\"failed\"}")
        .await;
    let state = berth.name_state("broken.test").await;
    let failures = state["failures"].as_u64().expect("failures");
    assert!(
        failed as u64 == failures
            && (failures as usize == orders || failures as usize + 1 == orders),
        "counted: metric {failed}, state {state}, CA {orders}"
    );
    assert_eq!(
        berth
            .metric("berth_acme_orders_total{result=\"issued\"}")
            .await,
        0.0
    );
}
