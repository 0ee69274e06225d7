//! A short-lived certificate is renewed at two thirds of its lifetime, and the swap fails no
//! handshake: a client handshaking without pause across it sees the old certificate, then
//! the new one, and no error.

use std::time::{Duration, Instant};

use crate::harness::{handshake, pebble_for, tls_client, Berth, ConfigText, Ports, TestDir};
use crate::require_pebble;

/// The lifetime of the certificates Pebble issues here: renewed 20 s after issuance.
const LIFETIME: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn a_short_lived_certificate_is_renewed_without_a_failed_handshake() {
    require_pebble();
    let dir = TestDir::new("renew");
    let ports = Ports::free();
    let pebble = pebble_for(ports, Some(LIFETIME));
    let storage = dir.path("storage");
    let config = ConfigText {
        ports,
        pebble: &pebble,
        storage: &storage,
        challenge: "http-01",
        scope: "",
        acme: "  names: [short.test]\n",
        extra: "",
    }
    .render();
    let berth = Berth::start(&dir, "berth", ports, &config).await;
    berth.wait_valid("short.test", &pebble).await;
    let state = berth.name_state("short.test").await;
    let not_after = state["not_after"].as_u64().expect("not_after");
    let renew_at = state["renew_at"].as_u64().expect("renew_at");
    assert!(
        (8..=11).contains(&not_after.saturating_sub(renew_at)),
        "renewal at two thirds of the lifetime, 10 s before expiry: {state}"
    );

    let client = tls_client(&pebble.root());
    let first = handshake(&client, ports.https, "short.test")
        .await
        .expect("first handshake");
    let (mut handshakes, mut failures, mut serials) = (0u32, Vec::new(), vec![first.clone()]);
    let started = Instant::now();
    let mut renewed_at = None;
    while started.elapsed() < LIFETIME + Duration::from_secs(10) {
        handshakes += 1;
        match handshake(&client, ports.https, "short.test").await {
            Ok(serial) if serial != *serials.last().expect("one serial") => serials.push(serial),
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
        if serials.len() > 1 && renewed_at.is_none() {
            renewed_at = Some(Instant::now());
        }
        // Keep handshaking a little after the swap, then stop.
        if renewed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {handshakes} handshakes failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(
        serials.len(),
        2,
        "the old certificate, then the renewed one, over {handshakes} handshakes\n{}",
        berth.logs()
    );
    assert!(handshakes > 100, "only {handshakes} handshakes");
    assert_eq!(pebble.orders(), 2, "{}", pebble.logs());
    let state = berth.name_state("short.test").await;
    assert_eq!(state["state"], "valid", "{state}");
    assert!(state["renew_at"].as_u64() > Some(renew_at), "{state}");
}
