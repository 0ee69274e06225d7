//! Hostile request targets and forwarding headers, sent raw: several, invalid or
//! conflicting hosts are refused with 400 (counted, the backend never asked); dot segments
//! are removed before routing and stripping; `Forwarded`, `X-Real-IP` and a `Connection`
//! list from an untrusted client cannot steer what the backend sees.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{self, backend, start, yaml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` (which asks for `Connection: close`) and returns the whole answer.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    let _ = read.expect("berth answered and closed within 10 s");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .get(9..)
        .filter(|_| answer[..9].eq_ignore_ascii_case("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn several_invalid_or_conflicting_hosts_are_refused() {
    let a = backend("ht-a").await;
    let server = start(&yaml(&format!(
        "  hosts: {{ listener: web, backends: [\"{}\"] }}\n",
        a.addr
    )));
    let web = server.listener("web").expect("web");
    let admin = format!("http://{}", server.admin);
    let cases = [
        (
            "several_hosts",
            "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n",
        ),
        ("invalid_host", "GET / HTTP/1.1\r\nHost: a@evil.com\r\n"),
        ("invalid_host", "GET / HTTP/1.1\r\nHost: evil.com/x?\r\n"),
        (
            "host_mismatch",
            "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n",
        ),
    ];
    for (reason, head) in cases {
        let answer = exchange(web, &format!("{head}Connection: close\r\n\r\n")).await;
        assert_eq!(status(&answer), 400, "{head:?} → {answer}");
        assert!(
            !answer.contains("evil.com"),
            "the body echoes nothing: {answer}"
        );
        let series = format!("berth_bad_requests_total{{listener=\"web\",reason=\"{reason}\"}}");
        assert!(common::metric(&admin, &series).await >= 1, "{series}");
    }
    assert_eq!(a.hits(), 0, "no refused request reached the backend");
    let fine = exchange(
        web,
        "GET / HTTP/1.1\r\nHost: a.test:80\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&fine.await), 200);
}

#[tokio::test]
async fn dot_segments_cannot_climb_out_of_a_stripped_prefix() {
    let (public, root) = (backend("ht-public").await, backend("ht-root").await);
    let server = start(&yaml(&format!(
        "  dots-public: {{ listener: web, path: /public, strip_prefix: true, backends: [\"{}\"] }}\n\
         \x20 dots-root: {{ listener: web, path: /, backends: [\"{}\"] }}\n",
        public.addr, root.addr
    )));
    let web = server.listener("web").expect("web");
    let cases = [
        ("/public/../secret", "ht-root", "/secret"),
        ("/public/%2e%2E/secret", "ht-root", "/secret"),
        ("/public/a/./b/../c?q=/../x", "ht-public", "/a/c"),
        ("/public/a%2F..%2Fb", "ht-public", "/a%2F..%2Fb"),
    ];
    for (path, backend, seen) in cases {
        let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let answer = exchange(web, &request).await.to_ascii_lowercase();
        assert_eq!(status(&answer), 200, "{path}: {answer}");
        assert!(
            answer.contains(&format!("x-backend: {backend}\r\n")),
            "{path}: {answer}"
        );
        assert!(
            answer.contains(&format!("x-path: {}\r\n", seen.to_ascii_lowercase())),
            "{path} reached the backend as something else: {answer}"
        );
    }
}

#[tokio::test]
async fn an_untrusted_client_cannot_steer_forwarding_headers() {
    let a = backend("ht-headers").await;
    let server = start(&yaml(&format!(
        "  trust: {{ listener: web, backends: [\"{}\"] }}\n",
        a.addr
    )));
    let web = server.listener("web").expect("web");
    let request = "GET /headers HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer t\r\n\
                   Forwarded: for=1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\n\
                   Connection: Host, Authorization, close\r\n\r\n";
    let answer = exchange(web, request).await.to_ascii_lowercase();
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(answer.contains("host: api.test\n"), "host kept: {answer}");
    assert!(answer.contains("authorization: bearer t\n"), "{answer}");
    assert!(answer.contains("x-real-ip: 127.0.0.1\n"), "{answer}");
    assert!(
        !answer.contains("1.2.3.4"),
        "the client's claims are gone: {answer}"
    );
}
