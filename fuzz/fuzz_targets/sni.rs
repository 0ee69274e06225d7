//! The ClientHello peek of `tls-passthrough` listeners (`berth::proxy::sni`) on arbitrary
//! first bytes of a connection.
//!
//! Properties: `parse_sni` never panics; a name it returns is a valid lowercase host name
//! of 1 to 253 bytes; once a hello is complete, bytes after it change nothing; a few proper
//! prefixes of a complete hello are `Incomplete` or the same answer (never an error, never
//! another name); and `read_client_hello` on the same bytes delivered in reads of varying
//! sizes agrees with `parse_sni` on the whole buffer.
#![no_main]


use berth::proxy::sni::{parse_sni, read_client_hello, Peek, SniError, MAX_HELLO};
use libfuzzer_sys::fuzz_target;

#[path = "common/chunked.rs"]
mod chunked;
use chunked::{now, Chunked};

fn check_name(peek: &Peek) {
    if let Peek::Sni(name) = peek {
        let s = name.as_str();
        assert!((1..=253).contains(&s.len()), "name length {}", s.len());
        assert!(
            s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)),
            "name {s:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let result = parse_sni(data);
    if let Ok(peek) = &result {
        check_name(peek);
    }
    // A cheap hash of the input picks prefix lengths and read sizes.
    let seed = data.iter().fold(0x9e37_79b9u32, |h, &b| h.rotate_left(5) ^ u32::from(b));

    if let Ok(complete @ (Peek::Sni(_) | Peek::NoSni)) = &result {
        let mut longer = data.to_vec();
        longer.extend_from_slice(&seed.to_be_bytes());
        longer.extend_from_slice(b"\x16\x03\x01\x00\x05trailing");
        assert_eq!(parse_sni(&longer).as_ref(), Ok(complete), "bytes after the hello changed the answer");
        let cuts = [0, 1, 5, 6, 9, data.len() / 2, data.len() - 1, seed as usize % data.len()];
        for cut in cuts.into_iter().filter(|&c| c < data.len()) {
            match parse_sni(&data[..cut]) {
                Ok(Peek::Incomplete) => {}
                Ok(ref same) if same == complete => {}
                other => panic!("prefix of {cut} bytes of a complete hello gave {other:?}, whole gave {complete:?}"),
            }
        }
    }

    // The connection's reads: sizes 1..=64 from the seed, or the whole buffer at once.
    let sizes: Vec<usize> = (0..4).map(|i| ((seed >> (i * 8)) & 0x3f) as usize + 1).collect();
    let sizes = if seed & 1 == 0 { sizes } else { vec![usize::MAX] };
    let mut reader = Chunked { data, sizes, next: 0 };
    let mut buf = Vec::new();
    let read = now(read_client_hello(&mut reader, &mut buf));
    assert!(buf.len() <= MAX_HELLO, "buffered {} bytes", buf.len());
    assert!(data.starts_with(&buf), "the buffer is not what was read");
    match (&read, parse_sni(&buf)) {
        (Ok(Some(name)), Ok(Peek::Sni(whole))) => assert_eq!(name, &whole),
        (Ok(None), Ok(Peek::NoSni)) => {}
        (Err(SniError::Closed), Ok(Peek::Incomplete)) => assert_eq!(buf.len(), data.len()),
        (Err(SniError::TooLarge), Ok(Peek::Incomplete)) => assert!(buf.len() >= MAX_HELLO),
        (Err(e), Err(whole)) => assert_eq!(e, &whole),
        (read, whole) => panic!("read_client_hello gave {read:?}, parse_sni of its buffer {whole:?}"),
    }
    // What was read is a prefix of the input, so it agrees with the whole input's answer
    // whenever that one is complete or an error.
    match (&read, &result) {
        (_, Ok(Peek::Incomplete)) => {}
        (Ok(Some(name)), Ok(Peek::Sni(whole))) => assert_eq!(name, whole),
        (Ok(None), Ok(Peek::NoSni)) => {}
        (Err(e), Err(whole)) if e == whole => {}
        (Err(SniError::TooLarge), _) => {}
        (read, whole) => panic!("read_client_hello gave {read:?}, parse_sni of the input {whole:?}"),
    }
});
