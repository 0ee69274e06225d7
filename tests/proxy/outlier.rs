//! Passive outlier detection end to end: in-process backends switched to answer 500 are
//! ejected after `consecutive_failures` requests, come back when the ejection is over, are
//! ejected again for longer if still failing, and never more than `max_ejected_percent` of a
//! service is ejected at once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, backend, client, start, yaml};
use crate::wait::wait_until;

/// `n` sequential requests to `url`: (status, body) of each.
async fn send(http: &reqwest::Client, url: &str, n: usize) -> Vec<(u16, String)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = http.get(url).send().await.expect("request");
        let status = r.status().as_u16();
        out.push((status, r.text().await.expect("body")));
    }
    out
}

fn config(services: &str, outlier: &str) -> String {
    format!(
        "{}defaults: {{ outlier: {{ {outlier} }} }}\n",
        yaml(services)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backend_is_ejected_returns_and_is_ejected_for_longer() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let (a, b, c) = (backend("a").await, backend("b").await, backend("c").await);
    c.set_status(500);
    let text = config(
        &format!(
            "  s: {{ listener: web, balance: round_robin, backends: [\"{}\", \"{}\", \"{}\"] }}\n",
            a.addr, b.addr, c.addr
        ),
        "consecutive_failures: 3, base_ejection: 1s, max_ejection: 4s, max_ejected_percent: 50",
    );
    let server = start(&text);
    let url = format!("http://{}/", server.listener("web").expect("web"));
    let admin = format!("http://{}", server.admin);
    let http = client();

    // Round robin: c gets every third request until its third 500 ejects it.
    let got = send(&http, &url, 30).await;
    let failed = got.iter().filter(|(s, _)| *s == 500).count();
    assert_eq!(failed, 3, "{got:?}");
    assert_eq!(c.hits(), 3);
    assert!(got[10..].iter().all(|(s, _)| *s == 200), "{got:?}");

    let eps = common::endpoints(&admin, "s").await;
    let ejected: Vec<&Value> = eps.iter().filter(|e| e["state"] == "excluded").collect();
    assert_eq!(ejected.len(), 1, "{eps:?}");
    assert_eq!(ejected[0]["address"], c.addr.to_string());
    assert_eq!(ejected[0]["reason"], "ejected: 3 consecutive failures");
    assert!(ejected[0]["ejection"]["until_unix_ms"].as_u64().is_some());
    assert_eq!(
        common::metric(&admin, "berth_ejections_total{service=\"s\"}").await,
        1
    );

    // Back after 1 s (plus a sweep); still failing: ejected again after 3 more, for 2 s. The
    // second ejection must come within a base_ejection of the return (else the count decays
    // first): 1 s leaves room for a loaded machine.
    let c_addr = c.addr.to_string();
    wait_until(Duration::from_secs(5), "c to return", || async {
        let eps = common::endpoints(&admin, "s").await;
        eps.iter()
            .any(|e| e["address"] == c_addr.as_str() && e["state"] == "routable")
    })
    .await;
    // Taken before the requests: the ejection happens during them, so its 2 s run from a
    // later moment and the return can come no sooner than 2 s after this one.
    let ejected_again = Instant::now();
    let got = send(&http, &url, 30).await;
    assert_eq!(c.hits(), 6, "{got:?}");
    // A real sleep: that c stays out for this long is what is tested.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&http, &url, 12).await;
    assert_eq!(c.hits(), 6, "still ejected 1.1 s into a 2 s ejection");

    // Recovered: it returns after the longer ejection and stays.
    c.set_status(0);
    wait_until(Duration::from_secs(5), "c to return again", || async {
        if c.hits() != 6 {
            return true;
        }
        send(&http, &url, 3).await;
        false
    })
    .await;
    assert!(
        ejected_again.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        ejected_again.elapsed()
    );
    let got = send(&http, &url, 30).await;
    assert!(got.iter().all(|(s, _)| *s == 200), "{got:?}");
    assert!(got.iter().any(|(_, body)| body == "c"), "{got:?}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_half_of_a_service_is_ejected() {
    let (a, b) = (backend("a").await, backend("b").await);
    a.set_status(500);
    b.set_status(500);
    let text = config(
        &format!(
            "  pair: {{ listener: web, balance: round_robin, backends: [\"{}\", \"{}\"] }}\n",
            a.addr, b.addr
        ),
        "consecutive_failures: 2, base_ejection: 10s",
    );
    let server = start(&text);
    let url = format!("http://{}/", server.listener("web").expect("web"));
    let admin = format!("http://{}", server.admin);
    let http = client();

    let got = send(&http, &url, 20).await;
    // The last endpoint keeps answering (500s pass through), never a 503.
    assert!(got.iter().all(|(s, _)| *s == 500), "{got:?}");
    let eps = common::endpoints(&admin, "pair").await;
    let ejected = eps.iter().filter(|e| e["state"] == "excluded").count();
    assert_eq!(ejected, 1, "{eps:?}");
    assert_eq!(a.hits() + b.hits(), 20);
    assert_eq!(a.hits().min(b.hits()), 2, "one ejected after 2 failures");
    server.shutdown();
}
