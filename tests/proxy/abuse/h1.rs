//! HTTP/1.1 attacks over raw sockets: request smuggling variants, oversized request heads,
//! a slowloris of many connections trickling a head, and a connection flood up to the
//! listener's `max_connections`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::{under_attack, Berth, Setup, TIMEOUT};
use crate::common::{self, backend};
use crate::wait::wait_until;

/// A request that must never be answered: if it were, berth would have parsed the bytes
/// before it differently from its client's intent (`x-path: /smuggled` in the answer).
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

/// Sends `bytes` on a new connection and reads until berth closes it (`None`: it did not
/// within 10 s). A reset counts as a close: what was read before it is returned.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&answer).to_ascii_lowercase())
}

/// The status of each response in `answer`.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("http/1.1 ")
        .filter_map(|(i, _)| answer.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// Requests whose framing is ambiguous: each `(name, head and body, expected status)`. 400:
/// refused before a backend is asked. 200: read as chunked (RFC 9112 §6.3), then the
/// connection closed, so what follows cannot be read as a request.
const AMBIGUOUS: &[(&str, &str, u16)] = &[
    ("cl then te", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200),
    ("te then cl", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n", 200),
    ("two content-lengths", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("a content-length list", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\nabcd", 400),
    ("signed content-length", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: +4\r\n\r\nabcd", 400),
    ("chunked, identity", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("two transfer-encodings", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400),
    ("xchunked", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("space before the colon", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs-fold transfer-encoding", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs-fold header", "GET /a HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("chunked on HTTP/1.0", "POST /a HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
];

/// Chunked bodies with bad chunk sizes: the head is good (the backend is asked), the body
/// is the client's fault: 400 and a close, counted in `berth_client_body_errors_total`.
const BAD_CHUNKS: &[(&str, &str)] = &[
    ("negative chunk size", "-1\r\n\r\n"),
    ("chunk size past u64", "fffffffffffffffff1\r\nabc\r\n"),
    ("chunk line ended by a bare LF", "3\nabc\r\n0\r\n\r\n"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_variants_are_refused_or_read_as_chunked_and_closed() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-smuggle").await;
    let setup = Setup {
        tag: "smuggle",
        ..Setup::default()
    };
    let berth = Berth::start(setup, a.addr).await;
    let errors = "berth_connections_closed_total{reason=\"error\"}";
    let body_errors = "berth_client_body_errors_total{service=\"smuggle\",reason=\"invalid\"}";
    let attack = async {
        for (name, request, expected) in AMBIGUOUS {
            let hits = a.hits();
            let answer = exchange(berth.web, format!("{request}{SMUGGLED}").as_bytes()).await;
            let answer = answer.unwrap_or_else(|| panic!("{name}: berth kept the connection open"));
            assert_eq!(
                statuses(&answer),
                vec![*expected],
                "{name}: one answer: {answer}"
            );
            assert!(!answer.contains("x-path: /smuggled"), "{name}: {answer}");
            let asked = usize::from(*expected == 200);
            assert_eq!(
                a.hits(),
                hits + asked,
                "{name}: the backend was asked {} times",
                a.hits() - hits
            );
        }
        for (name, body) in BAD_CHUNKS {
            let head = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
            let answer = exchange(berth.web, format!("{head}{body}{SMUGGLED}").as_bytes()).await;
            let answer = answer.unwrap_or_else(|| panic!("{name}: berth kept the connection open"));
            assert_eq!(statuses(&answer), vec![400], "{name}: {answer}");
        }
    };
    under_attack(&berth, "smuggling", attack).await;
    let refused = AMBIGUOUS.iter().filter(|(_, _, s)| *s == 400).count() as u64;
    assert_eq!(
        berth.metric(errors).await,
        refused,
        "each refused head is counted"
    );
    assert_eq!(berth.metric(body_errors).await, BAD_CHUNKS.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_431_or_a_close_and_memory_stays_bounded() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-heads").await;
    let setup = Setup {
        tag: "heads",
        ..Setup::default()
    };
    let berth = Berth::start(setup, a.addr).await;
    let big_value = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let many: String = (0..200).map(|i| format!("X-{i}: a\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(70_000));
    // 64 clients at once, each sending a 1 MiB head: berth reads 64 KiB of each at most.
    let flood = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}",
        "a".repeat(1 << 20)
    );
    let mut heads = vec![big_value, many, long_uri];
    heads.extend(std::iter::repeat(flood).take(64));
    let attack = async {
        let tasks = heads
            .iter()
            .map(|head| exchange(berth.web, head.as_bytes()));
        futures_util::future::join_all(tasks).await
    };
    let answers = under_attack(&berth, "oversized heads", attack).await;
    let mut answered = 0;
    for answer in &answers {
        let answer = answer.as_deref().expect("berth closed each oversized head");
        // A close with unread bytes may reach the client as a reset before the 431.
        match statuses(answer).as_slice() {
            [431] => answered += 1,
            [] => {}
            other => panic!("{other:?}: {answer}"),
        }
    }
    println!(
        "oversized heads: {answered} of {} saw the 431 before the close",
        answers.len()
    );
    let errors = "berth_connections_closed_total{reason=\"error\"}";
    assert_eq!(berth.metric(errors).await, heads.len() as u64);
    assert_eq!(a.hits(), 0, "no oversized head reached the backend");
}

/// Opens a connection and trickles a request head that never ends, a byte every 100 ms;
/// true once berth closes it, false if it is still open at `deadline`.
async fn trickle_head(addr: SocketAddr, deadline: Instant) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    if s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ")
        .await
        .is_err()
    {
        return true;
    }
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        tokio::select! {
            read = s.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { return true },
            // The trickle under test: each byte is progress, none finishes the head.
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if s.write_all(b"a").await.is_err() {
                    return true;
                }
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h1_slowloris_of_many_connections_is_cut_at_header_read() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-loris").await;
    let top = "defaults: { timeouts: { header_read: 1s } }\n";
    let setup = Setup {
        tag: "loris",
        top,
        ..Setup::default()
    };
    let berth = Berth::start(setup, a.addr).await;
    const CONNECTIONS: usize = 300;
    let attack = async {
        let deadline = Instant::now() + TIMEOUT;
        let tasks = (0..CONNECTIONS).map(|_| trickle_head(berth.web, deadline));
        futures_util::future::join_all(tasks).await
    };
    let closed = under_attack(&berth, "h1 slowloris", attack).await;
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(
        open, 0,
        "{open} trickling connections were still open after {TIMEOUT:?}"
    );
    let series = "berth_connections_closed_total{reason=\"header_timeout\"}";
    assert_eq!(berth.metric(series).await, CONNECTIONS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_is_refused_past_max_connections_and_held_ones_are_served() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-flood").await;
    const MAX: usize = 64;
    const FLOOD: usize = 400;
    let listener = ", max_connections: 64";
    let setup = Setup {
        tag: "flood",
        listener,
        ..Setup::default()
    };
    let berth = Berth::start(setup, a.addr).await;
    let fds_before = berth.fds();
    let series =
        "berth_connections_refused_total{listener=\"web\",reason=\"listener_max_connections\"}";
    let attack = async {
        let mut held = Vec::new();
        for _ in 0..FLOOD {
            if let Ok(s) = TcpStream::connect(berth.web).await {
                held.push(s);
            }
        }
        // The side client holds one of the MAX slots.
        let refused = (FLOOD - (MAX - 1)) as u64;
        wait_until(TIMEOUT, "the flood's refusals to be counted", || async {
            berth.metric(series).await >= refused
        })
        .await;
        held
    };
    let held = under_attack(&berth, "connection flood", attack).await;
    assert_eq!(berth.metric(series).await, (FLOOD - (MAX - 1)) as u64);
    println!(
        "connection flood: berth fds {fds_before} before, {} with the flood held",
        berth.fds()
    );
    drop(held);
    let web = berth.web;
    wait_until(
        TIMEOUT,
        "a new connection to be served after the flood",
        || async {
            common::client()
                .get(format!("http://{web}/"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
}
