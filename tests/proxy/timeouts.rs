//! Client-side timeouts: a slow request head is cut at `header_read`, an idle keep-alive
//! connection lives until `idle` (not `header_read`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, backend, yaml};

fn config(backend: std::net::SocketAddr) -> String {
    yaml(&format!(
        "  s: {{ listener: web, backends: [\"{backend}\"] }}\n"
    ))
    .replace(
        "workers: 1",
        "workers: 1\ndefaults: { timeouts: { header_read: 400ms, idle: 1600ms } }",
    )
}

/// Seconds until the peer closes `stream` (reads until EOF or error).
fn seconds_until_closed(mut stream: TcpStream) -> f64 {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed().as_secs_f64(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_head_is_cut_and_idle_keep_alive_lives_until_idle() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let b = backend("b").await;
    let server = common::start(&config(b.addr));
    let web = server.listener("web").expect("web");

    let slow = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(web).expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHo").expect("partial head");
        seconds_until_closed(s)
    });
    let idle = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(web).expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("request");
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).expect("response");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        seconds_until_closed(s)
    });
    let slow = slow.await.expect("slow client");
    let idle = idle.await.expect("idle client");
    assert!(
        slow < 1.2,
        "slow head closed after {slow:.2}s, header_read is 0.4s"
    );
    assert!(
        (1.5..3.5).contains(&idle),
        "idle connection closed after {idle:.2}s, idle is 1.6s"
    );
    server.shutdown();
}
