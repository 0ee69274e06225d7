//! Retries end to end: an idempotent request without a body whose connection fails before a
//! response is sent again (to another endpoint when there is one); a request with a body or a
//! non-idempotent one is not; the retry budget caps how many retries a service makes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{self, backend, client, start};

/// How a raw test upstream treats the requests of one connection.
#[derive(Clone, Copy)]
enum Mode {
    /// Reads the request head, then closes without answering.
    Drop,
    /// Answers the first request of a connection (keep-alive), drops at the second.
    FirstThenDrop,
}

/// A raw TCP upstream; returns its address and the number of request heads it read.
async fn raw_upstream(mode: Mode) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let heads = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, mode, Arc::clone(&counted)));
        }
    });
    (addr, heads)
}

async fn serve(mut stream: TcpStream, mode: Mode, heads: Arc<AtomicUsize>) {
    for n in 0.. {
        if !read_head(&mut stream).await {
            return;
        }
        heads.fetch_add(1, Ordering::Relaxed);
        if matches!(mode, Mode::Drop) || n > 0 {
            return;
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-backend: raw\r\n\r\nfirst";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Reads up to the end of a request head; false at EOF or error.
async fn read_head(stream: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A berth config with service `name` (unique per test: metrics are process-wide).
fn config(name: &str, backends: &str, extra: &str) -> String {
    format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\", protocol: http }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\n\
         workers: 1\n\
         defaults: {{ outlier: {{ consecutive_failures: 0 }} {extra} }}\n\
         services:\n  {name}: {{ balance: round_robin, retries: 2, backends: [{backends}] }}\n"
    )
}

/// `berth_retries_total{service=NAME}`.
async fn retries_total(admin: &str, name: &str) -> u64 {
    common::metric(admin, &format!("berth_retries_total{{service=\"{name}\"}}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_request_is_retried_on_another_endpoint() {
    let (dropper, dropped) = raw_upstream(Mode::Drop).await;
    let good = backend("good").await;
    let server = start(&config("retried", &format!("{dropper}, {}", good.addr), ""));
    let (url, admin) = (common::base(&server), format!("http://{}", server.admin));
    let http = client();
    for _ in 0..10 {
        let r = http
            .get(format!("{url}/headers"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        let echoed = r.text().await.expect("body");
        // A replayed request is rewritten like the original.
        assert!(echoed.contains("x-forwarded-for: 127.0.0.1"), "{echoed}");
        assert!(echoed.contains("host: 127.0.0.1:"), "{echoed}");
    }
    let dropped = dropped.load(Ordering::Relaxed);
    assert!(
        dropped >= 4,
        "round robin sent {dropped} requests to the dropper"
    );
    assert_eq!(retries_total(&admin, "retried").await, dropped as u64);
    assert_eq!(good.hits(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_a_body_or_not_idempotent_are_not_replayed() {
    let (dropper, dropped) = raw_upstream(Mode::Drop).await;
    let good = backend("good").await;
    let server = start(&config("bodies", &format!("{dropper}, {}", good.addr), ""));
    let url = common::base(&server);
    let http = client();
    let mut failed = 0;
    for i in 0..10 {
        let req = match i % 2 {
            0 => http.post(format!("{url}/x")),
            _ => http.put(format!("{url}/x")).body("a body"),
        };
        let status = req.send().await.expect("send").status().as_u16();
        assert!(status == 200 || status == 502, "{status}");
        failed += usize::from(status == 502);
    }
    assert_eq!(failed, dropped.load(Ordering::Relaxed));
    assert!(failed >= 4, "{failed}");
    assert_eq!(good.hits(), 10 - failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_budget_caps_retries() {
    let (a, a_heads) = raw_upstream(Mode::Drop).await;
    let (b, b_heads) = raw_upstream(Mode::Drop).await;
    let budget = ", retry_budget: { percent: 0, min_retries: 3, window: 60s }";
    let server = start(&config("budget", &format!("{a}, {b}"), budget));
    let (url, admin) = (common::base(&server), format!("http://{}", server.admin));
    let http = client();
    for _ in 0..10 {
        let r = http.get(format!("{url}/x")).send().await.expect("get");
        assert_eq!(r.status(), 502);
    }
    assert_eq!(retries_total(&admin, "budget").await, 3);
    let heads = a_heads.load(Ordering::Relaxed) + b_heads.load(Ordering::Relaxed);
    assert_eq!(
        heads,
        10 + 3,
        "10 requests and the 3 retries the budget allows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_closed_as_the_request_goes_out_is_replayed() {
    let (upstream, heads) = raw_upstream(Mode::FirstThenDrop).await;
    let server = start(&config("replayed", &upstream.to_string(), ""));
    let url = common::base(&server);
    let http = client();
    for _ in 0..10 {
        let r = http.get(format!("{url}/x")).send().await.expect("get");
        assert_eq!(
            r.status(),
            200,
            "replayed on a new connection to the same endpoint"
        );
        assert_eq!(r.text().await.expect("body"), "first");
    }
    assert_eq!(
        heads.load(Ordering::Relaxed),
        19,
        "each request after the first reached a closing keep-alive connection, then a new one"
    );
}
