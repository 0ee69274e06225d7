//! HTTP/2 attacks with frames written by hand (cleartext h2 with prior knowledge): a
//! slowloris of trickled HEADERS frames, rapid reset (CVE-2023-44487), and SETTINGS and PING
//! floods (CVE-2019-9515, CVE-2019-9512).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::{under_attack, Berth, Setup, TIMEOUT};
use crate::common::{self, backend};

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ENHANCE_YOUR_CALM: u32 = 0xb;
const CANCEL: u32 = 0x8;

/// One frame: 9-byte header (24-bit length, type, flags, stream id), then `payload`.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small payload");
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A connection past the client preface and an empty SETTINGS frame.
async fn opened(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(frame(SETTINGS, 0, 0, &[]));
    s.write_all(&opening).await.expect("preface");
    s
}

/// `GET http://h/` in HPACK: `:method GET`, `:scheme http`, `:path /` from the static
/// table, `:authority h` as a literal with indexed name.
const GET_ROOT: &[u8] = &[0x82, 0x86, 0x84, 0x41, 0x01, b'h'];

/// What berth sent on `s` until it closed it (or `deadline`): the error code of each
/// GOAWAY, and whether it closed.
struct Ending {
    goaways: Vec<u32>,
    closed: bool,
}

/// Reads frames from `s` until it closes or `deadline`.
async fn read_until_closed(s: &mut tokio::net::tcp::OwnedReadHalf, deadline: Instant) -> Ending {
    let (mut data, mut goaways) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    let closed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
        }
        // Parse the whole frames received so far, keep the rest.
        let mut at = 0;
        while data.len() >= at + 9 {
            let len = u32::from_be_bytes([0, data[at], data[at + 1], data[at + 2]]) as usize;
            if data.len() < at + 9 + len {
                break;
            }
            if data[at + 3] == GOAWAY && len >= 8 {
                let code = &data[at + 13..at + 17];
                goaways.push(u32::from_be_bytes([code[0], code[1], code[2], code[3]]));
            }
            at += 9 + len;
        }
        data.drain(..at);
    };
    Ending { goaways, closed }
}

/// Writes `batch` over and over on a new connection while reading what berth answers,
/// until berth closes it or `deadline`.
async fn flood(addr: SocketAddr, batch: Vec<u8>, deadline: Instant) -> Ending {
    let (mut read, mut write) = opened(addr).await.into_split();
    let writer = tokio::spawn(async move {
        while Instant::now() < deadline && write.write_all(&batch).await.is_ok() {}
    });
    let ending = read_until_closed(&mut read, deadline).await;
    writer.abort();
    ending
}

fn config(tag: &str) -> Setup<'_> {
    let top = "defaults: { timeouts: { idle: 1s, header_read: 1s } }\n";
    Setup {
        tag,
        top,
        ..Setup::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_gets_a_goaway_enhance_your_calm() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-reset").await;
    let berth = Berth::start(config("reset"), a.addr).await;
    const CONNECTIONS: usize = 10;
    const STREAMS: u32 = 2000;
    let mut batch = Vec::new();
    for i in 0..STREAMS {
        let id = 2 * i + 1;
        batch.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, GET_ROOT));
        batch.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    let attack = async {
        let deadline = Instant::now() + TIMEOUT;
        let each = (0..CONNECTIONS).map(|_| async {
            let (mut read, mut write) = opened(berth.web).await.into_split();
            let _ = write.write_all(&batch).await;
            read_until_closed(&mut read, deadline).await
        });
        futures_util::future::join_all(each).await
    };
    let endings = under_attack(&berth, "h2 rapid reset", attack).await;
    for e in &endings {
        assert!(e.closed, "a rapid-reset connection was still open");
        assert_eq!(e.goaways, vec![ENHANCE_YOUR_CALM], "GOAWAY codes");
    }
    let errors = "berth_connections_closed_total{reason=\"error\"}";
    assert_eq!(berth.metric(errors).await, CONNECTIONS as u64);
    let asked = a.hits();
    println!(
        "h2 rapid reset: the backend saw {asked} of {} streams",
        CONNECTIONS as u32 * STREAMS
    );
    assert!(
        asked < (CONNECTIONS as u32 * STREAMS / 10) as usize,
        "{asked} streams reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_ping_floods_are_closed_at_idle() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-ctrl").await;
    let berth = Berth::start(config("ctrl"), a.addr).await;
    // 1,000 frames a batch: SETTINGS (MAX_CONCURRENT_STREAMS 100) and PING, each answered.
    let settings: Vec<u8> = (0..1000)
        .flat_map(|_| frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]))
        .collect();
    let pings: Vec<u8> = (0..1000)
        .flat_map(|_| frame(PING, 0, 0, b"abuse-01"))
        .collect();
    let attack = async {
        let deadline = Instant::now() + TIMEOUT;
        let floods = [
            flood(berth.web, settings, deadline),
            flood(berth.web, pings, deadline),
        ];
        futures_util::future::join_all(floods).await
    };
    let endings = under_attack(&berth, "h2 SETTINGS and PING floods", attack).await;
    for (what, e) in ["SETTINGS", "PING"].iter().zip(&endings) {
        // No request in flight: the frames do not keep the connection from being idle.
        assert!(
            e.closed,
            "a {what} flood held its connection for {TIMEOUT:?} (idle 1s)"
        );
        assert_eq!(
            e.goaways.first(),
            Some(&0),
            "{what}: a graceful GOAWAY first"
        );
    }
    let idle = "berth_connections_closed_total{reason=\"idle\"}";
    assert_eq!(berth.metric(idle).await, 2);
    assert_eq!(a.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_slowloris_of_many_connections_is_closed() {
    let _cpu = common::exclusive().await;
    let a = backend("abuse-h2loris").await;
    // `idle` longer than the test: only the per-frame `header_read` deadline can close them.
    let setup = Setup {
        top: "defaults: { timeouts: { idle: 60s, header_read: 1s } }\n",
        ..config("h2loris")
    };
    let berth = Berth::start(setup, a.addr).await;
    const CONNECTIONS: usize = 200;
    let attack = async {
        let deadline = Instant::now() + TIMEOUT;
        let each = (0..CONNECTIONS).map(|_| async {
            let (mut read, mut write) = opened(berth.web).await.into_split();
            // A HEADERS frame announcing 100 bytes of stream 1, one byte sent every 200 ms.
            let _ = write
                .write_all(&[0, 0, 100, HEADERS, END_HEADERS, 0, 0, 0, 1])
                .await;
            let trickle = tokio::spawn(async move {
                while write.write_all(&[0x82]).await.is_ok() {
                    // The trickle under test.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            let ending = read_until_closed(&mut read, deadline).await;
            trickle.abort();
            ending.closed
        });
        futures_util::future::join_all(each).await
    };
    let closed = under_attack(&berth, "h2 slowloris", attack).await;
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(
        open, 0,
        "{open} trickling h2 connections were still open after {TIMEOUT:?}"
    );
    let cut = "berth_connections_closed_total{reason=\"header_timeout\"}";
    assert_eq!(berth.metric(cut).await, CONNECTIONS as u64);
}
