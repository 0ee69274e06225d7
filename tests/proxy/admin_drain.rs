//! Admin drain: `POST /api/services/{service}/endpoints/{endpoint}/drain` takes an endpoint
//! out of rotation (reason `drained by admin`) until `.../undrain`, through config reloads.

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, backend, client, replace_file, temp_config, yaml};
use crate::wait::wait_until;

/// The longest a reload may take to show.
const TIMEOUT: Duration = Duration::from_secs(10);

async fn post(url: &str) -> (u16, String) {
    let r = common::admin_post(url).send().await.expect("post");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// Who answered `n` requests to `url`.
async fn answers(url: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = client().get(url).send().await.expect("get");
        assert_eq!(r.status(), 200);
        out.push(r.text().await.expect("body"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_holds_until_undrain_and_survives_a_reload() {
    let (a, b) = (backend("a").await, backend("b").await);
    let service = |timeout: &str| {
        yaml(&format!(
            "  d: {{ balance: round_robin, timeout: {timeout}, backends: [\"{}\", \"{}\"] }}\n",
            a.addr, b.addr
        ))
    };
    let path = temp_config("admin-drain", &service("30s"));
    let config = berth::config::load(&path).expect("valid config");
    let server = berth::server::Server::start(config, Some(path.clone())).expect("start");
    let url = format!("{}/x", common::base(&server));
    let api = format!("http://{}/api/services/d/endpoints", server.admin);
    let admin = format!("http://{}", server.admin);
    let published = common::generation(&admin).await;

    let (status, body) = post(&format!("{api}/{}/drain", a.addr)).await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["endpoints"][0]["reason"], "drained by admin");
    assert_eq!(doc["endpoints"][0]["changed"], true);
    assert!(answers(&url, 10).await.iter().all(|who| who == "b"));

    // The drain asks for a snapshot of its own: once it is out, the next one is the reload's.
    wait_until(TIMEOUT, "the drain's snapshot", || async {
        common::generation(&admin).await > published
    })
    .await;

    // A reload rebuilds every snapshot; the drain stays. The file is written until the
    // reload is seen (the watcher starts after `start` returns; rewriting it unchanged
    // reloads nothing).
    let published = common::generation(&admin).await;
    wait_until(TIMEOUT, "the reload's snapshot", || async {
        replace_file(&path, &service("20s"));
        common::generation(&admin).await > published
    })
    .await;
    assert!(answers(&url, 10).await.iter().all(|who| who == "b"));

    let (status, _) = post(&format!("{api}/{}/undrain", a.addr)).await;
    assert_eq!(status, 200);
    let who = answers(&url, 10).await;
    assert!(
        who.iter().any(|w| w == "a") && who.iter().any(|w| w == "b"),
        "{who:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_needs_post_and_a_known_endpoint() {
    let a = backend("a").await;
    let server = common::start(&yaml(&format!("  e: {{ backends: [\"{}\"] }}\n", a.addr)));
    let api = format!("http://{}/api/services", server.admin);
    let got = client()
        .get(format!("{api}/e/endpoints/{}/drain", a.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 405);
    let (status, body) = post(&format!("{api}/e/endpoints/10.9.9.9:1/drain")).await;
    assert_eq!(status, 404);
    assert!(body.contains("has no endpoint 10.9.9.9:1"), "{body}");
    let (status, _) = post(&format!("{api}/nope/endpoints/{}/drain", a.addr)).await;
    assert_eq!(status, 404);
    let (status, _) = post(&format!("{api}/e/endpoints/static:e/drain")).await;
    assert_eq!(status, 200, "by source");

    let doc: Value = client()
        .get(&api)
        .send()
        .await
        .expect("services")
        .json()
        .await
        .expect("json");
    let e = &doc["services"][0];
    assert_eq!(e["limits"]["max_pending"], 100);
    assert_eq!(e["retry_budget"]["percent"], 20);
    assert_eq!(e["slow_start_ms"], 10_000);
    assert_eq!(e["endpoints"][0]["reason"], "drained by admin");
}
