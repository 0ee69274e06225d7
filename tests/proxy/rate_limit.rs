//! Rate limits end to end: a client over its limit gets 429 with `Retry-After` while a
//! client from another address keeps getting 200s; over 10 s the rate that passes matches
//! `average`; `by: header:NAME` gives each key its own bucket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;

/// The limit under test: 20 requests a second, bursts of 5.
const AVERAGE: f64 = 20.0;
const BURST: usize = 5;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_over_its_limit_gets_429_and_others_are_served_at_the_average() {
    let _timed = common::timed().await;
    let backend = common::backend("limited").await;
    let yaml = common::yaml(&format!(
        "  limited:\n    hosts: [limited.test]\n    \
         rate_limit: {{ average: 20, period: 1s, burst: {BURST} }}\n    backends: [\"{}\"]\n  \
         keyed:\n    hosts: [keyed.test]\n    \
         rate_limit: {{ average: 1, period: 1m, burst: 1, by: \"header:X-Api-Key\" }}\n    \
         backends: [\"{}\"]\n",
        backend.addr, backend.addr
    ));
    let server = common::start(&yaml);
    let url = format!("{}/", common::base(&server));

    // Client A floods from 127.0.0.1 with four loops; client B asks from 127.0.0.2 twice a
    // second and must never be refused.
    let passed = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let window = Duration::from_secs(10);
    let started = Instant::now();
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (url, passed, refused) = (url.clone(), passed.clone(), refused.clone());
            tokio::spawn(async move {
                let http = common::client_from("127.0.0.1");
                while started.elapsed() < window {
                    let r = http.get(&url).header("host", "limited.test").send().await;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(200) => passed.fetch_add(1, Ordering::Relaxed),
                        Ok(429) => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected answer {other:?}"),
                    };
                }
            })
        })
        .collect();
    let other = common::client_from("127.0.0.2");
    while started.elapsed() < window {
        let r = other
            .get(&url)
            .header("host", "limited.test")
            .send()
            .await
            .expect("B's request");
        assert_eq!(r.status(), 200, "another client keeps its own bucket");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for f in flood {
        f.await.expect("flood task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let passed = passed.load(Ordering::Relaxed) as f64;
    let expected = AVERAGE * elapsed + BURST as f64;
    assert!(
        (passed - expected).abs() <= expected * 0.10,
        "{passed} passed in {elapsed:.1} s, expected {expected:.0} ± 10 %"
    );
    assert!(
        refused.load(Ordering::Relaxed) > 100,
        "the flood was refused"
    );

    let http = common::client_from("127.0.0.1");
    let r = http
        .get(&url)
        .header("host", "limited.test")
        .send()
        .await
        .expect("request");
    if r.status() == 429 {
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(retry >= 1, "{retry}");
        assert_eq!(r.text().await.expect("body"), "too many requests\n");
    }

    let keyed = |key: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .get(url)
                .header("host", "keyed.test")
                .header("x-api-key", key);
            r.send().await.expect("request").status().as_u16()
        }
    };
    assert_eq!(keyed("k1").await, 200);
    assert_eq!(keyed("k1").await, 429);
    assert_eq!(keyed("k2").await, 200, "each key its own bucket");
    let admin = format!("http://{}", server.admin);
    let denied = common::metric(
        &admin,
        "berth_policy_denied_total{service=\"keyed\",policy=\"rate_limit\",reason=\"rate\"}",
    )
    .await;
    assert_eq!(denied, 1);
    let doc = common::service(&admin, "keyed").await;
    assert_eq!(
        doc["policies"]["rate_limit"], "1 per 60s (burst 1) by header:x-api-key",
        "{doc}"
    );
}
