//! PROXY protocol headers (`proxy::proxy_protocol`): berth's reader and encoder against the
//! `ppp` crate's parser (`ppp::HeaderResult::parse`) and encoders (v1 `Display`,
//! `ppp::v2::Builder`).
//!
//! Why: issue #15 asks whether the hand-written codec is worth keeping. `ppp` parses a
//! buffer; it cannot read a header off a stream and stop at its last byte, which berth
//! needs, so the rows are not quite alike: `ours` is the whole `read_header` (framing and
//! parsing, from memory), `ppp` only parses the exact header bytes it is given.
//!
//! Cases: `v1_tcp4` and `v1_tcp6` (the spec's kind of line), `v2_ipv4`, `v2_ipv6_tlvs` (with
//! an authority and a unique-id TLV, as AWS NLB and HAProxy send). Encoding: an IPv4 and an
//! IPv6 pair, v1 and v2, into a reused buffer (`ppp` allocates its own).
//!
//! Target: a header costs well under 1 µs either way (a connection costs tens of µs).
//! Run: `cargo bench --bench proxy_protocol`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use berth::model::ProxyVersion;
use berth::proxy::proxy_protocol::{encode, read_header, Header};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::FutureExt;

fn v2(version_command: u8, family: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.extend_from_slice(&[version_command, family]);
    out.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    out.extend_from_slice(rest);
    out
}

fn ours(bytes: &[u8]) -> Option<Header> {
    let mut r = bytes;
    // `&[u8]` is always ready: the future completes on its first poll.
    read_header(&mut r).now_or_never()?.ok()
}

fn ppp_parse(bytes: &[u8]) -> bool {
    matches!(
        ppp::HeaderResult::parse(bytes),
        ppp::HeaderResult::V1(Ok(_)) | ppp::HeaderResult::V2(Ok(_))
    )
}

fn ppp_encode(
    version: ProxyVersion,
    source: SocketAddr,
    destination: SocketAddr,
    out: &mut Vec<u8>,
) {
    match version {
        ProxyVersion::V1 => {
            use std::io::Write;
            let addresses = ppp::v1::Addresses::from((source, destination));
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{addresses}");
        }
        ProxyVersion::V2 => {
            use ppp::v2::{Builder, Command, Protocol, Version};
            let header = Builder::with_addresses(
                Version::Two | Command::Proxy,
                Protocol::Stream,
                (source, destination),
            )
            .build()
            .unwrap_or_default();
            out.extend_from_slice(&header);
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut v6 = Vec::new();
    v6.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    v6.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    v6.extend_from_slice(&[0xc8, 0x22, 0x01, 0xbb]);
    v6.extend_from_slice(&[0x02, 0, 9]);
    v6.extend_from_slice(b"a.example");
    v6.extend_from_slice(&[0x05, 0, 16]);
    v6.extend_from_slice(&[0x42; 16]);
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "v1_tcp4",
            b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 443\r\n".to_vec(),
        ),
        (
            "v1_tcp6",
            b"PROXY TCP6 2001:db8::1 2001:db8::2 51234 443\r\n".to_vec(),
        ),
        (
            "v2_ipv4",
            v2(
                0x21,
                0x11,
                &[203, 0, 113, 7, 10, 0, 0, 5, 0xc8, 0x22, 0x01, 0xbb],
            ),
        ),
        ("v2_ipv6_tlvs", v2(0x21, 0x21, &v6)),
    ];
    for (case, bytes) in &cases {
        assert!(
            ours(bytes).is_some_and(|h| h.source.is_some()),
            "{case}: ours"
        );
        assert!(ppp_parse(bytes), "{case}: ppp");
    }
    let mut group = c.benchmark_group("proxy_protocol_decode");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (case, bytes) in &cases {
        group.bench_with_input(BenchmarkId::new("ours", case), bytes, |b, bytes| {
            b.iter(|| ours(black_box(bytes)))
        });
        group.bench_with_input(BenchmarkId::new("ppp", case), bytes, |b, bytes| {
            b.iter(|| ppp_parse(black_box(bytes)))
        });
    }
    group.finish();

    let pairs: [(&str, SocketAddr, SocketAddr); 2] = [
        (
            "ipv4",
            "203.0.113.7:51234".parse().expect("addr"),
            "10.0.0.5:443".parse().expect("addr"),
        ),
        (
            "ipv6",
            "[2001:db8::1]:51234".parse().expect("addr"),
            "[2001:db8::2]:443".parse().expect("addr"),
        ),
    ];
    let mut group = c.benchmark_group("proxy_protocol_encode");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let mut out = Vec::with_capacity(128);
    for (family, source, destination) in pairs {
        for (v, version) in [("v1", ProxyVersion::V1), ("v2", ProxyVersion::V2)] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode(version, source, destination, &mut a);
            ppp_encode(version, source, destination, &mut b);
            assert_eq!(a, b, "{v} {family}: same bytes");
            let case = format!("{v}_{family}");
            group.bench_function(BenchmarkId::new("ours", &case), |b| {
                b.iter(|| {
                    out.clear();
                    encode(version, black_box(source), black_box(destination), &mut out);
                    out.len()
                })
            });
            group.bench_function(BenchmarkId::new("ppp", &case), |b| {
                b.iter(|| {
                    out.clear();
                    ppp_encode(version, black_box(source), black_box(destination), &mut out);
                    out.len()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
