//! The passthrough ClientHello peek (`proxy::sni`): berth's own parser against rustls'
//! `Acceptor` fed a copy of the same bytes, on real hellos and on the worst case.
//!
//! Why: issue #15 asks whether the hand-written parser is worth keeping. A passthrough
//! connection costs tens of µs (accept, connect, two sockets, the copy), so a few µs either
//! way decide nothing; what does decide is a hostile client: a hello in 1-byte records
//! dripped a byte per read once cost quadratic time (every read re-walked every record).
//!
//! Cases: `openssl` (openssl s_client 3.0, 321 bytes, one record) and `curl` (curl 7.88,
//! 517 bytes), captured for the fuzz seeds; `fragmented` (curl's hello in 64-byte records);
//! `tiny_records` (a 2,731-byte hello in 1-byte records: 16,386 bytes, the most that fits
//! `MAX_HELLO`), parsed whole (`whole`) and as a connection delivering one byte per read
//! (`drip`). Rows: `ours` (`read_client_hello`), `ours_before` (the read loop before the
//! fix, copied here: a 4 KiB zeroed read buffer and `parse_sni` on everything read, after
//! every read), `acceptor` (one `rustls::server::Acceptor`, `read_tls` + `accept` after every
//! read; it takes a copy, as berth must forward the bytes untouched).
//!
//! Target: `ours` ≤ `acceptor` on real hellos; `drip` linear (a few ms at most).
//! Run: `cargo bench --bench sni` (`-- --quick` for a short run).

use std::hint::black_box;
use std::time::Duration;

use berth::proxy::sni::{parse_sni, read_client_hello, Peek, MAX_HELLO};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::FutureExt;
use rustls::server::Acceptor;

// The fuzz seeds captured from the real clients (fuzz/README.md), as first committed: the
// minimized corpus keeps only mutated copies.
const OPENSSL: &[u8] = include_bytes!("data/sni/openssl_sni");
const CURL: &[u8] = include_bytes!("data/sni/curl_sni");

/// `message` (a handshake message) in records of `size` bytes.
fn records(message: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for fragment in message.chunks(size) {
        out.extend_from_slice(&[0x16, 3, 1]);
        out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
        out.extend_from_slice(fragment);
    }
    out
}

/// A ClientHello message of exactly `len` bytes naming `name`, with the extensions rustls
/// insists on (signature_algorithms) and padding.
fn padded_hello(name: &str, len: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0, 13, 0, 6, 0, 4, 4, 3, 8, 4]); // signature_algorithms
    let entry = 3 + name.len();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&((entry + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(entry as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name.as_bytes());
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    // 4 (handshake header) + body + 2 (extensions length) + 4 (padding header) + padding.
    let padding = len - 4 - body.len() - 2 - ext.len() - 4;
    ext.extend_from_slice(&[0, 21]);
    ext.extend_from_slice(&(padding as u16).to_be_bytes());
    ext.resize(ext.len() + padding, 0);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut message = vec![1, 0];
    message.extend_from_slice(&(body.len() as u16).to_be_bytes());
    message.extend_from_slice(&body);
    assert_eq!(message.len(), len);
    message
}

/// The server name rustls reads from `buf`, fed in reads of `step` bytes to one `Acceptor`.
fn acceptor(buf: &[u8], step: usize) -> Option<String> {
    let mut acceptor = Acceptor::default();
    for chunk in buf.chunks(step) {
        let mut rd = chunk;
        while !rd.is_empty() {
            acceptor.read_tls(&mut rd).ok()?;
        }
        match acceptor.accept() {
            Ok(None) => {}
            Ok(Some(accepted)) => return accepted.client_hello().server_name().map(str::to_owned),
            Err(_) => return None,
        }
    }
    None
}

/// The read loop before the fix (issue #15): every read zeroes up to 4 KiB of buffer, and
/// `parse_sni` walks every record read so far again.
fn before(data: &[u8], step: usize) -> Option<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut r = data;
    loop {
        match parse_sni(&buf) {
            Ok(Peek::Sni(name)) => return Some(name.to_string()),
            Ok(Peek::Incomplete) if buf.len() < MAX_HELLO => {}
            _ => return None,
        }
        let start = buf.len();
        buf.resize(MAX_HELLO.min(start + 4096), 0);
        let n = (buf.len() - start).min(step).min(r.len());
        if n == 0 {
            return None;
        }
        buf[start..start + n].copy_from_slice(&r[..n]);
        r = &r[n..];
        buf.truncate(start + n);
    }
}

/// Serves a byte slice in reads of at most `step` bytes.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl tokio::io::AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        let (head, rest) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = rest;
        std::task::Poll::Ready(Ok(()))
    }
}

fn ours(data: &[u8], step: usize) -> Option<String> {
    let mut buf = Vec::new();
    let mut r = Trickle { data, step };
    // The reader is always ready: the future completes on its first poll.
    let name = read_client_hello(&mut r, &mut buf).now_or_never()?.ok()??;
    Some(name.to_string())
}

fn bench(c: &mut Criterion) {
    let curl_message = &CURL[5..];
    let tiny = records(&padded_hello("tiny.example", MAX_HELLO / 6), 1);
    assert!(tiny.len() <= MAX_HELLO);
    let cases: [(&str, Vec<u8>, usize); 5] = [
        ("openssl", OPENSSL.to_vec(), usize::MAX),
        ("curl", CURL.to_vec(), usize::MAX),
        ("fragmented", records(curl_message, 64), usize::MAX),
        ("tiny_records_whole", tiny.clone(), usize::MAX),
        ("tiny_records_drip", tiny, 1),
    ];
    for (case, bytes, step) in &cases {
        let expected = ours(bytes, *step);
        assert!(expected.is_some(), "{case}: no name");
        assert_eq!(
            acceptor(bytes, *step),
            expected,
            "{case}: acceptor disagrees"
        );
        assert_eq!(
            before(bytes, *step),
            expected,
            "{case}: the old loop disagrees"
        );
    }
    let mut group = c.benchmark_group("sni");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (case, bytes, step) in &cases {
        if *step == 1 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("ours", case), bytes, |b, bytes| {
            b.iter(|| ours(black_box(bytes), *step))
        });
        group.bench_with_input(BenchmarkId::new("ours_before", case), bytes, |b, bytes| {
            b.iter(|| before(black_box(bytes), *step))
        });
        group.bench_with_input(BenchmarkId::new("acceptor", case), bytes, |b, bytes| {
            b.iter(|| acceptor(black_box(bytes), *step))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
