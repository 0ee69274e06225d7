//! Per-endpoint latency and in-flight series, the build and process metrics, and the latency
//! buckets, read from `/metrics` after real requests.

use std::time::Duration;

use crate::common;
use crate::wait::wait_for;

/// The value of the first sample line starting with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(http: &reqwest::Client, server: &berth::server::Server) -> String {
    http.get(format!("http://{}/metrics", server.admin))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_have_latency_and_in_flight_series() {
    let fast = common::backend("epm-fast").await;
    let slow = common::backend("epm-slow").await;
    let server = common::start(&common::yaml(&format!(
        "  epm:\n    hosts: [epm.test]\n    balance: round_robin\n    backends: [\"{}\", \"{}\"]\n",
        fast.addr, slow.addr
    )));
    let http = common::client();
    let url = format!("{}/", common::base(&server));
    for _ in 0..4 {
        let r = http.get(&url).header("host", "epm.test").send().await;
        assert_eq!(r.expect("request").status(), 200);
    }
    let text = scrape(&http, &server).await;
    for addr in [fast.addr, slow.addr] {
        let count = format!(
            "berth_endpoint_request_duration_seconds_count{{service=\"epm\",endpoint=\"{addr}\"}}"
        );
        assert_eq!(sample(&text, &count), Some(2.0), "{count} in\n{text}");
        // Buckets from 100 µs to 30 s.
        for le in ["0.0001", "30"] {
            let bucket = format!(
                "berth_endpoint_request_duration_seconds_bucket{{service=\"epm\",endpoint=\"{addr}\",le=\"{le}\"}}"
            );
            assert!(sample(&text, &bucket).is_some(), "{bucket} in\n{text}");
        }
    }

    // A request held by the backend shows on its endpoint's in-flight gauge.
    let held = {
        let (http, url) = (http.clone(), format!("{url}slow?ms=3000"));
        tokio::spawn(async move { http.get(&url).header("host", "epm.test").send().await })
    };
    let busy = |text: &str| {
        [fast.addr, slow.addr].iter().any(|addr| {
            let gauge = format!("berth_endpoint_in_flight{{service=\"epm\",endpoint=\"{addr}\"}}");
            sample(text, &gauge) == Some(1.0)
        })
    };
    let waited = wait_for(Duration::from_secs(3), "an endpoint in flight", || async {
        let text = scrape(&http, &server).await;
        match busy(&text) {
            true => Ok(()),
            false => Err(text),
        }
    });
    waited.await;
    assert_eq!(held.await.expect("join").expect("slow").status(), 200);
    let text = scrape(&http, &server).await;
    assert!(!busy(&text), "in flight after the answer:\n{text}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn build_and_process_metrics_are_exported() {
    let server = common::start(&common::yaml("  {}\n"));
    let text = scrape(&common::client(), &server).await;
    let version = format!(
        "berth_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&version), "{version} in\n{text}");
    for name in berth::metrics::PROCESS_METRICS {
        let value = sample(&text, &format!("{name} "));
        assert!(value.is_some_and(|v| v >= 0.0), "{name} in\n{text}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    assert!(sample(&text, "process_resident_memory_bytes ").is_some_and(|v| v > 1e6));
    assert!(sample(&text, "process_open_fds ").is_some_and(|v| v >= 3.0));
    server.shutdown();
}
