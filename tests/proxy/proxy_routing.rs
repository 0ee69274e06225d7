//! Routing, balancing, error statuses and header handling through a real berth.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{self, backend, base, client, start, yaml};
use crate::wait::wait_until;

async fn get(c: &reqwest::Client, url: &str, host: &str) -> (u16, String, HashMap<String, String>) {
    let r = c
        .get(url)
        .header("host", host)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (status, r.text().await.expect("body"), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_then_longest_prefix_and_strips() {
    let (a, b, c) = (backend("a").await, backend("b").await, backend("c").await);
    let server = start(&yaml(&format!(
        "  a: {{ listener: web, hosts: [a.test], path: /, backends: [\"{}\"] }}\n\
         \x20 b: {{ listener: web, hosts: [a.test], path: /api, strip_prefix: true, backends: [\"{}\"] }}\n\
         \x20 c: {{ listener: web, hosts: [\"*.wild.test\"], path: /, backends: [\"{}\"] }}\n",
        a.addr, b.addr, c.addr
    )));
    let http = client();
    let url = base(&server);
    let (s, body, _) = get(&http, &format!("{url}/x"), "a.test").await;
    assert_eq!((s, body.as_str()), (200, "a"));
    let (s, body, h) = get(&http, &format!("{url}/api/users?id=1"), "A.TEST:80").await;
    assert_eq!((s, body.as_str()), (200, "b"));
    assert_eq!(h["x-path"], "/users", "prefix stripped");
    let (_, body, _) = get(&http, &format!("{url}/apix"), "a.test").await;
    assert_eq!(body, "a", "segment-aware prefix");
    let (_, body, _) = get(&http, &format!("{url}/"), "x.wild.test").await;
    assert_eq!(body, "c");
    let (s, body, _) = get(&http, &format!("{url}/"), "other.test").await;
    assert_eq!((s, body.as_str()), (404, "no route\n"));
    server.shutdown();
}

async fn spread(balance: &str, weights: [u32; 3], requests: usize) -> [usize; 3] {
    let backends = [backend("0").await, backend("1").await, backend("2").await];
    let list: Vec<String> = backends
        .iter()
        .zip(weights)
        .map(|(b, w)| format!("{{ address: \"{}\", weight: {w} }}", b.addr))
        .collect();
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, balance: \"{balance}\", backends: [{}] }}\n",
        list.join(", ")
    )));
    let http = client();
    let url = format!("{}/", base(&server));
    for i in 0..requests {
        let r = http
            .get(&url)
            .header("x-user", format!("user-{}", i % 7))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
    }
    server.shutdown();
    [backends[0].hits(), backends[1].hits(), backends[2].hits()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_follows_weights_exactly() {
    let hits = spread("round_robin", [1, 2, 3], 600).await;
    assert_eq!(hits, [100, 200, 300]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_request_and_peak_ewma_use_every_endpoint() {
    for balance in ["least_request", "peak_ewma"] {
        let hits = spread(balance, [1, 1, 1], 300).await;
        assert_eq!(hits.iter().sum::<usize>(), 300, "{balance}");
        assert!(hits.iter().all(|h| *h > 0), "{balance}: {hits:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_on_header_is_sticky() {
    // 7 distinct users, each always on one endpoint: at most 7 endpoint choices in total.
    let backends = [backend("0").await, backend("1").await, backend("2").await];
    let list: Vec<String> = backends.iter().map(|b| format!("\"{}\"", b.addr)).collect();
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, balance: \"hash(header:x-user)\", backends: [{}] }}\n",
        list.join(", ")
    )));
    let http = client();
    let url = format!("{}/", base(&server));
    let mut seen: HashMap<String, String> = HashMap::new();
    for i in 0..70 {
        let user = format!("user-{}", i % 7);
        let r = http
            .get(&url)
            .header("x-user", &user)
            .send()
            .await
            .expect("request");
        let body = r.text().await.expect("body");
        let first = seen.entry(user.clone()).or_insert_with(|| body.clone());
        assert_eq!(*first, body, "{user} moved");
    }
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_refused_is_502_after_retrying_another_endpoint() {
    let good = backend("good").await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    // Not `s`: the dead endpoint is ejected, and ejections are counted process-wide by
    // service name (outlier.rs counts those of its `s`).
    let server = start(&yaml(&format!(
        "  refused: {{ listener: web, balance: round_robin, retries: 1, backends: [\"{dead}\", \"{}\"] }}\n\
         \x20 gone: {{ listener: web, hosts: [gone.test], backends: [\"{dead}\"] }}\n",
        good.addr
    )));
    let http = client();
    let url = format!("{}/", base(&server));
    for _ in 0..10 {
        let (s, body, _) = get(&http, &url, "any.test").await;
        assert_eq!(
            (s, body.as_str()),
            (200, "good"),
            "retried on the other endpoint"
        );
    }
    let (s, body, _) = get(&http, &url, "gone.test").await;
    assert_eq!((s, body.as_str()), (502, "upstream error\n"));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504() {
    let slow = backend("slow").await;
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, timeout: 200ms, backends: [\"{}\"] }}\n",
        slow.addr
    )));
    let http = client();
    let (s, body, _) = get(&http, &format!("{}/slow?ms=2000", base(&server)), "x").await;
    assert_eq!((s, body.as_str()), (504, "upstream timeout\n"));
    let (s, _, _) = get(&http, &format!("{}/slow?ms=10", base(&server)), "x").await;
    assert_eq!(s, 200, "a fast request still passes");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drained_service_is_503_with_retry_after() {
    let only = backend("only").await;
    let server = start(&yaml(&format!(
        "  api: {{ listener: web, backends: [\"{}\"] }}\n",
        only.addr
    )));
    let key = berth::model::EndpointKey {
        source: "static:api".into(),
        addr: only.addr,
    };
    let drain = berth::model::Update::Drain(key);
    server
        .inputs()
        .send(berth::discovery::Input::Update(drain))
        .await
        .expect("reconciler running");
    let admin = format!("http://{}", server.admin);
    wait_until(
        Duration::from_secs(5),
        "the endpoint of api to drain",
        || async { common::endpoints(&admin, "api").await[0]["state"] == "excluded" },
    )
    .await;
    let (s, body, h) = get(&client(), &format!("{}/", base(&server)), "x").await;
    assert_eq!(
        (s, body.as_str()),
        (503, "service api has no healthy endpoint\n")
    );
    assert_eq!(h["retry-after"], "1");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_set_and_hop_by_hop_removed() {
    let echo = backend("echo").await;
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, backends: [\"{}\"] }}\n",
        echo.addr
    )));
    let r = client()
        .get(format!("{}/headers", base(&server)))
        .header("host", "shop.test")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("connection", "x-secret")
        .header("x-secret", "hidden")
        .header("te", "trailers")
        .header("x-keep", "1")
        .send()
        .await
        .expect("request");
    let seen = r.text().await.expect("body");
    assert!(seen.contains("x-forwarded-for: 127.0.0.1\n"), "{seen}");
    assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
    assert!(seen.contains("x-forwarded-host: shop.test\n"), "{seen}");
    assert!(seen.contains("host: shop.test\n"), "{seen}");
    assert!(seen.contains("x-keep: 1\n"), "{seen}");
    assert!(!seen.contains("x-secret"), "{seen}");
    assert!(!seen.contains("te: "), "{seen}");
    assert!(!seen.contains("6.6.6.6"), "{seen}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_peers_keep_their_forwarding_headers() {
    let echo = backend("echo").await;
    let mut text = yaml(&format!(
        "  s: {{ listener: web, backends: [\"{}\"] }}\n",
        echo.addr
    ));
    text = text.replace(
        "protocol: http }",
        "protocol: http, trusted_ips: [\"127.0.0.0/8\"] }",
    );
    let server = start(&text);
    let r = client()
        .get(format!("{}/headers", base(&server)))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request");
    let seen = r.text().await.expect("body");
    assert!(
        seen.contains("x-forwarded-for: 6.6.6.6, 127.0.0.1\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: https\n"), "{seen}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_serves_metrics_health_and_services() {
    let one = backend("one").await;
    let server = start(&yaml(&format!(
        "  api: {{ listener: web, hosts: [api.test], backends: [\"{}\"] }}\n",
        one.addr
    )));
    let http = client();
    let (s, _, _) = get(&http, &format!("{}/", base(&server)), "api.test").await;
    assert_eq!(s, 200);
    let admin = format!("http://{}", server.admin);
    let health = http
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let metrics = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.expect("metrics body");
    assert!(
        text.lines().any(|l| l.starts_with("berth_requests_total{")
            && l.contains("service=\"api\"")
            && l.contains("code=\"200\"")),
        "{text}"
    );
    let services: serde_json::Value = http
        .get(format!("{admin}/api/services"))
        .send()
        .await
        .expect("services")
        .json()
        .await
        .expect("json");
    let api = &services["services"][0];
    assert_eq!(api["name"], "api");
    assert_eq!(api["endpoints"][0]["address"], one.addr.to_string());
    assert_eq!(api["endpoints"][0]["state"], "routable");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_head_is_431() {
    let b = backend("b").await;
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, backends: [\"{}\"] }}\n",
        b.addr
    )));
    let big = "a".repeat(100 * 1024);
    let r = client()
        .get(format!("{}/", base(&server)))
        .header("x-big", big)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 431);
    assert_eq!(b.hits(), 0);
    server.shutdown();
}
