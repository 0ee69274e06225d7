//! Failure response against a real engine (issue #4): what clients see when replicas are
//! replaced, killed, answer errors, hang, or fail their health check.
//!
//! 1. A rolling deploy of 3 replicas under ≥ 500 requests/s loses no request.
//! 2. `docker kill -s KILL` of one of 3 replicas under load fails at most the requests that
//!    were in flight (≤ the load's concurrency), and none sent after berth excluded it.
//! 3. A replica answering 500s is ejected after 5 in a row and returns once recovered.
//! 4. A replica that hangs costs 504s (`berth.timeout.request`) only until it is ejected.
//! 5. A replica failing its active check stays out — no flap — across a config reload and
//!    an unrelated container's start.
//! 6. A replica that is slow to listen takes traffic as soon as it listens (connects refused
//!    before then are retried elsewhere, and do not eject it).
//!
//! Each test runs its own berth in-process with a label prefix unique to the test, so the
//! tests running in parallel on one engine never see each other's containers. The tests
//! that put load on berth take turns ([`HEAVY`]): on a 2-core machine two load generators
//! would measure each other.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::docker_common::*;

/// Client loops of the load generator (each one keep-alive connection to berth).
const CONCURRENCY: usize = 8;
/// The rate the rolling deploy must sustain.
const MIN_RATE: f64 = 500.0;

/// A replica of service `api` named `name` (its `NAME`, so `x-replica` says `name`).
fn replica(
    run: &RunId,
    image: &TestImage,
    b: &Berth,
    name: &str,
    net: &Network,
) -> ContainerBuilder {
    ContainerBuilder::new(run, image)
        .name(name)
        .env("NAME", name)
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), "api")
        .network(net)
}

/// Starts `builders` one after another, off the runtime's workers.
async fn start_all(builders: Vec<ContainerBuilder>) -> Vec<Container> {
    blocking(move || builders.into_iter().map(ContainerBuilder::start).collect()).await
}

/// The container ids, for [`Berth::wait_routable`].
fn ids(containers: &[Container]) -> Vec<&str> {
    containers.iter().map(|c| c.id.as_str()).collect()
}

/// `n` sequential GETs of `url`: (status, `x-replica`) of each.
async fn send(http: &reqwest::Client, url: &str, n: usize) -> Vec<(u16, String)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = http.get(url).send().await.expect("request to berth");
        let status = r.status().as_u16();
        let replica = r
            .headers()
            .get("x-replica")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let _ = r.bytes().await;
        out.push((status, replica));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploy_under_load_loses_no_request() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "defaults: { timeouts: { connect: 1s } }\n");
    let http = client();
    let builders = ["v1a", "v1b", "v1c"]
        .iter()
        .map(|n| replica(&run, &image, &b, n, &net))
        .collect();
    let mut old = start_all(builders).await;
    b.wait_routable(&http, "api", &ids(&old)).await;

    let _turn = HEAVY.lock().await;
    let load = Load::start(&b.url("/"), CONCURRENCY);
    load.wait_answers(500).await;
    let mut new = Vec::new();
    for name in ["v2a", "v2b", "v2c"] {
        // Start the new replica and wait until berth routes to it...
        let fresh = replica(&run, &image, &b, name, &net);
        let fresh = blocking(move || fresh.start()).await;
        let seen = b
            .wait_endpoint(&http, "api", &fresh.id, "routable or ejected", |e| {
                e.routable()
                    || e.reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("ejected"))
            })
            .await;
        assert!(
            seen.routable(),
            "the new replica {name} was ejected as it started (its first connects were \
             refused before it listened): {:?}",
            seen.doc
        );
        load.wait_answers(300).await;
        // ...then stop the old one the way an orchestrator does, and wait until it is gone.
        let retired = old.remove(0);
        let id = retired.id.clone();
        blocking(move || docker_ok(&["stop", "-t", "10", &id])).await;
        wait_until(CONVERGE, "the stopped replica to leave", || async {
            !b.endpoints(&http, "api")
                .await
                .iter()
                .any(|e| e.source == retired.id)
        })
        .await;
        blocking(move || drop(retired)).await;
        new.push(fresh);
    }
    load.wait_answers(500).await;
    let report = load.stop().await;
    drop(_turn);

    let failures = report.failures();
    eprintln!(
        "rolling deploy: {} requests in {:.2?} ({:.0} req/s, {CONCURRENCY} client loops), {} failed",
        report.records.len(),
        report.elapsed,
        report.rate(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "the rolling deploy failed {}",
        report.describe(failures)
    );
    assert!(
        report.rate() >= MIN_RATE,
        "load too light to prove anything: {:.0} req/s",
        report.rate()
    );
    b.wait_routable(&http, "api", &ids(&new)).await;
    for name in ["v1a", "v1b", "v1c", "v2a", "v2b", "v2c"] {
        assert!(
            report.answered_by(name).count() > 0,
            "{name} never answered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_fails_at_most_the_requests_in_flight() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "defaults: { timeouts: { connect: 1s } }\n");
    let http = client();
    let builders = ["k1", "k2", "k3"]
        .iter()
        .map(|n| replica(&run, &image, &b, n, &net))
        .collect();
    let replicas = start_all(builders).await;
    b.wait_routable(&http, "api", &ids(&replicas)).await;
    let victim = &replicas[1];

    let _turn = HEAVY.lock().await;
    let load = Load::start(&b.url("/"), CONCURRENCY);
    load.wait_answers(1000).await;
    let killed = Instant::now();
    let id = victim.id.clone();
    blocking(move || docker_ok(&["kill", "-s", "KILL", &id])).await;
    let kill_returned = Instant::now();
    // From the moment /api/services no longer shows it routable, nothing may fail.
    wait_until(CONVERGE, "the killed replica to be excluded", || async {
        !b.routable(&http, "api").await.contains(&victim.id)
    })
    .await;
    let excluded = Instant::now();
    wait_until(CONVERGE, "the killed replica to be removed", || async {
        !b.endpoints(&http, "api")
            .await
            .iter()
            .any(|e| e.source == victim.id)
    })
    .await;
    let removed = Instant::now();
    load.wait_answers(2000).await;
    let report = load.stop().await;
    drop(_turn);

    let failures = report.failures();
    let late: Vec<&Record> = failures
        .iter()
        .copied()
        .filter(|r| r.sent >= excluded)
        .collect();
    let ms = |t: Instant| (t - killed).as_secs_f64() * 1e3;
    eprintln!(
        "kill -9 under load: {} requests ({:.0} req/s), {} failed; `docker kill` returned \
         after {:.1} ms, excluded seen after {:.1} ms, removed after {:.1} ms; {} requests \
         sent after the exclusion",
        report.records.len(),
        report.rate(),
        failures.len(),
        ms(kill_returned),
        ms(excluded),
        ms(removed),
        report.sent_after(excluded).count()
    );
    assert!(
        failures.len() <= CONCURRENCY,
        "more failures than requests in flight ({CONCURRENCY}): {}",
        report.describe(failures.iter().copied())
    );
    assert!(
        late.is_empty(),
        "requests sent after the replica was excluded failed: {}",
        report.describe(late)
    );
    assert!(
        report.sent_after(excluded).count() > 500,
        "too little load after the kill to prove anything"
    );
    assert_eq!(
        report
            .sent_after(excluded)
            .filter(|r| &*r.replica == "k2")
            .count(),
        0,
        "the killed replica answered after its exclusion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_answering_500s_is_ejected_and_returns_when_recovered() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(
        &run,
        // Exact round-robin shares from the start: no slow start.
        "defaults: { balance: round_robin, slow_start: 0s, \
         outlier: { consecutive_failures: 5, base_ejection: 1s } }\n",
    );
    let http = client();
    let builders = ["e1", "e2", "e3"]
        .iter()
        .map(|n| replica(&run, &image, &b, n, &net))
        .collect();
    let replicas = start_all(builders).await;
    b.wait_routable(&http, "api", &ids(&replicas)).await;
    let bad = &replicas[1];
    let url = b.url("/");
    assert!(send(&http, &url, 9).await.iter().all(|(s, _)| *s == 200));

    // e2 answers 500 to everything: round robin sends it every third request until the
    // fifth 500 in a row ejects it.
    bad.post("/fail/500");
    let got = send(&http, &url, 30).await;
    let ejected = Instant::now();
    let errors: Vec<usize> = (0..got.len()).filter(|&i| got[i].0 != 200).collect();
    assert_eq!(errors.len(), 5, "{got:?}");
    assert!(
        errors.iter().all(|&i| got[i] == (500, "e2".to_owned())),
        "{got:?}"
    );
    assert!(
        got[errors[4] + 1..].iter().all(|(_, r)| r != "e2"),
        "e2 got requests after its fifth 500: {got:?}"
    );
    let eps = b.endpoints(&http, "api").await;
    let e2 = eps.iter().find(|e| e.source == bad.id).expect("e2 listed");
    assert_eq!(
        e2.reason.as_deref(),
        Some("ejected: 5 consecutive failures"),
        "{eps:?}"
    );
    let remaining = e2.doc["ejection"]["remaining_ms"]
        .as_u64()
        .expect("ejection");
    assert!(remaining <= 1000, "{remaining} ms");

    // Recovered: it returns when the 1 s ejection is over, and takes its share again.
    bad.post("/fail/off");
    b.wait_endpoint(
        &http,
        "api",
        &bad.id,
        "back after the ejection",
        EndpointView::routable,
    )
    .await;
    let back = ejected.elapsed();
    eprintln!("500s: ejected after 5 errors; back {back:?} after the ejection");
    assert!(
        back >= Duration::from_millis(800) && back < Duration::from_secs(3),
        "returned {back:?} after a 1 s ejection"
    );
    let got = send(&http, &url, 30).await;
    assert!(got.iter().all(|(s, _)| *s == 200), "{got:?}");
    assert_eq!(got.iter().filter(|(_, r)| r == "e2").count(), 10, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_replica_costs_504s_only_until_it_is_ejected() {
    if !require_engine() {
        return;
    }
    const LOOPS: usize = 4;
    const THRESHOLD: usize = 5;
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(
        &run,
        // Exact round-robin shares from the start: no slow start.
        "defaults: { balance: round_robin, slow_start: 0s, \
         outlier: { consecutive_failures: 5, base_ejection: 3s } }\n",
    );
    let http = client();
    let builders = ["h1", "h2", "h3"]
        .iter()
        .map(|n| replica(&run, &image, &b, n, &net).label(&b.label("timeout.request"), "300ms"))
        .collect();
    let replicas = start_all(builders).await;
    b.wait_routable(&http, "api", &ids(&replicas)).await;
    let hung = &replicas[1];

    let _turn = HEAVY.lock().await;
    let load = Load::start(&b.url("/"), LOOPS);
    load.wait_answers(300).await;
    let hang = Instant::now();
    hung.post("/hang");
    let ejection = b
        .wait_endpoint(&http, "api", &hung.id, "ejected", |e| {
            e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("ejected"))
        })
        .await;
    let seen = Instant::now();
    // A real sleep: load that sends nothing to h2 for 1.5 s of its 3 s ejection is the test.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let report = load.stop().await;
    drop(_turn);
    // Still within the 3 s ejection: nothing went to h2 since.
    let eps = b.endpoints(&http, "api").await;
    assert!(
        eps.iter()
            .any(|e| e.source == hung.id && e.reason == ejection.reason),
        "{eps:?}"
    );

    let failures = report.failures();
    eprintln!(
        "hang: {} 504s (threshold {THRESHOLD}, {LOOPS} client loops); ejection seen {:.0?} \
         after the hang; {} requests after it",
        failures.len(),
        seen - hang,
        report.sent_after(seen).count()
    );
    assert!(
        failures
            .iter()
            .all(|r| r.status == 504 && r.error.as_deref() == Some("upstream timeout")),
        "only 504s: {}",
        report.describe(failures.iter().copied())
    );
    // The fifth 504 ejects it; the requests already waiting on it then time out too (at most
    // one per client loop).
    assert!(
        (THRESHOLD..THRESHOLD + LOOPS).contains(&failures.len()),
        "{}",
        report.describe(failures.iter().copied())
    );
    assert!(
        failures.iter().all(|r| r.sent < seen && r.sent >= hang),
        "a 504 for a request sent after the ejection: {}",
        report.describe(failures.iter().copied())
    );
    assert!(
        report.sent_after(seen).count() > 200,
        "too little load after the ejection"
    );
    assert_eq!(
        report.sent_after(seen).filter(|r| !r.ok()).count(),
        0,
        "failures after the ejection"
    );

    // Answers again: back after the ejection, serving.
    hung.post("/hang/off");
    b.wait_endpoint(&http, "api", &hung.id, "back", EndpointView::routable)
        .await;
    let got = send(&http, &b.url("/"), 30).await;
    assert!(got.iter().all(|(s, _)| *s == 200), "{got:?}");
    assert_eq!(got.iter().filter(|(_, r)| r == "h2").count(), 10, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_survives_reload_and_unrelated_start_without_a_flap() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let marker = |path: &str| {
        format!(
            "services:\n  marker: {{ listener: web, path: {path}, backends: [\"127.0.0.1:9\"] }}\n"
        )
    };
    let b = Berth::start_watched(&run, &marker("/marker-1"));
    let http = client();
    let builders = ["g1", "g2", "g3"]
        .iter()
        .map(|n| {
            replica(&run, &image, &b, n, &net)
                .label(&b.label("health.path"), "/health")
                .label(&b.label("health.interval"), "200ms")
                .label(&b.label("health.rise"), "2")
                .label(&b.label("health.fall"), "2")
        })
        .collect();
    let replicas = start_all(builders).await;
    b.wait_routable(&http, "api", &ids(&replicas)).await;
    let sick = &replicas[1];
    sick.exec_health(true);
    b.wait_endpoint(&http, "api", &sick.id, "failing its check", |e| {
        e.reason.as_deref() == Some("active check: failing")
    })
    .await;

    // Watch g2 in /api/services every few ms while load runs and the events happen.
    let _turn = HEAVY.lock().await;
    let load = Load::start(&b.url("/"), 4);
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, polls) = (Arc::clone(&stop), Arc::clone(&polls));
        let admin = b.admin_url("/api/services");
        let id = sick.id.clone();
        tokio::spawn(async move {
            let http = client();
            let mut seen: Vec<serde_json::Value> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let doc: serde_json::Value = match http.get(&admin).send().await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => Default::default(),
                };
                let endpoint = doc["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["name"] == "api")
                    .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
                    .find(|e| e["source"] == id.as_str());
                seen.push(endpoint.unwrap_or_default());
                polls.fetch_add(1, Ordering::Relaxed);
                // The sampling period of the watch, not a wait.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };
    load.wait_answers(300).await;

    // (a) A config reload (the static `marker` service moves).
    b.rewrite_config(&run, &marker("/marker-2"));
    wait_until(CONVERGE, "the reload", || async {
        b.service(&http, "marker").await["path"] == "/marker-2"
    })
    .await;
    two_more_failed_checks(&b, &http, &sick.id).await;

    // (b) An unrelated container starts (another service: a snapshot rebuild).
    let other = ContainerBuilder::new(&run, &image)
        .name("other")
        .env("NAME", "other")
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), "other")
        .network(&net);
    let other = blocking(move || other.start()).await;
    b.wait_routable(&http, "other", &[other.id.as_str()]).await;
    two_more_failed_checks(&b, &http, &sick.id).await;

    stop.store(true, Ordering::Relaxed);
    let seen = watcher.await.expect("watcher");
    let report = load.stop().await;
    drop(_turn);

    eprintln!(
        "health across reload and start: {} polls of /api/services, {} requests",
        seen.len(),
        report.records.len()
    );
    assert!(seen.len() > 50, "only {} polls", seen.len());
    let flaps: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|e| e["state"] != "excluded" || e["reason"] != "active check: failing")
        .collect();
    assert!(
        flaps.is_empty(),
        "g2 was not excluded for its check in {} of {} polls, first: {}",
        flaps.len(),
        seen.len(),
        flaps[0]
    );
    // Its checker ran on: failures in a row only grew (no reset by the reload or rebuild).
    let failures: Vec<u64> = seen
        .iter()
        .map(|e| e["health"]["consecutive_failures"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        failures.windows(2).all(|w| w[0] <= w[1]) && failures[0] < failures[failures.len() - 1],
        "consecutive failures reset: {failures:?}"
    );
    assert!(
        report.failures().is_empty(),
        "{}",
        report.describe(report.failures())
    );
    assert_eq!(report.answered_by("g2").count(), 0, "g2 answered");
    assert!(report.answered_by("g1").count() > 0 && report.answered_by("g3").count() > 0);

    // It returns once it passes again.
    sick.exec_health(false);
    b.wait_endpoint(&http, "api", &sick.id, "back", EndpointView::routable)
        .await;
    drop(other);
}

/// Waits until the active check of container `id` (service `api`) has failed twice more:
/// the checker ran on, and the watch saw its endpoint meanwhile.
async fn two_more_failed_checks(b: &Berth, http: &reqwest::Client, id: &str) {
    let failures = |e: &EndpointView| e.doc["health"]["consecutive_failures"].as_u64();
    let now = b.endpoints(http, "api").await;
    let before = now.iter().find(|e| e.source == id).and_then(failures);
    let before = before.expect("its check's failures");
    b.wait_endpoint(http, "api", id, "two more failed checks", |e| {
        failures(e) >= Some(before + 2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_starting_replica_takes_traffic_as_soon_as_it_listens() {
    if !require_engine() {
        return;
    }
    const LISTEN_DELAY: Duration = Duration::from_millis(1000);
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    // The default outlier settings: 5 failures in a row, 30 s ejection.
    let b = Berth::start(&run, "defaults: { timeouts: { connect: 1s } }\n");
    let http = client();
    let builders = ["s1", "s2"]
        .iter()
        .map(|n| replica(&run, &image, &b, n, &net))
        .collect();
    let replicas = start_all(builders).await;
    b.wait_routable(&http, "api", &ids(&replicas)).await;

    let _turn = HEAVY.lock().await;
    let load = Load::start(&b.url("/"), 4);
    load.wait_answers(300).await;
    // No HEALTHCHECK, no active check: routable at its `start`, listening a second later.
    let slow = replica(&run, &image, &b, "s3", &net)
        .env("LISTEN_DELAY_MS", &LISTEN_DELAY.as_millis().to_string());
    let started = Instant::now();
    let slow = blocking(move || slow.start()).await;
    // A real sleep: the load runs through s3's second of refused connects and its first
    // 1.5 s of listening, which the assertions below look at.
    tokio::time::sleep(LISTEN_DELAY + Duration::from_millis(2000)).await;
    let report = load.stop().await;
    drop(_turn);

    let first = report.answered_by("s3").map(|r| r.done).min();
    eprintln!(
        "slow starter: {} requests, {} failed, first answer from s3 {:?} after its start",
        report.records.len(),
        report.failures().len(),
        first.map(|t| t - started)
    );
    assert!(
        report.failures().is_empty(),
        "refused connects must be retried: {}",
        report.describe(report.failures())
    );
    let eps = b.endpoints(&http, "api").await;
    let s3 = eps.iter().find(|e| e.source == slow.id).expect("s3 listed");
    assert!(s3.routable(), "s3 is out once it listens: {:?}", s3.doc);
    assert!(
        first.is_some_and(|t| t - started < LISTEN_DELAY + Duration::from_millis(1500)),
        "s3 answered nothing within 1.5 s of listening"
    );
}
