//! `tcp` listeners: L4 services with static backends, driven by real TCP clients.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common;
use crate::wait::{wait_for, wait_until};

/// A port nothing listens on.
async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

fn config(services: &str, idle: &str) -> String {
    format!(
        "listeners:\n  pg: {{ address: \"127.0.0.1:0\", protocol: tcp }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\n\
         defaults: {{ slow_start: 0s, drain: 1s, timeouts: {{ tcp_idle: {idle} }} }}\n\
         workers: 1\n\
         services:\n{services}"
    )
}

/// Connects through `pg` and reads the backend's name line.
async fn connect(server: &berth::server::Server) -> (TcpStream, String) {
    try_connect(server).await.expect("name line")
}

/// [`connect`], or `None` when berth closes the connection before a name arrives (no
/// routable endpoint at that instant, as in the middle of a reload).
async fn try_connect(server: &berth::server::Server) -> Option<(TcpStream, String)> {
    let mut s = TcpStream::connect(server.listener("pg").expect("pg"))
        .await
        .expect("connect");
    let mut name = Vec::new();
    loop {
        let b = s.read_u8().await.ok()?;
        if b == b'\n' {
            break;
        }
        name.push(b);
    }
    Some((s, String::from_utf8(name).expect("utf-8")))
}

/// A fast 64-bit hash of a byte stream fed in chunks (FNV-1a over 8-byte words).
#[derive(Default)]
struct Hash {
    h: u64,
    tail: Vec<u8>,
}

impl Hash {
    fn feed(&mut self, mut data: &[u8]) {
        if !self.tail.is_empty() {
            let need = (8 - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..need]);
            data = &data[need..];
            if self.tail.len() == 8 {
                let word = u64::from_le_bytes(self.tail[..].try_into().expect("8 bytes"));
                self.word(word);
                self.tail.clear();
            }
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        self.tail.extend_from_slice(words.remainder());
    }
    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(0x100_0000_01b3).rotate_left(5);
    }
    fn finish(mut self) -> u64 {
        let tail = std::mem::take(&mut self.tail);
        for b in tail {
            self.word(u64::from(b));
        }
        self.h
    }
}

/// Pseudo-random bytes (xorshift), `len` of them, in `chunk`-sized pieces.
fn fill(state: &mut u64, buf: &mut [u8]) {
    for w in buf.chunks_exact_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        w.copy_from_slice(&state.to_le_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gigabyte_echo_is_intact_by_hash() {
    // It saturates both cores: no test that measures time runs meanwhile.
    let _cpu = common::exclusive().await;
    const TOTAL: u64 = 1 << 30;
    let backend = common::echo("e").await;
    let server = common::start(&config(
        &format!("  bulk: {{ listener: pg, backends: [\"{backend}\"] }}\n"),
        "90s",
    ));
    let (stream, name) = connect(&server).await;
    assert_eq!(name, "e");
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn(async move {
        let mut hash = Hash::default();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            fill(&mut state, &mut buf);
            hash.feed(&buf);
            w.write_all(&buf).await.expect("send");
            sent += buf.len() as u64;
        }
        w.shutdown().await.expect("half-close");
        hash.finish()
    });
    let mut hash = Hash::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    let started = Instant::now();
    loop {
        let n = r.read(&mut buf).await.expect("receive");
        if n == 0 {
            break;
        }
        hash.feed(&buf[..n]);
        received += n as u64;
    }
    let sent_hash = writer.await.expect("writer");
    eprintln!("1 GiB echoed in {:?}", started.elapsed());
    assert_eq!(received, TOTAL);
    assert_eq!(hash.finish(), sent_hash, "bytes changed on the way");
    let admin = format!("http://{}", server.admin);
    let up = common::metric(
        &admin,
        "berth_tcp_bytes_total{service=\"bulk\",direction=\"upstream\"}",
    )
    .await;
    assert_eq!(up, TOTAL);
    server.shutdown();
}

#[tokio::test]
async fn half_close_reaches_the_backend_and_its_answer_comes_back() {
    // A backend that answers only after the client has finished sending.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.expect("read to EOF");
        s.write_all(format!("got {}", all.len()).as_bytes())
            .await
            .expect("answer");
    });
    let server = common::start(&config(
        &format!("  sum: {{ listener: pg, backends: [\"{backend}\"] }}\n"),
        "90s",
    ));
    let mut s = TcpStream::connect(server.listener("pg").expect("pg"))
        .await
        .expect("connect");
    s.write_all(&[7u8; 100_000]).await.expect("send");
    s.shutdown().await.expect("half-close");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    assert_eq!(answer, "got 100000");
    server.shutdown();
}

#[tokio::test]
async fn connections_are_balanced_and_a_dead_backend_is_skipped() {
    let a = common::echo("a").await;
    let b = common::echo("b").await;
    let dead = dead_port().await;
    let server = common::start(&config(
        &format!(
            "  two: {{ listener: pg, balance: round_robin, retries: 2,\n         backends: [\"{a}\", \"{b}\", \"{dead}\"] }}\n"
        ),
        "90s",
    ));
    let mut names = Vec::new();
    let mut held = Vec::new();
    for _ in 0..20 {
        let (s, name) = connect(&server).await;
        names.push(name);
        held.push(s);
    }
    let count = |n: &str| names.iter().filter(|x| *x == n).count();
    assert_eq!(count("a") + count("b"), 20, "{names:?}");
    assert!(
        count("a") >= 8 && count("b") >= 8,
        "round robin over two live backends: {names:?}"
    );
    let admin = format!("http://{}", server.admin);
    let errors = common::metric(
        &admin,
        "berth_upstream_connect_errors_total{service=\"two\"}",
    )
    .await;
    assert!(errors >= 1, "the dead backend was tried and counted");
    server.shutdown();
}

/// Open connections per endpoint address, from `/api/services`.
async fn in_flight(server: &berth::server::Server, service: &str) -> Vec<(String, u64)> {
    let admin = format!("http://{}", server.admin);
    common::endpoints(&admin, service)
        .await
        .iter()
        .map(|e| {
            let addr = e["address"].as_str().expect("address").to_owned();
            (addr, e["in_flight"].as_u64().expect("in_flight"))
        })
        .collect()
}

/// Waits until the open connections of `service` sum to `total`.
async fn wait_in_flight(server: &berth::server::Server, service: &str, total: u64) {
    let what = format!("{total} connections of {service} in flight");
    wait_for(Duration::from_secs(10), &what, || async {
        let now = in_flight(server, service).await;
        if now.iter().map(|(_, n)| n).sum::<u64>() == total {
            Ok(())
        } else {
            Err(format!("in flight: {now:?}, want {total}"))
        }
    })
    .await;
}

#[tokio::test]
async fn least_request_counts_open_connections_and_closed_ones_are_released() {
    let a = common::echo("a").await;
    let b = common::echo("b").await;
    let server = common::start(&config(
        &format!(
            "  lr: {{ listener: pg, balance: least_request, backends: [\"{a}\", \"{b}\"] }}\n"
        ),
        "90s",
    ));
    // Each new connection goes to the endpoint with fewer open: six held split 3/3.
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(connect(&server).await);
    }
    let on_a = held.iter().filter(|(_, n)| n == "a").count();
    assert_eq!(on_a, 3, "open connections split evenly");
    wait_in_flight(&server, "lr", 6).await;
    // Close a's three: their slots are released, and the next two go to a (0 and 1 open
    // against b's 3), where round robin would alternate.
    held.retain(|(_, n)| n != "a");
    wait_in_flight(&server, "lr", 3).await;
    let next: Vec<String> = vec![connect(&server).await.1, connect(&server).await.1];
    assert_eq!(next, ["a", "a"]);
    server.shutdown();
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let _cpu = common::timed().await;
    let backend = common::echo("e").await;
    let server = common::start(&config(
        &format!("  echo: {{ listener: pg, backends: [\"{backend}\"] }}\n"),
        "1s",
    ));
    let (mut s, _) = connect(&server).await;
    // Traffic keeps it open past the timeout.
    for _ in 0..6 {
        // A real sleep: the client idles 300 ms between bytes, under the 1 s timeout.
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.write_all(b"x").await.expect("send");
        assert_eq!(s.read_u8().await.expect("echo"), b'x');
    }
    let quiet = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("clean close");
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    let admin = format!("http://{}", server.admin);
    let series =
        "berth_tcp_connections_total{listener=\"pg\",service=\"echo\",result=\"idle_timeout\"}";
    assert_eq!(common::metric(&admin, series).await, 1);
    server.shutdown();
}

#[tokio::test]
async fn no_endpoint_closes_the_connection_with_a_metric() {
    let dead = dead_port().await;
    let server = common::start(&config(
        &format!("  gone: {{ listener: pg, retries: 1, backends: [\"{dead}\"] }}\n"),
        "90s",
    ));
    let mut s = TcpStream::connect(server.listener("pg").expect("pg"))
        .await
        .expect("connect");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "closed in time");
    assert!(rest.is_empty());
    let admin = format!("http://{}", server.admin);
    let series =
        "berth_tcp_connections_total{listener=\"pg\",service=\"gone\",result=\"unavailable\"}";
    assert_eq!(common::metric(&admin, series).await, 1);
    server.shutdown();
}

#[tokio::test]
async fn a_removed_backend_keeps_its_connections_for_the_drain_grace() {
    let _cpu = common::timed().await;
    let a = common::echo("a").await;
    let b = common::echo("b").await;
    let services = |addr: SocketAddr| {
        format!("  svc: {{ listener: pg, drain: 2s, backends: [\"{addr}\"] }}\n")
    };
    let path = common::temp_config("tcp-drain", &config(&services(a), "90s"));
    let config = berth::config::load(&path).expect("valid");
    let server = berth::server::Server::start(config, Some(path.clone())).expect("starts");
    let (mut old, name) = connect(&server).await;
    assert_eq!(name, "a");
    // New connections reach b once the reload is applied. The config watcher starts on the
    // control plane's thread after `start` returns, so the file is written until the reload
    // is seen (rewriting it unchanged reloads nothing).
    wait_until(Duration::from_secs(10), "the reload to apply", || async {
        common::replace_file(&path, &config_text_with(&services(b)));
        try_connect(&server)
            .await
            .is_some_and(|(_, name)| name == "b")
    })
    .await;
    let removed = Instant::now();
    // The old connection still works inside the grace...
    old.write_all(b"y").await.expect("send");
    assert_eq!(old.read_u8().await.expect("echo"), b'y');
    // ...and is closed once it is over.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), old.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("clean close");
    let after = removed.elapsed();
    assert!(
        after < Duration::from_secs(3),
        "closed {after:?} after removal"
    );
    let admin = format!("http://{}", server.admin);
    let series = "berth_tcp_connections_total{listener=\"pg\",service=\"svc\",result=\"drained\"}";
    assert_eq!(common::metric(&admin, series).await, 1);
    server.shutdown();
}

fn config_text_with(services: &str) -> String {
    config(services, "90s")
}

#[tokio::test]
async fn an_upstream_reset_reaches_the_client_as_a_reset() {
    // A backend that answers one byte, then aborts the connection (RST).
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend = listener.local_addr().expect("addr");
    // The client has its byte: the reset may come.
    let (got_it, byte_read) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.write_all(b"x").await.expect("write");
        let _ = byte_read.await;
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    });
    let server = common::start(&config(
        &format!("  rst: {{ listener: pg, backends: [\"{backend}\"] }}\n"),
        "90s",
    ));
    let mut s = TcpStream::connect(server.listener("pg").expect("pg"))
        .await
        .expect("connect");
    assert_eq!(s.read_u8().await.expect("first byte"), b'x');
    let _ = got_it.send(());
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("ends in time");
    let kind = end.expect_err("a reset, not a clean end").kind();
    assert_eq!(kind, std::io::ErrorKind::ConnectionReset);
    let admin = format!("http://{}", server.admin);
    let series = "berth_tcp_connections_total{listener=\"pg\",service=\"rst\",result=\"reset\"}";
    assert_eq!(common::metric(&admin, series).await, 1);
    server.shutdown();
}
