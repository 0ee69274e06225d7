//! Docker discovery against a real engine: containers with labels become routes, follow the
//! lifecycle (start, stop under load, health, networks), bad labels are rejected alone, and
//! a cut event stream resyncs.
//!
//! Each test runs its own berth in-process with a label prefix unique to the test, so the
//! tests running in parallel on one engine never see each other's containers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::docker_common::*;

const CONVERGE: Duration = Duration::from_secs(15);

/// A berth following the engine at `endpoint` with labels under `prefix`.
struct Berth {
    server: Option<berth::server::Server>,
    prefix: String,
}

impl Berth {
    fn start(run: &RunId, endpoint: &str, network: Option<&str>) -> Berth {
        let prefix = format!("t{}", run.as_str().replace('-', ""));
        let network = network.map_or("null".to_owned(), |n| format!("\"{n}\""));
        let yaml = format!(
            "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
             admin: {{ address: \"127.0.0.1:0\" }}\n\
             docker: {{ enabled: true, endpoint: \"{endpoint}\", label_prefix: {prefix}, network: {network} }}\n\
             defaults: {{ balance: round_robin, timeouts: {{ connect: 1s }} }}\n\
             workers: 1\n"
        );
        let config =
            berth::config::parse(&yaml, "docker-test.yaml").unwrap_or_else(|e| panic!("{e}"));
        let server = berth::server::Server::start(config, None).expect("berth starts");
        Berth {
            server: Some(server),
            prefix,
        }
    }

    /// `(label, value)` under this berth's prefix.
    fn label(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    fn server(&self) -> &berth::server::Server {
        self.server.as_ref().expect("running")
    }

    fn url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.server().listener("web").expect("web")
        )
    }

    async fn api(&self, path: &str) -> serde_json::Value {
        let url = format!("http://{}{path}", self.server().admin);
        client()
            .get(url)
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .expect("json")
    }

    /// Routable endpoint addresses of `service`.
    async fn routable(&self, service: &str) -> Vec<String> {
        let doc = self.api("/api/services").await;
        doc["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"] == service)
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["state"] == "routable")
            .filter_map(|e| e["address"].as_str().map(str::to_owned))
            .collect()
    }

    async fn wait_routable(&self, service: &str, n: usize) {
        wait_until(
            CONVERGE,
            &format!("{n} routable endpoints of {service}"),
            || async { self.routable(service).await.len() == n },
        )
        .await;
    }

    /// Bodies of `n` GETs of `path` with `host`.
    async fn spread(&self, host: &str, path: &str, n: usize) -> HashMap<String, usize> {
        let http = client();
        let mut seen = HashMap::new();
        for _ in 0..n {
            let r = http
                .get(self.url(path))
                .header("host", host)
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200, "GET {host}{path}");
            *seen.entry(r.text().await.expect("body")).or_insert(0) += 1;
        }
        seen
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

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
        // These tests check who gets traffic at once, not the slow start ramp.
        .label(&b.label("slow_start"), "0s")
        .network(net)
}

/// Waits until `c` answers on its own address: without a HEALTHCHECK a replica is routable
/// at its `start`, and listens a few ms later.
async fn listening(c: &Container) {
    let addr = c.addr();
    blocking(move || {
        wait_until_blocking(
            CONVERGE,
            &format!("the replica at {addr} to listen"),
            || http_request(addr, "GET", "/", Duration::from_secs(1)).is_ok(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_spread_join_and_stop_under_load_without_a_failure() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let reps: Vec<Container> = ["r1", "r2", "r3"]
        .iter()
        .map(|n| replica(&run, &image, &b, n, &net).start())
        .collect();
    b.wait_routable("api", 3).await;
    let seen = b.spread("any.test", "/", 30).await;
    assert_eq!(seen.len(), 3, "three replicas share the load: {seen:?}");

    let r4 = replica(&run, &image, &b, "r4", &net).start();
    b.wait_routable("api", 4).await;
    assert!(
        b.spread("any.test", "/", 40).await.contains_key("r4"),
        "a new replica takes traffic"
    );

    // Continuous load while one replica is stopped: no request may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, url) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            b.url("/slow?ms=20"),
        );
        load.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::Relaxed) {
                let good = match http.get(&url).send().await {
                    Ok(r) => r.status() == 200 && r.text().await.is_ok(),
                    Err(_) => false,
                };
                (if good { &ok } else { &failed }).fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let answered = || ok.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed);
    wait_until(CONVERGE, "50 answers before the stop", || async {
        answered() >= 50
    })
    .await;
    let stopper = reps[1].id.clone();
    tokio::task::spawn_blocking(move || docker_ok(&["stop", "-t", "10", &stopper]))
        .await
        .expect("docker stop");
    b.wait_routable("api", 3).await;
    let before = answered();
    wait_until(CONVERGE, "50 answers after the stop", || async {
        answered() >= before + 50
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load task");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("stop under load: {ok} ok, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 50);
    assert!(
        !b.spread("any.test", "/", 30).await.contains_key("r2"),
        "stopped replica gets nothing"
    );
    drop(r4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unhealthy_replica_leaves_the_rotation_and_returns() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let h1 = replica(&run, &image, &b, "h1", &net).start();
    let _h2 = replica(&run, &image, &b, "h2", &net).start();
    b.wait_routable("api", 2).await;
    h1.exec_health(true);
    b.wait_routable("api", 1).await;
    let seen = b.spread("x", "/", 20).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), vec!["h2"], "{seen:?}");
    let doc = b.api("/api/services").await;
    let reasons: Vec<String> = doc["services"][0]["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["reason"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(reasons, vec!["docker health: unhealthy"]);
    h1.exec_health(false);
    b.wait_routable("api", 2).await;
    assert!(b.spread("x", "/", 20).await.contains_key("h1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_label_picks_the_address_and_ambiguity_is_rejected() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let (front, back) = (
        Network::create(&run, "front"),
        Network::create(&run, "back"),
    );
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let chosen = ContainerBuilder::new(&run, &image)
        .name("two")
        .env("NAME", "two")
        .label(&b.label("enable"), "true")
        .label(&b.label("network"), &back.name)
        .network(&front)
        .network(&back)
        .start();
    let ambiguous = ContainerBuilder::new(&run, &image)
        .name("amb")
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), "amb")
        .network(&front)
        .network(&back)
        .start();
    let want = format!("{}:{}", chosen.ip(&back), REPLICA_PORT);
    wait_until(CONVERGE, "address on the labelled network", || async {
        b.routable(&chosen.name).await == vec![want.clone()]
    })
    .await;
    let doc = b.api("/api/services").await;
    let origin = doc["services"][0]["endpoints"][0]["origin"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        origin.contains(&back.name) && origin.contains("label"),
        "{origin}"
    );
    wait_until(CONVERGE, "ambiguous container rejected", || async {
        let doc = b.api("/api/rejected").await;
        doc["rejected"].as_array().into_iter().flatten().any(|r| {
            r["name"] == ambiguous.name.as_str()
                && r["reason"].as_str().unwrap_or("").contains(&front.name)
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_labels_reject_one_container_and_others_serve() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let good = replica(&run, &image, &b, "good", &net).start();
    let zero = replica(&run, &image, &b, "zero", &net)
        .label(&b.label("weight"), "0")
        .start();
    let typo = replica(&run, &image, &b, "typo", &net)
        .label(&b.label("wieght"), "2")
        .start();
    b.wait_routable("api", 1).await;
    wait_until(CONVERGE, "two rejections", || async {
        b.api("/api/rejected").await["rejected"]
            .as_array()
            .map_or(0, Vec::len)
            == 2
    })
    .await;
    let doc = b.api("/api/rejected").await;
    let reasons: HashMap<String, String> = doc["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(reasons[&zero.name].contains("weight"), "{reasons:?}");
    assert!(
        reasons[&typo.name].contains("weight"),
        "did-you-mean: {reasons:?}"
    );
    listening(&good).await;
    assert_eq!(
        b.spread("x", "/", 10).await.keys().collect::<Vec<_>>(),
        vec!["good"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_on_hosts_and_paths() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let shop = ContainerBuilder::new(&run, &image)
        .name("shop")
        .env("NAME", "shop")
        .label(&b.label("enable"), "true")
        .label(&b.label("http.hosts"), "shop.test")
        .network(&net)
        .start();
    let api = ContainerBuilder::new(&run, &image)
        .name("api")
        .env("NAME", "api")
        .label(&b.label("enable"), "true")
        .label(&b.label("http.hosts"), "shop.test")
        .label(&b.label("http.path"), "/api")
        .label(&b.label("http.strip_prefix"), "true")
        .network(&net)
        .start();
    wait_until(CONVERGE, "both services routed", || async {
        b.routable(&format!("{}-shop", run.as_str())).await.len() == 1
            && b.routable(&format!("{}-api", run.as_str())).await.len() == 1
    })
    .await;
    listening(&shop).await;
    listening(&api).await;
    let http = client();
    let r = http
        .get(b.url("/api/orders"))
        .header("host", "shop.test")
        .send()
        .await
        .expect("api");
    assert_eq!(r.headers()["x-path"], "/orders", "prefix stripped");
    assert_eq!(r.text().await.expect("body"), "api");
    let r = http
        .get(b.url("/cart"))
        .header("host", "shop.test")
        .send()
        .await
        .expect("shop");
    assert_eq!(r.text().await.expect("body"), "shop");
    let r = http
        .get(b.url("/"))
        .header("host", "other.test")
        .send()
        .await
        .expect("miss");
    assert_eq!(r.status(), 404);
}

/// A redeploy is not a removal: while no container of a service runs, its route answers
/// 503 with `Retry-After` (not 404) and `/api/services` says since when; the next container
/// of the service is routed as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_with_every_container_stopped_answers_503_until_one_returns() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let service = format!("{}-redeploy", run.as_str());
    let replica = |name: &str| {
        ContainerBuilder::new(&run, &image)
            .name(name)
            .env("NAME", name)
            .label(&b.label("enable"), "true")
            .label(&b.label("service"), &service)
            .label(&b.label("http.hosts"), "redeploy.test")
            .network(&net)
            .start()
    };
    let first = replica("old");
    wait_until(CONVERGE, "the first container routed", || async {
        b.routable(&service).await.len() == 1
    })
    .await;
    first.stop(Duration::from_secs(5));
    let vacant = || async {
        let doc = b.api("/api/services").await;
        doc["services"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["name"] == service.as_str() && s["no_endpoints_since"].is_string())
    };
    wait_until(CONVERGE, "the service kept without endpoints", vacant).await;
    let http = client();
    let r = http
        .get(b.url("/"))
        .header("host", "redeploy.test")
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), 503, "not 404: the service is coming back");
    assert!(r.headers().contains_key("retry-after"));
    let second = replica("new");
    wait_until(CONVERGE, "the new container routed", || async {
        b.routable(&service).await.len() == 1
    })
    .await;
    listening(&second).await;
    let r = http
        .get(b.url("/"))
        .header("host", "redeploy.test")
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.text().await.expect("body"), "new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_event_stream_keeps_routes_and_resyncs_on_return() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let relay = SocketRelay::start(&run);
    let b = Berth::start(&run, &relay.endpoint(), None);
    let first = replica(&run, &image, &b, "first", &net).start();
    b.wait_routable("api", 1).await;

    relay.cut();
    // A real sleep: the routes must outlive the cut stream, which nothing shows but time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.spread("x", "/", 5).await.keys().collect::<Vec<_>>(),
        vec!["first"],
        "last known routes serve"
    );
    let second = replica(&run, &image, &b, "second", &net).start();
    first.stop(Duration::from_secs(5));
    drop(first);

    relay.restore();
    let want = vec![second.addr().to_string()];
    let took = wait_until(CONVERGE, "resync after the stream returns", || async {
        b.routable("api").await == want
    })
    .await;
    eprintln!("resynced {took:?} after the event stream returned");
    assert_eq!(
        b.spread("x", "/", 5).await.keys().collect::<Vec<_>>(),
        vec!["second"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_excludes_hup_does_not_drain_and_network_changes_repick() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let (net, other) = (Network::create(&run, "net"), Network::create(&run, "other"));
    let b = Berth::start(&run, "unix:///var/run/docker.sock", None);
    let p = replica(&run, &image, &b, "p", &net).start();
    b.wait_routable("api", 1).await;

    p.pause();
    b.wait_routable("api", 0).await;
    let doc = b.api("/api/services").await;
    assert_eq!(doc["services"][0]["endpoints"][0]["reason"], "paused");
    p.unpause();
    b.wait_routable("api", 1).await;

    p.kill("HUP");
    // A real sleep: berth shows nothing when it ignores an event, so time must pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.routable("api").await.len(),
        1,
        "HUP reloads, it does not drain"
    );

    // Joining a second network makes the choice ambiguous (no label, berth not in a
    // container): the replica is rejected; leaving it again restores the route.
    p.connect_network(&other);
    b.wait_routable("api", 0).await;
    p.disconnect_network(&other);
    b.wait_routable("api", 1).await;
    assert_eq!(
        b.routable("api").await,
        vec![format!("{}:{REPLICA_PORT}", p.ip(&net))]
    );
}
