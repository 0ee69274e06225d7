//! `tls-passthrough` listeners: routing by the ClientHello's SNI to backends that terminate
//! TLS themselves (`openssl s_server`), with real clients (`openssl s_client`, `curl`), and
//! every kind of bad first bytes closed within `header_read` with a metric.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::tls_common::{self, curl, metric, s_client, Pki, SServer};

struct Setup {
    pki: Pki,
    server: berth::server::Server,
    _backends: (SServer, SServer),
}

impl Setup {
    fn new(tag: &str) -> Self {
        Self::with_listener(tag, "")
    }

    /// With `extra` flow-mapping entries on the listener (`, proxy_protocol: true, ...`).
    fn with_listener(tag: &str, extra: &str) -> Self {
        let pki = Pki::new(tag);
        let (a_cert, a_key) = pki.issue("a", &["a.example.com"]);
        let (b_cert, b_key) = pki.issue("b", &["*.b.example.com"]);
        let (a, b) = (
            SServer::start(&a_cert, &a_key),
            SServer::start(&b_cert, &b_key),
        );
        let yaml = format!(
            "listeners:\n  tp: {{ address: \"127.0.0.1:0\", protocol: tls-passthrough{extra} }}\n\
             admin: {{ address: \"127.0.0.1:0\" }}\n\
             docker: {{ enabled: false }}\n\
             defaults: {{ drain: 1s, timeouts: {{ header_read: 500ms }} }}\n\
             workers: 1\n\
             services:\n  \
             a: {{ listener: tp, hosts: [a.example.com], backends: [\"127.0.0.1:{}\"] }}\n  \
             b: {{ listener: tp, hosts: [\"*.b.example.com\"], backends: [\"127.0.0.1:{}\"] }}\n",
            a.port, b.port
        );
        let server = common::start(&yaml);
        Self {
            pki,
            server,
            _backends: (a, b),
        }
    }

    fn port(&self) -> u16 {
        self.server.listener("tp").expect("tp").port()
    }

    async fn metrics(&self) -> String {
        common::client()
            .get(format!("http://{}/metrics", self.server.admin))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Sends `bytes` one every 100 ms (a slowloris that never stops trickling), and how
    /// long until berth closed the connection.
    async fn closed_while_dripping(&self, bytes: &[u8], proxy_header: &[u8]) -> Duration {
        let mut s = TcpStream::connect(("127.0.0.1", self.port()))
            .await
            .expect("connect");
        let start = Instant::now();
        for b in proxy_header.iter().chain(bytes) {
            if s.write_all(&[*b]).await.is_err() {
                return start.elapsed();
            }
            let mut buf = [0u8; 16];
            match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return start.elapsed(),
                Ok(Ok(_)) => panic!("nothing is answered to a half-sent hello"),
                Err(_) => {}
            }
        }
        panic!("still open after the whole hello was dripped");
    }

    /// Sends `bytes` (then shuts the write half when `close`), and how long until berth
    /// closed the connection.
    async fn closed_after(&self, bytes: &[u8], close: bool) -> Duration {
        let mut s = TcpStream::connect(("127.0.0.1", self.port()))
            .await
            .expect("connect");
        let start = Instant::now();
        s.write_all(bytes).await.expect("send");
        if close {
            s.shutdown().await.expect("half-close");
        }
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "berth closes the connection");
        assert!(rest.is_empty(), "nothing is answered to bad input");
        start.elapsed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_routes_to_the_backend_whose_own_certificate_the_client_sees() {
    let t = Setup::new("passthrough-route");
    let port = t.port();
    let ca = t.pki.ca.clone();
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            s_client(port, Some("a.example.com"), &ca, &[]),
            s_client(port, Some("x.b.example.com"), &ca, &[]),
        )
    })
    .await
    .expect("s_client");
    assert!(a.verified, "{}", a.output);
    assert!(a.subject.contains("a.example.com"), "{}", a.subject);
    assert!(b.verified, "{}", b.output);
    assert!(b.subject.contains("b.example.com"), "{}", b.subject);

    // A whole HTTPS exchange, end to end with the backend.
    let resolve = format!("a.example.com:{port}:127.0.0.1");
    let url = format!("https://a.example.com:{port}/");
    let ca = tls_common::path_str(&t.pki.ca);
    let (ok, body, err) =
        tokio::task::spawn_blocking(move || curl(&["--resolve", &resolve, "--cacert", &ca, &url]))
            .await
            .expect("curl");
    assert!(ok, "{err}");
    assert!(body.contains("s_server"), "the backend's own page: {body}");
    let text = t.metrics().await;
    let routed = |s| metric(&text, "berth_tcp_connections_total", &[("service", s)]);
    assert!(routed("a") >= 2.0 && routed("b") >= 1.0, "{text}");
    t.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_missing_sni_is_closed_with_a_reason() {
    let t = Setup::new("passthrough-unknown");
    let port = t.port();
    let ca = t.pki.ca.clone();
    let (unknown, none) = tokio::task::spawn_blocking(move || {
        (
            s_client(port, Some("c.example.com"), &ca, &[]),
            s_client(port, None, &ca, &[]),
        )
    })
    .await
    .expect("s_client");
    // berth closes before a byte of TLS comes back.
    for hs in [&unknown, &none] {
        assert!(hs.cert.is_empty(), "{}", hs.output);
        assert!(hs.output.contains("has read 0 bytes"), "{}", hs.output);
    }
    let text = t.metrics().await;
    let no_route = metric(
        &text,
        "berth_tcp_connections_total",
        &[("listener", "tp"), ("result", "no_route")],
    );
    assert_eq!(no_route, 1.0, "{text}");
    let no_sni = metric(
        &text,
        "berth_tls_handshake_errors_total",
        &[("listener", "tp"), ("reason", "no_sni")],
    );
    assert_eq!(no_sni, 1.0, "{text}");
    t.server.shutdown();
}

/// A ClientHello naming `name` in its SNI extension (no other extension), in one record.
fn client_hello(name: &[u8]) -> Vec<u8> {
    let mut sni = Vec::new();
    let entry_len = 3 + name.len();
    sni.extend_from_slice(&u16::try_from(entry_len).expect("len").to_be_bytes());
    sni.push(0); // host_name
    sni.extend_from_slice(&u16::try_from(name.len()).expect("len").to_be_bytes());
    sni.extend_from_slice(name);
    let mut ext = vec![0, 0]; // server_name
    ext.extend_from_slice(&u16::try_from(sni.len()).expect("len").to_be_bytes());
    ext.extend_from_slice(&sni);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&u16::try_from(ext.len()).expect("len").to_be_bytes());
    body.extend_from_slice(&ext);
    let mut handshake = vec![1];
    handshake.extend_from_slice(&u32::try_from(body.len()).expect("len").to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&u16::try_from(handshake.len()).expect("len").to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_first_bytes_are_closed_within_header_read_with_a_metric() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let t = Setup::new("passthrough-hostile");
    let limit = Duration::from_millis(1500);
    // Garbage instead of a ClientHello: closed at once.
    let took = t
        .closed_after(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)
        .await;
    assert!(took < limit, "garbage: {took:?}");
    // A 10 KB server name.
    let huge = vec![b'a'; 10 * 1024];
    let took = t.closed_after(&client_hello(&huge), false).await;
    assert!(took < limit, "10 KB SNI: {took:?}");
    // A truncated handshake: half a hello, then the client's EOF.
    let hello = client_hello(b"a.example.com");
    let took = t.closed_after(&hello[..hello.len() / 2], true).await;
    assert!(took < limit, "truncated: {took:?}");
    // Slowloris: a byte every 100 ms; cut at header_read (500 ms) however it trickles.
    let took = t.closed_while_dripping(&hello, b"").await;
    assert!(
        took >= Duration::from_millis(400) && took < limit,
        "slowloris: {took:?}"
    );
    let text = t.metrics().await;
    for reason in ["not_tls", "bad_name", "closed", "timeout"] {
        let n = metric(
            &text,
            "berth_tls_handshake_errors_total",
            &[("listener", "tp"), ("reason", reason)],
        );
        assert_eq!(n, 1.0, "{reason}: {text}");
    }
    t.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_then_a_client_hello_share_one_header_read() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let t = Setup::with_listener(
        "passthrough-proxy",
        ", proxy_protocol: true, trusted_ips: [127.0.0.0/8]",
    );
    let header = b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 443\r\n";
    // Header and hello at once: routed by the SNI; the backend's ServerHello comes back.
    let mut s = TcpStream::connect(("127.0.0.1", t.port()))
        .await
        .expect("connect");
    s.write_all(header).await.expect("header");
    s.write_all(&client_hello(b"a.example.com"))
        .await
        .expect("hello");
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut first)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the backend answers the forwarded hello"
    );
    // This minimal hello offers no key share, so s_server answers with an alert record:
    // still TLS from the backend, which only the forwarded hello could get.
    assert!(
        matches!(first[0], 0x15 | 0x16),
        "a TLS record from the backend, got {}",
        first[0]
    );
    // Dripped, the header and the hello together get one header_read (500 ms), not two.
    let took = t
        .closed_while_dripping(&client_hello(b"a.example.com"), header)
        .await;
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(900),
        "one deadline for both: {took:?}"
    );
    t.server.shutdown();
}
