//! A client's faults are the client's: a malformed chunked body, an aborted upload, a body
//! too slow for the request timeout or slower than `body_min_rate` (HTTP/1.1 and HTTP/2) is
//! answered 400 or 408 (or the connection closed) and is never counted against the
//! endpoint, so no client can eject a healthy backend.

use std::time::Duration;

use crate::common::{self, backend, start, yaml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Service `name` of two backends whose outlier detection ejects after 3 failures in a row,
/// with `timeout` as its request timeout. Each test names its own service: the counters it
/// reads are shared by every test of this binary.
fn config(name: &str, a: &common::Backend, b: &common::Backend, timeout: &str) -> String {
    config_with(name, a, b, timeout, "")
}

/// [`config`] with more `defaults:` fields (`extra`, each followed by a comma).
fn config_with(
    name: &str,
    a: &common::Backend,
    b: &common::Backend,
    timeout: &str,
    extra: &str,
) -> String {
    format!(
        "{}defaults: {{ {extra} outlier: {{ consecutive_failures: 3 }} }}\n",
        yaml(&format!(
            "  {name}: {{ listener: web, balance: round_robin, timeout: {timeout}, backends: [\"{}\", \"{}\"] }}\n",
            a.addr, b.addr
        ))
    )
}

/// Sends `head` and then `body_parts` (each after `pause`) on a new connection, half-closes
/// when `close` is set, and returns the status of the answer (0: closed without one).
async fn raw(
    addr: std::net::SocketAddr,
    head: &str,
    body_parts: &[&str],
    pause: Duration,
    close: bool,
) -> u16 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    for part in body_parts {
        // The pace of the client under test (a real sleep: a slow body is the behaviour).
        tokio::time::sleep(pause).await;
        if s.write_all(part.as_bytes()).await.is_err() {
            break;
        }
    }
    if close {
        let _ = s.shutdown().await;
    }
    let read = tokio::time::timeout(Duration::from_secs(10), head_of_answer(&mut s)).await;
    let answer = read.expect("berth neither answered nor closed within 10 s");
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// What `s` sends until the end of a response head, or until it closes.
async fn head_of_answer(s: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    answer
}

/// Both endpoints routable, nothing ejected, no upstream 5xx counted.
async fn nothing_blamed(admin: &str, name: &str) {
    let eps = common::endpoints(admin, name).await;
    assert!(
        eps.iter().all(|e| e["state"] == "routable"),
        "an endpoint was blamed for a client's fault: {eps:?}"
    );
    assert_eq!(
        common::metric(
            admin,
            &format!("berth_ejections_total{{service=\"{name}\"}}")
        )
        .await,
        0
    );
    for status in ["502", "504"] {
        let text = reqwest::get(format!("{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        let blamed = text.lines().any(|l| {
            l.starts_with("berth_upstream_requests_total")
                && l.contains(&format!("service=\"{name}\""))
                && l.contains(&format!("status=\"{status}\""))
        });
        assert!(!blamed, "an upstream {status} was counted:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunked_bodies_do_not_eject_backends() {
    let (a, b) = (backend("a").await, backend("b").await);
    let server = start(&config("faults-invalid", &a, &b, "10s"));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let head = "POST /upload HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n";
    for _ in 0..12 {
        let status = raw(web, head, &["zz\r\nabc\r\n"], Duration::ZERO, false).await;
        assert!(
            status == 400 || status == 0,
            "a malformed body got {status}, not 400 or a close"
        );
    }
    nothing_blamed(&admin, "faults-invalid").await;
    assert!(
        common::metric(
            &admin,
            "berth_client_body_errors_total{service=\"faults-invalid\",reason=\"invalid\"}"
        )
        .await
            >= 1
    );
    // Still serving both.
    let http = common::client();
    for _ in 0..4 {
        let r = http
            .get(format!("http://{web}/"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
    }
    assert!(a.hits() >= 2 && b.hits() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_uploads_do_not_eject_backends() {
    let (a, b) = (backend("a").await, backend("b").await);
    let server = start(&config("faults-abort", &a, &b, "10s"));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let head = "POST /upload HTTP/1.1\r\nHost: s\r\nContent-Length: 100000\r\n\r\n";
    for _ in 0..12 {
        // Part of the body, then the client goes away.
        raw(web, head, &["abc"], Duration::ZERO, true).await;
    }
    nothing_blamed(&admin, "faults-abort").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_timeout_is_the_clients_408() {
    let _cpu = common::timed().await;
    let (a, b) = (backend("a").await, backend("b").await);
    let server = start(&config("faults-slow", &a, &b, "300ms"));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let head = "POST /upload HTTP/1.1\r\nHost: s\r\nContent-Length: 10\r\n\r\n";
    for _ in 0..4 {
        // The pauses are the slow client under test: 500 ms between bytes outlasts 300 ms.
        let status = raw(web, head, &["a", "b"], Duration::from_millis(500), false).await;
        assert!(
            status == 408 || status == 0,
            "a slow body got {status}, not 408 or a close"
        );
    }
    nothing_blamed(&admin, "faults-slow").await;
    assert!(
        common::metric(
            &admin,
            "berth_client_body_errors_total{service=\"faults-slow\",reason=\"timeout\"}"
        )
        .await
            >= 1
    );
}

/// A minimum rate of 1KB/s after 300ms of waiting, with a 30 s request timeout that is not
/// what answers.
const MIN_RATE: &str = "timeouts: { body_min_rate: 1KB/s, body_grace: 300ms },";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_body_slower_than_body_min_rate_is_the_clients_408() {
    let _cpu = common::timed().await;
    let (a, b) = (backend("a").await, backend("b").await);
    let server = start(&config_with("rate-h1", &a, &b, "30s", MIN_RATE));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let head = "POST /upload HTTP/1.1\r\nHost: s\r\nContent-Length: 100\r\n\r\n";
    for _ in 0..4 {
        // The slow client under test: a byte every 300 ms, far below 1KB/s.
        let parts = ["a"; 12];
        let status = raw(web, head, &parts, Duration::from_millis(300), false).await;
        assert!(
            status == 408 || status == 0,
            "a body below the rate got {status}, not 408 or a close"
        );
    }
    nothing_blamed(&admin, "rate-h1").await;
    let series = "berth_client_body_errors_total{service=\"rate-h1\",reason=\"too_slow\"}";
    assert!(common::metric(&admin, series).await >= 1);
    // A body at a normal pace still goes through.
    let r = common::client()
        .post(format!("http://{web}/upload"))
        .body(vec![7u8; 100_000])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "100000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_body_slower_than_body_min_rate_is_the_clients_408() {
    let _cpu = common::timed().await;
    let (a, b) = (backend("a").await, backend("b").await);
    let server = start(&config_with("rate-h2", &a, &b, "30s", MIN_RATE));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let mut answered = 0;
    for _ in 0..4 {
        // The slow client under test: a byte every 300 ms (3.6 s in all), far below 1KB/s.
        let trickle = futures_util::stream::unfold(0, |n| async move {
            if n == 12 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some((Ok::<_, std::io::Error>(vec![b'a']), n + 1))
        });
        let sent = h2
            .post(format!("http://{web}/upload"))
            .body(reqwest::Body::wrap_stream(trickle))
            .send()
            .await;
        // The 408 comes before the body ends (a reset of the stream would also do).
        if let Ok(r) = sent {
            assert_eq!(r.version(), reqwest::Version::HTTP_2);
            assert_eq!(r.status(), 408, "a body below the rate got {}", r.status());
            answered += 1;
        }
    }
    assert!(answered >= 1, "no slow HTTP/2 body was answered 408");
    nothing_blamed(&admin, "rate-h2").await;
    let series = "berth_client_body_errors_total{service=\"rate-h2\",reason=\"too_slow\"}";
    assert!(common::metric(&admin, series).await >= 1);
    let r = h2
        .post(format!("http://{web}/upload"))
        .body(vec![7u8; 100_000])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "100000");
}
