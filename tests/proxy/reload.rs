//! Hot reload of the config file under continuous load: no failed request, bad edits refused.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, backend, client, replace_file, temp_config, yaml};
use crate::wait::wait_until;

/// Load loops sending requests back to back.
const LOOPS: usize = 8;
/// The longest any step may take.
const TIMEOUT: Duration = Duration::from_secs(10);

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
    // Requests each loop has finished.
    let done: Arc<[AtomicUsize; LOOPS]> = Arc::default();
    let mut load = Vec::new();
    for i in 0..LOOPS {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
        let done = done.clone();
        load.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::Relaxed) {
                let passed = match http.get(&url).send().await {
                    Ok(r) => r.status() == 200 && r.text().await.is_ok(),
                    Err(_) => false,
                };
                let counter = if passed { &ok } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
                done[i].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    wait_until(TIMEOUT, "traffic on a", || async { a.hits() > 50 }).await;
    replace_file(&path, &service(&format!("\"{}\", \"{}\"", a.addr, b.addr)));
    wait_until(TIMEOUT, "b added", || async { b.hits() > 50 }).await;

    // An invalid edit is refused; both backends keep serving.
    let admin = format!("http://{}", server.admin);
    let refused = || common::metric(&admin, "berth_config_reloads_total{result=\"error\"}");
    let refused_before = refused().await;
    replace_file(
        &path,
        &service(&format!("{{ address: \"{}\", weight: 0 }}", a.addr)),
    );
    wait_until(TIMEOUT, "the invalid edit to be refused", || async {
        refused().await > refused_before
    })
    .await;
    let (a_before, b_before) = (a.hits(), b.hits());
    wait_until(TIMEOUT, "requests on a and b after the refusal", || async {
        a.hits() > a_before && b.hits() > b_before
    })
    .await;
    assert!(
        a.hits() > a_before && b.hits() > b_before,
        "last good config still serves both"
    );

    // Removing a drains it: its in-flight requests finish, new ones go to b only.
    replace_file(&path, &service(&format!("\"{}\"", b.addr)));
    let a_addr = a.addr.to_string();
    wait_until(TIMEOUT, "a to leave the rotation", || async {
        let eps = common::endpoints(&admin, "s").await;
        eps.iter()
            .all(|e| e["address"] != a_addr.as_str() || e["state"] != "routable")
    })
    .await;
    // A request sent before a left may still be on its way to a: each loop's next finished
    // request is the last one that can be.
    let finished: Vec<usize> = done.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    wait_until(TIMEOUT, "each load loop to finish a request", || async {
        done.iter()
            .zip(&finished)
            .all(|(n, before)| n.load(Ordering::Relaxed) > *before)
    })
    .await;
    let a_after = a.hits();
    // While b serves 200 more, a would get as many if it were still picked.
    let b_after = b.hits();
    wait_until(TIMEOUT, "200 requests on b", || async {
        b.hits() >= b_after + 200
    })
    .await;
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

    let errors = common::metric(&admin, "berth_config_reloads_total{result=\"error\"}").await;
    assert!(errors >= 1, "the invalid edit was counted");
    server.shutdown();
    let _ = std::fs::remove_dir_all(path.parent().expect("temp dir"));
}

/// A file truncated to nothing, or cut short before its services, is refused: the services
/// keep answering and the refusal is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_cut_short_file_is_refused() {
    let a = backend("trunc-a").await;
    let text = yaml(&format!(
        "  trunc: {{ listener: web, backends: [\"{}\"] }}\n",
        a.addr
    ));
    let path = temp_config("truncate", &text);
    let config = berth::config::load(&path).expect("valid config");
    let server = berth::server::Server::start(config, Some(path.clone())).expect("start");
    let url = format!("http://{}/", server.listener("web").expect("web"));
    let admin = format!("http://{}", server.admin);
    let refused = || common::metric(&admin, "berth_config_reloads_total{result=\"error\"}");
    let http = client();
    let cut_short = text.split("services:").next().expect("a head").to_owned();
    for (what, written) in [("empty", String::new()), ("cut short", cut_short)] {
        let before = refused().await;
        // Written in place, as `> file` or a crashed writer leaves it.
        std::fs::write(&path, &written).expect("rewrite");
        wait_until(
            TIMEOUT,
            &format!("the {what} file to be refused"),
            || async { refused().await > before },
        )
        .await;
        let status = http.get(&url).send().await.expect("answer").status();
        assert_eq!(
            status, 200,
            "after the {what} file, the last good config serves"
        );
    }
}

/// A file written in two parts, half a second apart, is applied once, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_in_two_steps_is_applied_once_whole() {
    let (a, b) = (backend("two-a").await, backend("two-b").await);
    let service = |name: &str, addr: std::net::SocketAddr| {
        format!("  {name}: {{ listener: web, path: /{name}, backends: [\"{addr}\"] }}\n")
    };
    let path = temp_config("two-steps", &yaml(&service("zero", a.addr)));
    let config = berth::config::load(&path).expect("valid config");
    let server = berth::server::Server::start(config, Some(path.clone())).expect("start");
    let admin = format!("http://{}", server.admin);
    let applied = || common::metric(&admin, "berth_config_reloads_total{result=\"ok\"}");
    let before = applied().await;
    let whole = yaml(&format!(
        "{}{}",
        service("first", a.addr),
        service("second", b.addr)
    ));
    // The first part is a valid config on its own, and a change (every service but the last).
    let cut = whole.len() - service("second", b.addr).len();
    std::fs::write(&path, &whole[..cut]).expect("first part");
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(&whole.as_bytes()[cut..])
            .expect("second part");
    }
    let web = server.listener("web").expect("web");
    let http = client();
    wait_until(TIMEOUT, "the second service to answer", || async {
        let r = http.get(format!("http://{web}/second")).send().await;
        r.is_ok_and(|r| r.status() == 200)
    })
    .await;
    // A second reload would have come within a settle period of the first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(applied().await, before + 1, "one reload, of the whole file");
}
