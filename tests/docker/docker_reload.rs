//! A config reload applies to Docker containers, against a real engine.
//!
//! 1. A reload of `defaults.retries` and `docker.network` re-evaluates the running
//!    containers: their service shows the new retries, a container that was rejected as
//!    ambiguous (two networks) is routed on the configured network and leaves
//!    `/api/rejected` — while requests flow without a failure, and a replica failing its
//!    active check stays out (no flap: its endpoint, with its health, is kept).
//! 2. A reload adding `docker.exposed_by_default: true` routes a container without any
//!    label, and removing it again takes that container out; `docker.enabled: false`
//!    withdraws every container and `true` brings them back.
//!
//! Each test runs its own berth in-process with a watched config file and a label prefix
//! unique to the test (see `docker_common`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::docker_common::*;

/// The endpoint of container `id` in service `service` of an `/api/services` document.
fn endpoint_in(doc: &Value, service: &str, id: &str) -> Value {
    doc["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == service)
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .find(|e| e["source"] == id)
        .unwrap_or_default()
}

/// Polls `/api/services` every few ms until `stop`: what it showed for each of `ids` (in
/// service `service`), poll by poll.
fn watch_endpoints(
    b: &Berth,
    service: &'static str,
    ids: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Vec<Value>>> {
    let admin = b.admin_url("/api/services");
    tokio::spawn(async move {
        let http = client();
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let doc: Value = match http.get(&admin).send().await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            seen.push(
                ids.iter()
                    .map(|id| endpoint_in(&doc, service, id))
                    .collect(),
            );
            // The sampling period of the watch, not a wait.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_defaults_and_network_apply_to_containers_without_a_flap() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let one = Network::create(&run, "one");
    let two = Network::create(&run, "two");
    let b = Berth::start_watched(&run, "");
    let http = client();
    let api = |name: &str| {
        ContainerBuilder::new(&run, &image)
            .name(name)
            .env("NAME", name)
            .label(&b.label("enable"), "true")
            .label(&b.label("service"), "api")
            .label(&b.label("health.path"), "/health")
            .label(&b.label("health.interval"), "200ms")
            .label(&b.label("health.rise"), "2")
            .label(&b.label("health.fall"), "2")
            .network(&one)
    };
    let multi = ContainerBuilder::new(&run, &image)
        .name("multi")
        .env("NAME", "multi")
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), "multi")
        .label(&b.label("http.path"), "/multi")
        .network(&one)
        .network(&two);
    let builders = vec![api("g1"), api("g2"), multi];
    let started = blocking(move || {
        builders
            .into_iter()
            .map(ContainerBuilder::start)
            .collect::<Vec<_>>()
    })
    .await;
    let (g1, g2, multi) = (&started[0], &started[1], &started[2]);
    b.wait_routable(&http, "api", &[&g1.id, &g2.id]).await;
    g2.exec_health(true);
    b.wait_endpoint(&http, "api", &g2.id, "failing its check", |e| {
        e.reason.as_deref() == Some("active check: failing")
    })
    .await;
    wait_until(CONVERGE, "multi rejected as ambiguous", || async {
        b.rejected_ids(&http).await.contains(&multi.id)
    })
    .await;
    assert_eq!(b.service(&http, "api").await["retries"], 2);

    // Requests flow and /api/services is watched while the reload applies.
    let _turn = HEAVY.lock().await;
    let load = Load::start(&b.url("/"), 4);
    let stop = Arc::new(AtomicBool::new(false));
    let ids = vec![g1.id.clone(), g2.id.clone()];
    let watcher = watch_endpoints(&b, "api", ids, Arc::clone(&stop));
    load.wait_answers(200).await;
    let network = format!("network: {}", one.name);
    b.rewrite_config_with(&run, &network, "defaults: { retries: 4 }\n");
    let took = wait_until(CONVERGE, "retries 4 on the containers' service", || async {
        b.service(&http, "api").await["retries"] == 4
    })
    .await;
    b.wait_routable(&http, "multi", &[&multi.id]).await;
    assert!(!b.rejected_ids(&http).await.contains(&multi.id));
    let answers = load.answered();
    load.wait_answers(answers + 200).await;
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.await.expect("watcher");
    let report = load.stop().await;
    drop(_turn);
    eprintln!(
        "reload applied to the containers in {took:?}; {} polls, {} requests",
        seen.len(),
        report.records.len()
    );

    assert!(
        report.failures().is_empty(),
        "{}",
        report.describe(report.failures())
    );
    assert_eq!(report.answered_by("g2").count(), 0, "g2 answered");
    assert!(seen.len() > 20, "only {} polls", seen.len());
    let flaps: Vec<&Vec<Value>> = seen
        .iter()
        .filter(|p| p[0]["state"] != "routable" || p[1]["reason"] != "active check: failing")
        .collect();
    assert!(
        flaps.is_empty(),
        "g1 not routable or g2 not failing in {} of {} polls, first: {:?}",
        flaps.len(),
        seen.len(),
        flaps[0]
    );
    // g2's endpoint (and its checker) lived on: failures in a row only grew.
    let failures: Vec<u64> = seen
        .iter()
        .map(|p| p[1]["health"]["consecutive_failures"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        failures.windows(2).all(|w| w[0] <= w[1]) && failures[0] < failures[failures.len() - 1],
        "consecutive failures reset: {failures:?}"
    );
    let g1_now = b
        .wait_endpoint(&http, "api", &g1.id, "listed", |_| true)
        .await;
    let origin = g1_now.doc["origin"].as_str().unwrap_or_default();
    assert!(origin.contains("config docker.network"), "{origin}");
    let answer = http
        .get(b.url("/multi"))
        .send()
        .await
        .expect("request /multi");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-replica"], "multi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_exposed_by_default_and_enabled_apply_to_containers() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start_watched(&run, "");
    let http = client();
    let plain = ContainerBuilder::new(&run, &image)
        .name("plain")
        .env("NAME", "plain")
        .network(&net);
    let labelled = ContainerBuilder::new(&run, &image)
        .name("labelled")
        .env("NAME", "labelled")
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), "labelled")
        .label(&b.label("http.path"), "/labelled")
        .network(&net);
    // `labelled` starts after `plain`: once it routes, berth has seen (and ignored) `plain`.
    let (plain, labelled) = blocking(move || (plain.start(), labelled.start())).await;
    b.wait_routable(&http, "labelled", &[&labelled.id]).await;
    assert_eq!(b.service(&http, &plain.name).await, Value::Null);

    // Every container on the engine is now exposed; only this test's are looked at.
    b.rewrite_config_with(&run, "exposed_by_default: true", "");
    let took = wait_until(CONVERGE, "the unlabelled container routed", || async {
        b.routable(&http, &plain.name).await == [plain.id.clone()]
    })
    .await;
    eprintln!("exposed_by_default applied in {took:?}");
    assert!(!b.rejected_ids(&http).await.contains(&plain.id));
    b.rewrite_config_with(&run, "exposed_by_default: false", "");
    wait_until(CONVERGE, "the unlabelled container withdrawn", || async {
        b.service(&http, &plain.name).await == Value::Null
    })
    .await;
    b.wait_routable(&http, "labelled", &[&labelled.id]).await;

    // Disabling the provider withdraws its containers; enabling it brings them back.
    b.rewrite_config_with(&run, "enabled: false", "");
    wait_until(CONVERGE, "the provider's containers withdrawn", || async {
        b.service(&http, "labelled").await == Value::Null
    })
    .await;
    b.rewrite_config_with(&run, "enabled: true", "");
    b.wait_routable(&http, "labelled", &[&labelled.id]).await;
    let answer = http
        .get(b.url("/labelled"))
        .send()
        .await
        .expect("request /labelled");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-replica"], "labelled");
}
