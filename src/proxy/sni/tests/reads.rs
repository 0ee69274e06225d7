//! The read loop (`read_client_hello`) over readers of any step, and the resumed walk
//! (`Scan`) it relies on.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use super::*;

/// Serves `data` in reads of at most `step` bytes, then EOF.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        let (head, rest) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn read_client_hello_keeps_every_byte_read() {
    let mut sent = EXAMPLE.clone();
    sent.extend_from_slice(b"early data");
    for step in [1, 2, 3, 7, 64, 100_000] {
        let mut buf = Vec::new();
        let mut r = Trickle { data: &sent, step };
        let found = read_client_hello(&mut r, &mut buf).await;
        assert_eq!(
            found.map(|n| n.map(|n| n.to_string())),
            Ok(Some("www.example.com".into()))
        );
        assert!(
            sent.starts_with(&buf) && buf.len() >= EXAMPLE.len(),
            "step {step}"
        );
        buf.extend_from_slice(r.data);
        assert_eq!(buf, sent, "nothing lost, step {step}");
    }
}

#[tokio::test]
async fn read_client_hello_outcomes() {
    let no_sni = rustls_hello("192.0.2.1");
    let mut buf = Vec::new();
    let found = read_client_hello(
        &mut Trickle {
            data: &no_sni,
            step: 5,
        },
        &mut buf,
    )
    .await;
    assert_eq!(found, Ok(None));
    let cut = &EXAMPLE[..EXAMPLE.len() - 1];
    let mut buf = Vec::new();
    let found = read_client_hello(
        &mut Trickle {
            data: cut,
            step: 50,
        },
        &mut buf,
    )
    .await;
    assert_eq!(found, Err(SniError::Closed));
    let mut buf = Vec::new();
    let found = read_client_hello(&mut &b""[..], &mut buf).await;
    assert_eq!(found, Err(SniError::Closed));
    let mut buf = Vec::new();
    let found = read_client_hello(&mut &b"SSH-2.0-OpenSSH_9.6\r\n"[..], &mut buf).await;
    assert_eq!(found, Err(SniError::NotTls));
}

#[tokio::test]
async fn read_client_hello_stops_at_the_cap() {
    let endless = records(&client_hello(&[(21, vec![0; 4000])]), &[1]);
    let mut buf = Vec::new();
    let found = read_client_hello(
        &mut Trickle {
            data: &endless,
            step: 999,
        },
        &mut buf,
    )
    .await;
    assert_eq!(found, Err(SniError::TooLarge));
    assert!(buf.len() <= MAX_HELLO);
}

#[tokio::test]
async fn read_client_hello_uses_bytes_already_read() {
    let mut buf = EXAMPLE.clone();
    let found = read_client_hello(&mut &b""[..], &mut buf).await;
    assert_eq!(found.map(|n| n.is_some()), Ok(true));
}

#[test]
fn a_scan_resumes_after_the_last_whole_record() {
    // Issue #15's worst case: a hello in 1-byte records (6 bytes each on the wire), read a
    // byte at a time. Each call starts at the first record not yet whole, so each record is
    // walked once.
    let hello = records(message(&EXAMPLE), &[1]);
    let mut scan = Scan::default();
    for end in 0..hello.len() {
        assert_eq!(
            scan.peek(&hello[..end]),
            Ok(Peek::Incomplete),
            "prefix {end}"
        );
        assert_eq!(scan.pos, end / 6 * 6, "prefix {end}");
    }
    assert_eq!(name(scan.peek(&hello)), "www.example.com");
}

#[test]
fn a_scan_finds_errors_in_records_read_later() {
    let mut bytes = records(&message(&EXAMPLE)[..10], &[3]);
    let mut scan = Scan::default();
    assert_eq!(scan.peek(&bytes), Ok(Peek::Incomplete));
    bytes.extend_from_slice(&[0x15, 3, 3, 0, 2, 2, 40]);
    assert_eq!(
        scan.peek(&bytes),
        Err(SniError::Malformed(
            "record interleaved with the ClientHello"
        ))
    );
}

#[tokio::test]
async fn read_client_hello_one_byte_records_one_byte_per_read() {
    let hello = records(message(&EXAMPLE), &[1]);
    let mut buf = Vec::new();
    let found = read_client_hello(
        &mut Trickle {
            data: &hello,
            step: 1,
        },
        &mut buf,
    )
    .await;
    assert_eq!(
        found.map(|n| n.map(|n| n.to_string())),
        Ok(Some("www.example.com".into()))
    );
    assert_eq!(
        buf, hello,
        "every byte read is kept, none past the hello was asked for"
    );
}
