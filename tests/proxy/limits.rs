//! Circuit breaking end to end: an endpoint never serves more than `limits.max_in_flight`
//! requests at once; when all are full, up to `max_pending` requests wait for a slot (at most
//! the connect timeout) and the rest get a 503 naming the reason, counted by
//! `berth_circuit_open_total`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::common::{self, client, start};

/// A backend that answers every request after `delay`, recording the most requests it ever
/// served at once.
async fn slow_backend(delay: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::clone(&peak);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
            let svc = service_fn(move |_req| {
                let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
                async move {
                    let serving = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(serving, Ordering::SeqCst);
                    // A real sleep: a backend slower than the limits' waits is what is tested.
                    tokio::time::sleep(delay).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"done"))))
                }
            });
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// Service `name` (unique per test: metrics are process-wide) with `limits`; the connect
/// timeout is also how long a request may wait for a slot.
fn config(name: &str, backend: SocketAddr, limits: &str, connect: &str) -> String {
    format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\", protocol: http }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\n\
         workers: 2\n\
         defaults: {{ timeouts: {{ connect: {connect} }} }}\n\
         services:\n  {name}: {{ limits: {limits}, backends: [\"{backend}\"] }}\n"
    )
}

/// Sends `n` requests at once; their (status, body).
async fn burst(url: &str, n: usize) -> Vec<(u16, String)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let r = client().get(url).send().await.expect("request");
                let status = r.status().as_u16();
                (status, r.text().await.expect("body"))
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out.sort();
    out
}

async fn circuit_open(admin: &str, name: &str, reason: &str) -> u64 {
    let series = format!("berth_circuit_open_total{{service=\"{name}\",reason=\"{reason}\"}}");
    common::metric(admin, &series).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_max_pending_is_refused_at_once() {
    let (backend, peak) = slow_backend(Duration::from_millis(600)).await;
    let limits = "{ max_in_flight: 2, max_pending: 1 }";
    let server = start(&config("pend", backend, limits, "5s"));
    let admin = format!("http://{}", server.admin);
    let got = burst(&common::base(&server), 4).await;
    let refused = (
        503,
        "service pend is over its limits (max_pending)\n".to_owned(),
    );
    let done = (200, "done".to_owned());
    assert_eq!(got, vec![done.clone(), done.clone(), done, refused]);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "never more than max_in_flight"
    );
    assert_eq!(circuit_open(&admin, "pend", "max_pending").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_ends_at_the_queue_timeout() {
    let (backend, peak) = slow_backend(Duration::from_millis(1500)).await;
    let limits = "{ max_in_flight: 1, max_pending: 5 }";
    let server = start(&config("queued", backend, limits, "300ms"));
    let admin = format!("http://{}", server.admin);
    let got = burst(&common::base(&server), 3).await;
    let timed_out = (
        503,
        "service queued is over its limits (queue_timeout)\n".to_owned(),
    );
    assert_eq!(
        got,
        vec![(200, "done".to_owned()), timed_out.clone(), timed_out]
    );
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    assert_eq!(circuit_open(&admin, "queued", "queue_timeout").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_limits_nothing_waits() {
    let (backend, peak) = slow_backend(Duration::from_millis(200)).await;
    let server = start(&config("free", backend, "{}", "2s"));
    let got = burst(&common::base(&server), 6).await;
    assert!(got.iter().all(|(s, _)| *s == 200), "{got:?}");
    assert_eq!(peak.load(Ordering::SeqCst), 6);
}
