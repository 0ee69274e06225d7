//! PROXY protocol: berth sends v1/v2 to L4 backends that ask, and accepts it on listeners
//! with `proxy_protocol: true` from `trusted_ips` peers only.

use std::net::SocketAddr;
use std::time::Duration;

use berth::model::ProxyVersion;
use berth::proxy::proxy_protocol::read_header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::common;

/// A backend that reports the first `n` bytes of each connection, then echoes the rest.
async fn recorder(n: usize) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = vec![0; n];
                if s.read_exact(&mut head).await.is_ok() {
                    let _ = tx.send(head);
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
    (addr, rx)
}

/// A backend that parses a PROXY header with berth's reader, reports it, then echoes.
async fn parser() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<berth::proxy::proxy_protocol::Header>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(h) = read_header(&mut s).await {
                    let _ = tx.send(h);
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
    (addr, rx)
}

fn config(listener: &str, services: &str) -> String {
    format!(
        "listeners:\n  t: {listener}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\n\
         defaults: {{ slow_start: 0s, drain: 1s, timeouts: {{ header_read: 500ms }} }}\n\
         workers: 1\n\
         services:\n{services}"
    )
}

const TCP: &str = "{ address: \"127.0.0.1:0\", protocol: tcp }";

async fn echo_roundtrip(s: &mut TcpStream) {
    s.write_all(b"ping").await.expect("send");
    let mut back = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(&back, b"ping");
}

#[tokio::test]
async fn v1_is_sent_with_the_client_and_listener_addresses() {
    let (backend, mut heads) = parser().await;
    let server = common::start(&config(
        TCP,
        &format!("  s: {{ listener: t, proxy_protocol: v1, backends: [\"{backend}\"] }}\n"),
    ));
    let listener = server.listener("t").expect("t");
    let mut s = TcpStream::connect(listener).await.expect("connect");
    let client = s.local_addr().expect("client addr");
    echo_roundtrip(&mut s).await;
    let h = heads.recv().await.expect("header");
    assert_eq!(h.version, ProxyVersion::V1);
    assert_eq!(h.source, Some(client));
    assert_eq!(h.destination, Some(listener));
    server.shutdown();
}

#[tokio::test]
async fn v2_is_sent_byte_exact() {
    let (backend, mut heads) = recorder(28).await;
    let server = common::start(&config(
        TCP,
        &format!("  s: {{ listener: t, proxy_protocol: v2, backends: [\"{backend}\"] }}\n"),
    ));
    let listener = server.listener("t").expect("t");
    let mut s = TcpStream::connect(listener).await.expect("connect");
    let client = s.local_addr().expect("client addr");
    echo_roundtrip(&mut s).await;
    let head = heads.recv().await.expect("header");
    let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    want.extend_from_slice(&[0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 1]);
    want.extend_from_slice(&client.port().to_be_bytes());
    want.extend_from_slice(&listener.port().to_be_bytes());
    assert_eq!(head, want);
    server.shutdown();
}

#[tokio::test]
async fn an_accepted_header_is_the_client_berth_passes_on() {
    let (backend, mut heads) = recorder(46).await;
    let listener = "{ address: \"127.0.0.1:0\", protocol: tcp, proxy_protocol: true, \
                    trusted_ips: [127.0.0.0/8] }";
    let server = common::start(&config(
        listener,
        &format!("  s: {{ listener: t, proxy_protocol: v1, backends: [\"{backend}\"] }}\n"),
    ));
    let mut s = TcpStream::connect(server.listener("t").expect("t"))
        .await
        .expect("connect");
    s.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.7 40000 5432\r\n")
        .await
        .expect("header");
    echo_roundtrip(&mut s).await;
    let head = heads.recv().await.expect("header");
    assert_eq!(
        String::from_utf8_lossy(&head),
        "PROXY TCP4 192.0.2.1 198.51.100.7 40000 5432\r\n"
    );
    server.shutdown();
}

#[tokio::test]
async fn http_listeners_take_the_client_address_from_the_header() {
    let backend = common::backend("h").await;
    let listener = "{ address: \"127.0.0.1:0\", protocol: http, proxy_protocol: true, \
                    trusted_ips: [127.0.0.1/32] }";
    let server = common::start(&config(
        listener,
        &format!("  s: {{ listener: t, backends: [\"{}\"] }}\n", backend.addr),
    ));
    let mut s = TcpStream::connect(server.listener("t").expect("t"))
        .await
        .expect("connect");
    // v2 from 203.0.113.9:1234 to 10.0.0.1:80, then a request.
    let mut head = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    head.extend_from_slice(&[
        0x21, 0x11, 0, 12, 203, 0, 113, 9, 10, 0, 0, 1, 4, 210, 0, 80,
    ]);
    s.write_all(&head).await.expect("header");
    s.write_all(b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("x-forwarded-for: 203.0.113.9\n"),
        "the header's client is the one forwarded: {answer}"
    );
    server.shutdown();
}

#[tokio::test]
async fn untrusted_peers_and_bad_headers_are_closed_with_a_metric() {
    let (backend, _heads) = recorder(1).await;
    let services = format!("  s: {{ listener: t, backends: [\"{backend}\"] }}\n");
    let untrusted = common::start(&config(
        "{ address: \"127.0.0.1:0\", protocol: tcp, proxy_protocol: true, \
           trusted_ips: [10.0.0.0/8] }",
        &services,
    ));
    closed(
        untrusted.listener("t").expect("t"),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    )
    .await;
    let admin = format!("http://{}", untrusted.admin);
    let series = "berth_proxy_protocol_errors_total{listener=\"t\",reason=\"untrusted\"}";
    assert_eq!(common::metric(&admin, series).await, 1);
    untrusted.shutdown();

    let strict = common::start(&config(
        "{ address: \"127.0.0.1:0\", protocol: tcp, proxy_protocol: true, \
           trusted_ips: [127.0.0.0/8] }",
        &services,
    ));
    let addr = strict.listener("t").expect("t");
    closed(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    closed(addr, b"PROXY TCP4 1.2").await; // then silence: cut at header_read
    let admin = format!("http://{}", strict.admin);
    for reason in ["not_proxy", "timeout"] {
        let series =
            format!("berth_proxy_protocol_errors_total{{listener=\"t\",reason=\"{reason}\"}}");
        assert_eq!(common::metric(&admin, &series).await, 1, "{reason}");
    }
    strict.shutdown();
}

/// Sends `bytes` to `addr`; berth closes the connection without a byte back.
async fn closed(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "closed in time");
    assert!(rest.is_empty());
}
