//! Hot reload of the config file under continuous load: no failed request, bad edits refused.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, backend, client, replace_file, temp_config, yaml};

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_apply_under_load_without_a_failed_request() {
    // Its load keeps the CPU busy: no test that measures time runs meanwhile.
    let _cpu = common::exclusive().await;
    let (a, b) = (backend("a").await, backend("b").await);
    let service = |list: &str| {
        yaml(&format!(
            "  s: {{ listener: web, balance: round_robin, backends: [{list}] }}\n"
        ))
    };
    let path = temp_config("reload", &service(&format!("\"{}\"", a.addr)));
    let config = berth::config::load(&path).expect("valid config");
    let server = berth::server::Server::start(config, Some(path.clone())).expect("start");
    let url = format!("http://{}/slow?ms=5", server.listener("web").expect("web"));

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
        load.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::Relaxed) {
                let passed = match http.get(&url).send().await {
                    Ok(r) => r.status() == 200 && r.text().await.is_ok(),
                    Err(_) => false,
                };
                let counter = if passed { &ok } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    wait_until("traffic on a", || a.hits() > 50).await;
    replace_file(&path, &service(&format!("\"{}\", \"{}\"", a.addr, b.addr)));
    wait_until("b added", || b.hits() > 50).await;

    // An invalid edit is refused; both backends keep serving.
    replace_file(
        &path,
        &service(&format!("{{ address: \"{}\", weight: 0 }}", a.addr)),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (a_before, b_before) = (a.hits(), b.hits());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        a.hits() > a_before && b.hits() > b_before,
        "last good config still serves both"
    );

    // Removing a drains it: its in-flight requests finish, new ones go to b only.
    replace_file(&path, &service(&format!("\"{}\"", b.addr)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let a_after = a.hits();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.hits(), a_after, "a no longer picked");

    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load task");
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "ok: {}",
        ok.load(Ordering::Relaxed)
    );
    assert!(ok.load(Ordering::Relaxed) > 200);

    let admin = format!("http://{}", server.admin);
    let errors = common::metric(&admin, "berth_config_reloads_total{result=\"error\"}").await;
    assert!(errors >= 1, "the invalid edit was counted");
    server.shutdown();
    let _ = std::fs::remove_dir_all(path.parent().expect("temp dir"));
}
