//! Active health checks end to end: in-process backends whose `/health` status is switched.
//! A failing backend leaves the rotation after `fall` checks and returns after `rise`; its
//! state survives a config reload; when every backend fails, panic mode keeps serving.

use std::time::{Duration, Instant};

use crate::common::{self, backend, client, replace_file, temp_config, yaml};
use crate::wait::wait_until;

/// The bodies (backend names, or `status NNN`) of `n` requests to `url`.
async fn answers(http: &reqwest::Client, url: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = http.get(url).send().await.expect("request");
        let status = r.status();
        let body = r.text().await.expect("body");
        out.push(if status == 200 {
            body
        } else {
            format!("status {status}")
        });
    }
    out
}

async fn wait_for(http: &reqwest::Client, url: &str, what: &str, ok: impl Fn(&[String]) -> bool) {
    crate::wait::wait_for(Duration::from_secs(10), what, || async {
        let got = answers(http, url, 10).await;
        if ok(&got) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

fn only(name: &'static str) -> impl Fn(&[String]) -> bool {
    move |got| got.iter().all(|g| g == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backend_leaves_returns_survives_reload_and_panic_mode_serves() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let (a, b, c) = (backend("a").await, backend("b").await, backend("c").await);
    let text = |other_path: &str| {
        yaml(&format!(
            "  s: {{ listener: web, balance: round_robin, backends: [\"{}\", \"{}\"],\n      \
             health: {{ path: /health, interval: 100ms, rise: 2, fall: 2 }} }}\n  \
             other: {{ listener: web, path: {other_path}, backends: [\"{}\"] }}\n",
            a.addr, b.addr, c.addr
        ))
    };
    let path = temp_config("health", &text("/other"));
    let config = berth::config::load(&path).expect("valid config");
    let server = berth::server::Server::start(config, Some(path.clone())).expect("start");
    let web = format!("http://{}", server.listener("web").expect("web"));
    let url = format!("{web}/");
    let http = client();

    wait_for(&http, &url, "both backends", |got| {
        got.iter().any(|g| g == "a") && got.iter().any(|g| g == "b")
    })
    .await;

    // b fails its check: out after `fall` checks.
    b.set_health(500);
    let failed_at = Instant::now();
    wait_for(&http, &url, "b to leave", only("a")).await;
    assert!(
        failed_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        failed_at.elapsed()
    );

    // Reload with an unrelated change: b stays out, no flap.
    replace_file(&path, &text("/elsewhere"));
    wait_for(&http, &format!("{web}/elsewhere"), "the reload", only("c")).await;
    let after = answers(&http, &url, 40).await;
    assert!(
        after.iter().all(|g| g == "a"),
        "b flapped up after reload: {after:?}"
    );

    // a fails too: panic mode routes to both rather than 503.
    a.set_health(503);
    let admin = format!("http://{}", server.admin);
    wait_until(Duration::from_secs(10), "panic mode in s", || async {
        common::service(&admin, "s").await["panic_mode"] == true
    })
    .await;
    let panic = answers(&http, &url, 40).await;
    assert!(
        panic.iter().all(|g| g == "a" || g == "b"),
        "panic mode must keep serving: {panic:?}"
    );

    // b recovers: back after `rise` checks, panic over, a still out.
    b.set_health(200);
    wait_for(&http, &url, "b to return", only("b")).await;
    a.set_health(200);
    wait_for(&http, &url, "a to return", |got| {
        got.iter().any(|g| g == "a")
    })
    .await;
    server.shutdown();
}
