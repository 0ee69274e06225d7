//! Two berth processes sharing one storage directory: one order for a name, the certificate
//! served by both; and a challenge answered by the replica that did not order it (the CA may
//! validate through any replica).

use std::time::Duration;

use crate::harness::{handshake, tls_client, Berth, ConfigText, Ports, TestDir};
use crate::pebble::{Options, Pebble};
use crate::require_pebble;

fn config(ports: Ports, pebble: &Pebble, storage: &std::path::Path, acme: &str) -> String {
    ConfigText {
        ports,
        pebble,
        storage,
        challenge: "http-01",
        scope: "",
        acme,
        extra: "",
    }
    .render()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_sharing_storage_place_one_order() {
    require_pebble();
    let dir = TestDir::new("replicas");
    let (a_ports, b_ports) = (Ports::free(), Ports::free());
    // The CA validates through replica a only, whichever replica orders.
    let pebble = Pebble::start(Options {
        http_port: a_ports.http,
        tls_port: a_ports.https,
        validity: None,
    });
    let storage = dir.path("storage");
    let names = "  names: [shared.test, other.test]\n";
    let (a_config, b_config) = (
        config(a_ports, &pebble, &storage, names),
        config(b_ports, &pebble, &storage, names),
    );
    let (a, b) = tokio::join!(
        Berth::start(&dir, "a", a_ports, &a_config),
        Berth::start(&dir, "b", b_ports, &b_config),
    );
    for name in ["shared.test", "other.test"] {
        a.wait_valid(name, &pebble).await;
        b.wait_valid(name, &pebble).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        pebble.orders(),
        2,
        "one order per name\n--- a ---\n{}\n--- b ---\n{}",
        a.logs(),
        b.logs()
    );
    let client = tls_client(&pebble.root());
    for name in ["shared.test", "other.test"] {
        let from_a = handshake(&client, a_ports.https, name)
            .await
            .expect("a serves");
        let from_b = handshake(&client, b_ports.https, name)
            .await
            .expect("b serves");
        assert_eq!(from_a, from_b, "{name}: the same certificate");
    }
    let issued = a.metric("berth_acme_orders_total{result=\"issued\"}").await
        + b.metric("berth_acme_orders_total{result=\"issued\"}").await;
    assert_eq!(issued, 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_answers_the_challenge_of_an_order_another_placed() {
    require_pebble();
    let dir = TestDir::new("mirror");
    let (a_ports, b_ports) = (Ports::free(), Ports::free());
    let pebble = Pebble::start(Options {
        http_port: a_ports.http,
        tls_port: a_ports.https,
        validity: None,
    });
    let storage = dir.path("storage");
    // a wants no name, b orders one; the CA reaches only a.
    let a = Berth::start(&dir, "a", a_ports, &config(a_ports, &pebble, &storage, "")).await;
    let b = Berth::start(
        &dir,
        "b",
        b_ports,
        &config(b_ports, &pebble, &storage, "  names: [mirror.test]\n"),
    )
    .await;
    b.wait_valid("mirror.test", &pebble).await;
    assert_eq!(pebble.orders(), 1, "{}", b.logs());
    assert!(
        a.name_state("mirror.test").await.is_null(),
        "a does not serve it: it does not want it"
    );
}
