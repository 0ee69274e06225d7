//! Clients that hold connections without sending requests: a new HTTP/1 connection that sends
//! nothing is closed after `header_read` (not `idle`), and an HTTP/2 connection that trickles
//! a HEADERS frame it never finishes is closed however many bytes it sends: a frame left
//! incomplete for `header_read` closes it, even with a long request in flight beside it.

use std::time::{Duration, Instant};

use crate::common::{self, backend, start, yaml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(addr: std::net::SocketAddr, idle: &str) -> String {
    format!(
        "{}defaults: {{ timeouts: {{ header_read: 500ms, idle: {idle} }} }}\n",
        yaml(&format!(
            "  slow-clients: {{ listener: web, backends: [\"{addr}\"] }}\n"
        ))
    )
}

/// Reads until the peer closes (or resets) the connection; `false` if it is still open at
/// `deadline`.
async fn closed_by(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_http1_connection_gets_header_read_not_idle() {
    let _cpu = common::timed().await;
    let a = backend("a").await;
    let server = start(&config(a.addr, "60s"));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let series = "berth_connections_closed_total{reason=\"header_timeout\"}";
    let before = common::metric(&admin, series).await;
    let mut s = TcpStream::connect(web).await.expect("connect");
    // Nothing is sent: `idle` (60 s) must not be what closes it.
    let deadline = Instant::now() + Duration::from_secs(20);
    assert!(
        closed_by(&mut s, deadline).await,
        "a connection that sent nothing was still open after 20 s (header_read 500ms)"
    );
    // Counted (other tests of this binary may count more at the same time).
    assert!(common::metric(&admin, series).await > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_http2_headers_frame_does_not_hold_the_connection() {
    let _cpu = common::timed().await;
    let a = backend("a").await;
    let server = start(&config(a.addr, "1s"));
    let web = server.listener("web").expect("web");
    let mut s = TcpStream::connect(web).await.expect("connect");
    // The preface and an empty SETTINGS frame, then a HEADERS frame header announcing 100
    // bytes of stream 1, of which one byte is sent at a time and never the rest.
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    opening.extend_from_slice(&[0, 0, 100, 0x1, 0x4, 0, 0, 0, 1]);
    s.write_all(&opening).await.expect("preface");
    // One byte every 200 ms, each resetting a byte-based idle timer.
    let closed = trickled_until_closed(&mut s, Duration::from_secs(20)).await;
    assert!(
        closed,
        "a trickled HEADERS frame held the connection for 20 s (idle 1s)"
    );
}

/// Sends one byte of an unfinished HEADERS frame every 200 ms (the trickle under test) until
/// berth closes the connection or `within` has passed; whether it was closed.
async fn trickled_until_closed(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.write_all(&[0x82]).await.is_err() {
            return true;
        }
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            if matches!(read, Ok(0) | Err(_)) {
                return true;
            }
        }
    }
    false
}

/// A HEADERS frame (END_STREAM, END_HEADERS) of stream `id`: `GET path`, hand-encoded HPACK
/// (indexed `:method GET` and `:scheme http`, literal `:path` and `:authority`).
fn get_headers(id: u8, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 1, b's']);
    let mut frame = vec![0, 0, block.len() as u8, 0x1, 0x5, 0, 0, 0, id];
    frame.extend(block);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_http2_frame_beside_a_long_request_is_closed_after_header_read() {
    let _cpu = common::timed().await;
    let a = backend("a").await;
    // `idle` (60 s) must not be what closes it; the long request is in flight for 30 s.
    let server = start(&config(a.addr, "60s"));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let series = "berth_connections_closed_total{reason=\"header_timeout\"}";
    let before = common::metric(&admin, series).await;
    let mut s = TcpStream::connect(web).await.expect("connect");
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    opening.extend(get_headers(1, "/slow?ms=30000"));
    // Stream 3: a HEADERS frame header announcing 100 bytes, then one byte at a time.
    opening.extend_from_slice(&[0, 0, 100, 0x1, 0x4, 0, 0, 0, 3]);
    s.write_all(&opening).await.expect("opening");
    let closed = trickled_until_closed(&mut s, Duration::from_secs(15)).await;
    assert!(
        closed,
        "a trickled HEADERS frame beside a request in flight held the connection for 15 s \
         (header_read 500ms)"
    );
    // The long request was in flight (its HEADERS well formed), not refused.
    assert_eq!(a.hits(), 1, "the long request never reached the backend");
    assert!(common::metric(&admin, series).await > before);
}
