//! Sticky sessions from labels against a real engine: a client with a cookie stays on one
//! of two replica containers of a service, and moves to the other, with a new cookie, when
//! its container is stopped.

use std::time::Duration;

use crate::docker_common::*;

/// One request with `cookie` (if any): the status, who answered, and the `Set-Cookie` value
/// (`name=value`) it got.
async fn visit(
    http: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
) -> (u16, String, Option<String>) {
    let mut req = http.get(url).header("host", "sticky.test");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.expect("GET");
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    (r.status().as_u16(), r.text().await.unwrap_or_default(), set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_client_stays_on_its_replica_and_moves_when_it_stops() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "defaults: { slow_start: 0s }\n");
    let service = run.name("app");
    let start = |name: &str| {
        ContainerBuilder::new(&run, &image)
            .name(name)
            .env("NAME", name)
            .label(&b.label("enable"), "true")
            .label(&b.label("service"), &service)
            .label(&b.label("http.hosts"), "sticky.test")
            .label(&b.label("balance"), "round_robin")
            .label(&b.label("sticky.cookie"), "berth_app")
            .label(&b.label("sticky.secret"), "replicas-share-this")
            .network(&net)
            .start()
    };
    let replicas = [start("r1"), start("r2")];
    let http = client();
    b.wait_routable(&http, &service, &[&replicas[0].id, &replicas[1].id])
        .await;
    let url = b.url("/");

    let (status, home, cookie) = visit(&http, &url, None).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("the first answer sets the cookie");
    assert!(cookie.starts_with("berth_app="), "{cookie}");
    for _ in 0..10 {
        let (status, who, again) = visit(&http, &url, Some(&cookie)).await;
        assert_eq!((status, who.as_str(), again), (200, home.as_str(), None));
    }

    let (stopped, other) = match home.as_str() {
        "r1" => (&replicas[0], "r2"),
        _ => (&replicas[1], "r1"),
    };
    stopped.stop(Duration::from_secs(5));
    // Until berth sees the container go, a request may still be tried on it (and retried);
    // once it is gone, the cookie names no endpoint and the answer sets a new one.
    let moved = wait_for(CONVERGE, "a new cookie from the other replica", || async {
        match visit(&http, &url, Some(&cookie)).await {
            (200, who, Some(new)) if who == other => Ok(new),
            seen => Err(format!("{seen:?}")),
        }
    })
    .await;
    assert_ne!(moved, cookie);
    for _ in 0..5 {
        let (status, who, again) = visit(&http, &url, Some(&moved)).await;
        assert_eq!((status, who.as_str(), again), (200, other, None));
    }
}
