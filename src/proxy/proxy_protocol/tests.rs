//! Unit tests on the spec's examples and hand-built headers, round trips, and property
//! tests: no input panics and the bytes after a header are never read.

use std::future::Future;
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

use super::*;
use crate::model::UnknownVersion;

use ProxyProtocolError::{Closed, Malformed, NotProxy, TooLarge, Unsupported};

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";

fn block_on<F: Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|rt| rt.block_on(f))
}

/// The header read from `input`, and the bytes left unread.
fn decode(input: &[u8]) -> (Result<Header, ProxyProtocolError>, &[u8]) {
    let mut r = input;
    let header = block_on(read_header(&mut r));
    (header, r)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

fn proxied(version: ProxyVersion, source: &str, destination: &str) -> Header {
    header(version, Some((addr(source), addr(destination))))
}

fn unknown(version: ProxyVersion) -> Header {
    header(version, None)
}

fn encoded(version: ProxyVersion, source: &str, destination: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode(version, addr(source), addr(destination), &mut out);
    out
}

/// A v2 header: version and command, family, then `rest` (its length is computed).
fn v2(version_command: u8, family: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[version_command, family]);
    out.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    out.extend_from_slice(rest);
    out
}

/// 192.168.0.1:56324 → 192.168.0.11:443 as a v2 address block.
const V4_BLOCK: [u8; 12] = [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb];

fn with_payload(header: &[u8]) -> Vec<u8> {
    [header, PAYLOAD].concat()
}

#[test]
fn spec_example_v1() {
    let input = with_payload(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    let (header, rest) = decode(&input);
    let expected = proxied(ProxyVersion::V1, "192.168.0.1:56324", "192.168.0.11:443");
    assert_eq!(header, Ok(expected));
    assert_eq!(rest, PAYLOAD);
}

#[test]
fn spec_longest_lines() {
    let ffff = ["ffff"; 8].join(":");
    let tcp4 = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n".to_string();
    let tcp6 = format!("PROXY TCP6 {ffff} {ffff} 65535 65535\r\n");
    let worst = format!("PROXY UNKNOWN {ffff} {ffff} 65535 65535\r\n");
    assert_eq!((tcp4.len(), tcp6.len(), worst.len()), (56, 104, MAX_V1));
    let all_ones = format!("[{ffff}]:65535");
    let cases = [
        (
            tcp4,
            proxied(
                ProxyVersion::V1,
                "255.255.255.255:65535",
                "255.255.255.255:65535",
            ),
        ),
        (tcp6, proxied(ProxyVersion::V1, &all_ones, &all_ones)),
        (worst, unknown(ProxyVersion::V1)),
        ("PROXY UNKNOWN\r\n".into(), unknown(ProxyVersion::V1)),
    ];
    for (line, expected) in cases {
        let input = with_payload(line.as_bytes());
        assert_eq!(decode(&input), (Ok(expected), PAYLOAD), "{line}");
    }
    let too_long = format!("PROXY UNKNOWN {ffff} {ffff} 65535 655351\r\n");
    assert_eq!(decode(too_long.as_bytes()).0, Err(TooLarge));
    let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
    assert_eq!(decode(&endless).0, Err(TooLarge));
}

#[test]
fn encodes_v1() {
    let line = encoded(ProxyVersion::V1, "192.168.0.1:56324", "192.168.0.11:443");
    assert_eq!(line, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    let line = encoded(ProxyVersion::V1, "[2001:db8::1]:1", "[::1]:65535");
    assert_eq!(line, b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
}

#[test]
fn encodes_v2() {
    let header = encoded(ProxyVersion::V2, "192.168.0.1:56324", "192.168.0.11:443");
    assert_eq!(header, v2(0x21, 0x11, &V4_BLOCK));
    let header = encoded(ProxyVersion::V2, "[2001:db8::1]:1", "[::1]:2");
    let mut block = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
        .octets()
        .to_vec();
    block.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    block.extend_from_slice(&[0, 1, 0, 2]);
    assert_eq!(header, v2(0x21, 0x21, &block));
}

#[test]
fn mixed_families() {
    // A dual-stack listener sees IPv4 clients as v4-mapped: both sides go back to IPv4.
    let mapped = encoded(
        ProxyVersion::V1,
        "[::ffff:10.0.0.1]:5000",
        "[::ffff:10.0.0.2]:80",
    );
    assert_eq!(mapped, b"PROXY TCP4 10.0.0.1 10.0.0.2 5000 80\r\n");
    let mapped = encoded(ProxyVersion::V1, "[::ffff:10.0.0.1]:5000", "10.0.0.2:80");
    assert_eq!(mapped, b"PROXY TCP4 10.0.0.1 10.0.0.2 5000 80\r\n");
    // Still mixed: the IPv4 side is sent v4-mapped.
    let mixed = encoded(ProxyVersion::V1, "10.0.0.1:5000", "[2001:db8::2]:80");
    assert_eq!(mixed, b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 5000 80\r\n");
    let expected = proxied(
        ProxyVersion::V1,
        "[::ffff:10.0.0.1]:5000",
        "[2001:db8::2]:80",
    );
    assert_eq!(decode(&mixed), (Ok(expected), &b""[..]));
    let mixed = encoded(ProxyVersion::V2, "[2001:db8::1]:5000", "10.0.0.2:80");
    assert_eq!(mixed[13], 0x21);
    let expected = proxied(
        ProxyVersion::V2,
        "[2001:db8::1]:5000",
        "[::ffff:10.0.0.2]:80",
    );
    assert_eq!(decode(&mixed), (Ok(expected), &b""[..]));
}

#[test]
fn v2_headers() {
    let tlvs = [0x04, 0, 3, 0, 0, 0, 0x02, 0, 4, b'a', b'.', b'b', b'c'];
    let v4 = proxied(ProxyVersion::V2, "192.168.0.1:56324", "192.168.0.11:443");
    let mut unix = vec![b'/'; 216];
    unix.extend_from_slice(&tlvs);
    let cases = [
        (v2(0x21, 0x11, &V4_BLOCK), v4),
        (v2(0x21, 0x11, &[&V4_BLOCK[..], &tlvs].concat()), v4),
        (v2(0x21, 0x12, &V4_BLOCK), v4),
        // LOCAL ignores the family and the addresses.
        (v2(0x20, 0x11, &V4_BLOCK), unknown(ProxyVersion::V2)),
        (v2(0x20, 0x00, &[]), unknown(ProxyVersion::V2)),
        (v2(0x20, 0x77, &tlvs), unknown(ProxyVersion::V2)),
        (v2(0x21, 0x00, &tlvs), unknown(ProxyVersion::V2)),
        (v2(0x21, 0x31, &unix), unknown(ProxyVersion::V2)),
    ];
    for (bytes, expected) in cases {
        let input = with_payload(&bytes);
        assert_eq!(decode(&input), (Ok(expected), PAYLOAD), "{bytes:x?}");
    }
}

#[test]
fn v2_errors() {
    let cases = [
        (v2(0x11, 0x11, &V4_BLOCK), Unsupported("version")),
        (v2(0x31, 0x11, &V4_BLOCK), Unsupported("version")),
        (v2(0x22, 0x11, &V4_BLOCK), Unsupported("command")),
        (v2(0x21, 0x13, &V4_BLOCK), Unsupported("address family")),
        (v2(0x21, 0x41, &V4_BLOCK), Unsupported("address family")),
        (v2(0x21, 0x11, &V4_BLOCK[..11]), Malformed("address length")),
        (v2(0x21, 0x21, &[0; 35]), Malformed("address length")),
        (v2(0x21, 0x31, &[0; 215]), Malformed("address length")),
        (v2(0x21, 0x11, &[0; MAX_V2_PAYLOAD + 1]), TooLarge),
        (v2(0x20, 0x00, &[0; 65535]), TooLarge),
    ];
    for (bytes, expected) in cases {
        assert_eq!(decode(&bytes).0, Err(expected.clone()), "{expected}");
    }
    let longest = v2(0x21, 0x11, &[0; MAX_V2_PAYLOAD]);
    assert!(decode(&longest).0.is_ok());
}

#[test]
fn v1_errors() {
    let cases: [(&[u8], ProxyProtocolError); 18] = [
        (b"PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n", Malformed("source")),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.256 1 2\r\n",
            Malformed("destination"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
            Malformed("source port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n",
            Malformed("source port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n",
            Malformed("destination port"),
        ),
        (
            b"PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n",
            Malformed("source"),
        ),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", Malformed("source")),
        (b"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", Malformed("source")),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n",
            Malformed("fields after the destination port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1234567\r\n",
            Malformed("source port"),
        ),
        // Short of a field, a line waits for more (the caller's timeout ends the wait).
        (b"PROXY TCP4 111.2.3.4 111.2.3.4 1\r\n", Closed),
        (b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", Malformed("protocol")),
        (b"PROXY UNKNOWNX\r\n", Malformed("protocol")),
        (b"PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n", Malformed("protocol")),
        (
            b"PROXY TCP4 1.2.3.4\n1.2.3.4 1 2\r\n",
            Malformed("CR or LF without the other"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n",
            Malformed("CR or LF without the other"),
        ),
        (
            b"PROXY \r\nGET / HTTP/1.1\r\n",
            Malformed("bytes after CRLF"),
        ),
        (
            b"PROXY TCP6 ::1 ::1 1 2\n\r\n",
            Malformed("CR or LF without the other"),
        ),
    ];
    for (bytes, expected) in cases {
        let shown = String::from_utf8_lossy(bytes);
        assert_eq!(decode(bytes).0, Err(expected), "{shown:?}");
    }
}

#[test]
fn not_proxy() {
    let cases: [&[u8]; 7] = [
        b"GET / HTTP/1.1\r\n\r\n",
        b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXYTCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"\r\n\r\n\0\r\nQUIX\n!\x11\0\x0c",
        &[0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3, 0, 0, 0, 0, 0],
        b"G",
        b"PROXY",
    ];
    for bytes in &cases[..5] {
        assert_eq!(decode(bytes), (Err(NotProxy), &bytes[15..]), "{bytes:?}");
    }
    assert_eq!(decode(cases[5]).0, Err(NotProxy));
    assert_eq!(decode(cases[6]).0, Err(Closed));
}

#[tokio::test]
async fn not_proxy_without_waiting_for_more() {
    let (mut client, mut server) = tokio::io::duplex(64);
    client.write_all(b"GE").await.expect("write");
    let read = tokio::time::timeout(Duration::from_secs(5), read_header(&mut server)).await;
    assert_eq!(read, Ok(Err(NotProxy)));
    drop(client);
}

/// Valid headers of every kind, each followed by nothing.
fn samples() -> Vec<Vec<u8>> {
    vec![
        encoded(ProxyVersion::V1, "192.168.0.1:56324", "192.168.0.11:443"),
        encoded(ProxyVersion::V1, "[2001:db8::1]:1", "[::1]:65535"),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
        encoded(ProxyVersion::V2, "192.168.0.1:56324", "192.168.0.11:443"),
        encoded(ProxyVersion::V2, "[2001:db8::1]:1", "[::1]:65535"),
        v2(0x21, 0x11, &[&V4_BLOCK[..], &[4, 0, 3, 0, 0, 0]].concat()),
        v2(0x20, 0x00, &[]),
    ]
}

#[test]
fn every_truncation_is_closed() {
    for sample in samples() {
        assert!(decode(&sample).0.is_ok(), "{sample:?}");
        for end in 0..sample.len() {
            assert_eq!(
                decode(&sample[..end]),
                (Err(Closed), &b""[..]),
                "{sample:?}[..{end}]"
            );
        }
    }
}

#[test]
fn one_byte_per_read_reads_nothing_past_the_header() {
    for sample in samples() {
        let expected = decode(&sample).0;
        let input = with_payload(&sample);
        block_on(async move {
            // A one-byte pipe: every read returns at most one byte.
            let (mut client, mut server) = tokio::io::duplex(1);
            let writer = tokio::spawn(async move { client.write_all(&input).await });
            assert_eq!(read_header(&mut server).await, expected);
            let mut rest = vec![0; PAYLOAD.len()];
            server.read_exact(&mut rest).await.expect("payload");
            assert_eq!(rest, PAYLOAD);
            writer.await.expect("writer").expect("write");
        });
    }
}

/// Serves a byte slice, recording the size of every read asked for.
struct Recorder<'a> {
    data: &'a [u8],
    asked: Vec<usize>,
}

impl AsyncRead for Recorder<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.asked.push(buf.remaining());
        std::pin::Pin::new(&mut self.data).poll_read(cx, buf)
    }
}

#[test]
fn v1_lines_take_few_reads() {
    let cases: [(&[u8], &[usize]); 3] = [
        (
            b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 443\r\n",
            &[15, 17, 5, 4, 2],
        ),
        (
            b"PROXY TCP6 2001:db8::1 ::1 51234 443\r\n",
            &[15, 8, 7, 4, 2, 2],
        ),
        (b"PROXY UNKNOWN\r\n", &[15]),
    ];
    for (line, reads) in cases {
        let input = with_payload(line);
        let mut r = Recorder {
            data: &input,
            asked: Vec::new(),
        };
        assert!(block_on(read_header(&mut r)).is_ok());
        assert_eq!((r.data, &r.asked[..]), (PAYLOAD, reads));
    }
}

#[test]
fn versions() {
    assert_eq!("v1".parse(), Ok(ProxyVersion::V1));
    assert_eq!("v2".parse(), Ok(ProxyVersion::V2));
    for bad in ["", "V1", "1", "v3", " v1"] {
        assert_eq!(bad.parse::<ProxyVersion>(), Err(UnknownVersion(bad.into())));
    }
    assert_eq!(ProxyVersion::V1.to_string(), "v1");
    assert_eq!(ProxyVersion::V2.to_string(), "v2");
}

#[test]
fn reasons() {
    let all = [
        (NotProxy, "not_proxy"),
        (Malformed("x"), "malformed"),
        (Unsupported("x"), "unsupported"),
        (Closed, "closed"),
        (TooLarge, "too_large"),
        (ProxyProtocolError::Io(io::ErrorKind::ConnectionReset), "io"),
    ];
    for (error, reason) in all {
        assert_eq!(error.reason(), reason);
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| {
            SocketAddr::new(Ipv4Addr::from(ip).to_ipv6_mapped().into(), port)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trips(
        source in socket_addr(),
        destination in socket_addr(),
        v1 in any::<bool>(),
    ) {
        let version = if v1 { ProxyVersion::V1 } else { ProxyVersion::V2 };
        let mut input = Vec::new();
        encode(version, source, destination, &mut input);
        input.extend_from_slice(PAYLOAD);
        let (header, rest) = decode(&input);
        let header = header.expect("a valid header");
        prop_assert_eq!(rest, PAYLOAD);
        let (s, d) = (header.source.expect("source"), header.destination.expect("destination"));
        prop_assert_eq!((s.port(), d.port()), (source.port(), destination.port()));
        prop_assert_eq!(s.ip().to_canonical(), source.ip().to_canonical());
        prop_assert_eq!(d.ip().to_canonical(), destination.ip().to_canonical());
        prop_assert_eq!(s.is_ipv4(), d.is_ipv4());
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        prefix in prop_oneof![Just(vec![]), Just(V1_PREFIX.to_vec()), Just(V2_SIGNATURE.to_vec())],
    ) {
        let input = [prefix, bytes].concat();
        let (_, rest) = decode(&input);
        prop_assert!(input.ends_with(rest));
    }

    #[test]
    fn mutated_headers_never_panic(
        sample in 0..8usize,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut input = with_payload(&samples()[sample]);
        for (at, byte) in edits {
            let at = at.index(input.len());
            input[at] = byte;
        }
        let (_, rest) = decode(&input);
        prop_assert!(input.ends_with(rest));
    }
}
