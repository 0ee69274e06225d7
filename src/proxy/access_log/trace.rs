//! W3C Trace Context (data plane): reading a request's `traceparent` and starting a trace.
//!
//! A `traceparent` is `VERSION-TRACEID-PARENTID-FLAGS` in lowercase hex (W3C Trace Context,
//! "traceparent Header"): version `00` is exactly 55 characters; a higher version (never
//! `ff`) is read by the same layout, and whatever follows its first 55 characters must start
//! with `-`. A trace id or parent id of zeros is invalid, and so is a request with several
//! `traceparent` headers. berth never edits a valid header. With `trace_context: start` a
//! request without a valid one gets a new trace (the spec's "restart the trace"): a fresh
//! `traceparent` replaces any invalid one and the `tracestate` is removed, since a
//! `tracestate` without a valid `traceparent` is invalid and must be discarded.

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The 16 bytes of a trace id (never all zero).
pub type TraceId = [u8; 16];

/// Length of a version-00 `traceparent`.
const LEN: usize = 55;

/// The trace id of a valid `traceparent` value.
pub fn parse(value: &[u8]) -> Option<TraceId> {
    if value.len() < LEN || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let version = hex::<1>(&value[0..2])?[0];
    let fits = match version {
        0 => value.len() == LEN,
        0xff => false,
        _ => value.len() == LEN || value[LEN] == b'-',
    };
    let trace = hex::<16>(&value[3..35])?;
    let parent = hex::<8>(&value[36..52])?;
    hex::<1>(&value[53..55])?;
    let zero = trace == [0; 16] || parent == [0; 8];
    (fits && !zero).then_some(trace)
}

/// The trace id of `headers`' one valid `traceparent`; `None` when it is absent, invalid or
/// given more than once.
pub fn trace_id(headers: &HeaderMap) -> Option<TraceId> {
    let mut all = headers.get_all(TRACEPARENT).iter();
    let first = all.next()?;
    match all.next() {
        Some(_) => None,
        None => parse(first.as_bytes()),
    }
}

/// The trace id of the request, starting a new trace in `headers` when it has no valid
/// `traceparent` (any invalid one and the `tracestate` are replaced).
pub fn start(headers: &mut HeaderMap) -> TraceId {
    if let Some(id) = trace_id(headers) {
        return id;
    }
    let (id, value) = fresh();
    headers.remove(TRACESTATE);
    headers.insert(TRACEPARENT, value);
    id
}

/// A new random trace: version 00, a 16-byte trace id, an 8-byte parent id, flags 01
/// (sampled: berth logs it).
fn fresh() -> (TraceId, HeaderValue) {
    let trace = nonzero(|| fastrand::u128(..)).to_be_bytes();
    let parent = nonzero(|| fastrand::u64(..)).to_be_bytes();
    let mut text = [0u8; LEN];
    text[..3].copy_from_slice(b"00-");
    write_hex(&trace, &mut text[3..35]);
    text[35] = b'-';
    write_hex(&parent, &mut text[36..52]);
    text[52..].copy_from_slice(b"-01");
    // Invariant: the text is ASCII digits, lowercase hex letters and dashes, always a
    // valid header value.
    let value = HeaderValue::from_bytes(&text).expect("hex and dashes are a valid header value");
    (trace, value)
}

/// The first non-zero value `draw` gives (a zero id is invalid).
fn nonzero<T: PartialEq + Default>(mut draw: impl FnMut() -> T) -> T {
    loop {
        let v = draw();
        if v != T::default() {
            return v;
        }
    }
}

/// Lowercase hex of `bytes` into `out` (twice as long).
pub fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// `N` bytes from `2 * N` lowercase hex digits (uppercase is invalid in a `traceparent`).
fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    (text.len() == 2 * N).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn id(s: &str) -> Option<String> {
        parse(s.as_bytes()).map(|id| {
            let mut out = [0u8; 32];
            write_hex(&id, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    }

    #[test]
    fn a_valid_header_gives_its_trace_id() {
        assert_eq!(
            id(VALID).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(id(unsampled).is_some());
    }

    #[test]
    fn invalid_headers_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_higher_version_is_read_by_the_same_layout() {
        assert!(id("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some());
        let longer = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert!(id(longer).is_some());
    }

    #[test]
    fn several_headers_are_invalid() {
        let mut headers = HeaderMap::new();
        headers.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert!(trace_id(&headers).is_some());
        headers.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert_eq!(trace_id(&headers), None);
    }

    #[test]
    fn starting_keeps_a_valid_trace_and_replaces_an_invalid_one() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        headers.insert(TRACESTATE, HeaderValue::from_static("a=1"));
        start(&mut headers);
        assert_eq!(headers[TRACEPARENT], VALID);
        assert_eq!(headers[TRACESTATE], "a=1");

        headers.insert(TRACEPARENT, HeaderValue::from_static("00-bad"));
        let id = start(&mut headers);
        let new = headers[TRACEPARENT].as_bytes().to_vec();
        assert_eq!(parse(&new), Some(id), "a valid new header carries the id");
        assert!(new.starts_with(b"00-") && new.ends_with(b"-01"));
        assert!(headers.get(TRACESTATE).is_none(), "tracestate is discarded");
    }

    #[test]
    fn new_traces_differ() {
        let (a, _) = fresh();
        let (b, _) = fresh();
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }
}
