//! The PROXY protocol v1/v2 reader (`berth::proxy::proxy_protocol::read_header`) on
//! arbitrary first bytes of a connection.
//!
//! Properties: never panics; the same bytes delivered in reads of other sizes give the same
//! answer and leave the same bytes unread (the reader never reads past the header); a header
//! read is at most 107 bytes (v1, ending in CRLF) or 16 + 4096 (v2), and reading just those
//! bytes gives it again; a header with addresses round-trips through `encode` (addresses of
//! one family, not v4-mapped, come back as they were).
#![no_main]

use std::net::SocketAddr;

use berth::model::ProxyVersion;
use berth::proxy::proxy_protocol::{encode, read_header, Header, ProxyProtocolError, MAX_V1, MAX_V2_PAYLOAD};
use libfuzzer_sys::fuzz_target;

#[path = "common/chunked.rs"]
mod chunked;
use chunked::{now, Chunked};

/// The header read from `data` in reads of `sizes`, and how many bytes it left unread.
fn decode(data: &[u8], sizes: Vec<usize>) -> (Result<Header, ProxyProtocolError>, usize) {
    let mut reader = Chunked { data, sizes, next: 0 };
    let header = now(read_header(&mut reader));
    (header, reader.data.len())
}

fn plain(a: SocketAddr) -> bool {
    match a {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().is_none(),
    }
}

fuzz_target!(|data: &[u8]| {
    let (whole, left) = decode(data, vec![usize::MAX]);
    let seed = data.iter().fold(0x9e37_79b9u32, |h, &b| h.rotate_left(5) ^ u32::from(b));
    let sizes: Vec<usize> = (0..4).map(|i| ((seed >> (i * 8)) & 0x1f) as usize + 1).collect();
    let (chunked, chunked_left) = decode(data, sizes.clone());
    assert_eq!(chunked, whole, "reads of {sizes:?} changed the answer");
    let Ok(header) = whole else {
        return;
    };
    assert_eq!(chunked_left, left, "reads of {sizes:?} changed what was left unread");
    let used = data.len() - left;
    let limit = match header.version {
        ProxyVersion::V1 => MAX_V1,
        ProxyVersion::V2 => 16 + MAX_V2_PAYLOAD,
    };
    assert!(used <= limit, "{used}-byte {:?} header", header.version);
    if header.version == ProxyVersion::V1 {
        assert!(data[..used].ends_with(b"\r\n"), "a v1 header ends with CRLF");
    }
    assert_eq!(decode(&data[..used], vec![1]), (Ok(header), 0), "the header alone, byte by byte");
    assert_eq!(header.source.is_some(), header.destination.is_some());

    if let (Some(source), Some(destination)) = (header.source, header.destination) {
        let mut out = Vec::new();
        encode(header.version, source, destination, &mut out);
        let (again, rest) = decode(&out, vec![usize::MAX]);
        assert_eq!(rest, 0, "encode wrote more than one header");
        let again = again.unwrap_or_else(|e| panic!("encode({header:?}) is unreadable: {e}"));
        if plain(source) && plain(destination) && source.is_ipv4() == destination.is_ipv4() {
            assert_eq!(again, header, "round trip through encode");
        }
        // Encoding is a fixed point after one round.
        let mut twice = Vec::new();
        encode(header.version, again.source.unwrap(), again.destination.unwrap(), &mut twice);
        assert_eq!(twice, out, "encode(decode(encode(h))) != encode(h)");
    }
});
