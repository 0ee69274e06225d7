//! Unit tests on real rustls hellos and hand-built ones, and property tests: any split of a
//! hello into records and reads gives its name, and no input panics.

use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use proptest::prelude::*;
use rustls::pki_types::ServerName;
use tokio::io::ReadBuf;

use super::*;

/// The first flight of a rustls client connecting to `name` (a DNS name or an IP address).
fn rustls_hello(name: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(crate::model::certs::provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from(name.to_owned()).expect("valid server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    conn.write_tls(&mut out).expect("write to a Vec");
    out
}

static EXAMPLE: LazyLock<Vec<u8>> = LazyLock::new(|| rustls_hello("www.example.com"));

/// The handshake message in a one-record hello.
fn message(hello: &[u8]) -> &[u8] {
    let len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
    assert_eq!(len + RECORD_HEADER, hello.len(), "one record");
    &hello[RECORD_HEADER..]
}

/// `message` in handshake records of the given fragment sizes (cycled).
fn records(message: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = message;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (fragment, tail) = rest.split_at(size.clamp(1, MAX_FRAGMENT).min(rest.len()));
        out.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
        out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
        out.extend_from_slice(fragment);
        rest = tail;
    }
    out
}

/// A ClientHello handshake message with these extensions (type, data).
fn client_hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(32);
    body.extend_from_slice(&[9; 32]); // session id
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02]); // cipher suites
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut block = Vec::new();
    for (kind, data) in extensions {
        block.extend_from_slice(&kind.to_be_bytes());
        block.extend_from_slice(&(data.len() as u16).to_be_bytes());
        block.extend_from_slice(data);
    }
    body.extend_from_slice(&(block.len() as u16).to_be_bytes());
    body.extend_from_slice(&block);
    handshake(HANDSHAKE_CLIENT_HELLO, &body)
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    let mut message = vec![kind, len[1], len[2], len[3]];
    message.extend_from_slice(body);
    message
}

/// A `server_name` extension listing these (name type, name) entries.
fn server_name(entries: &[(u8, &[u8])]) -> (u16, Vec<u8>) {
    let mut list = Vec::new();
    for (kind, name) in entries {
        list.push(*kind);
        list.extend_from_slice(&(name.len() as u16).to_be_bytes());
        list.extend_from_slice(name);
    }
    let mut data = (list.len() as u16).to_be_bytes().to_vec();
    data.extend_from_slice(&list);
    (EXTENSION_SERVER_NAME, data)
}

fn host(name: &str) -> (u16, Vec<u8>) {
    server_name(&[(NAME_TYPE_HOST, name.as_bytes())])
}

/// A one-record hello with these extensions.
fn hello_with(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    records(&client_hello(extensions), &[MAX_FRAGMENT])
}

fn name(peek: Result<Peek, SniError>) -> String {
    match peek {
        Ok(Peek::Sni(name)) => name.to_string(),
        other => panic!("expected a name, got {other:?}"),
    }
}

/// Asserts every proper prefix of `hello` asks for more bytes.
fn assert_prefixes_incomplete(hello: &[u8]) {
    for end in 0..hello.len() {
        assert_eq!(
            parse_sni(&hello[..end]),
            Ok(Peek::Incomplete),
            "prefix {end}"
        );
    }
}

#[test]
fn rustls_hello_gives_its_name() {
    assert_eq!(name(parse_sni(&EXAMPLE)), "www.example.com");
}

#[test]
fn rustls_hello_for_an_ip_address_has_no_sni() {
    assert_eq!(parse_sni(&rustls_hello("192.0.2.7")), Ok(Peek::NoSni));
    assert_eq!(parse_sni(&rustls_hello("2001:db8::1")), Ok(Peek::NoSni));
}

#[test]
fn every_prefix_is_incomplete() {
    assert_prefixes_incomplete(&EXAMPLE);
    assert_prefixes_incomplete(&rustls_hello("10.0.0.1"));
}

#[test]
fn bytes_after_the_hello_are_ignored() {
    let mut hello = EXAMPLE.clone();
    hello.extend_from_slice(&[0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 200]);
    assert_eq!(name(parse_sni(&hello)), "www.example.com");
}

#[test]
fn hello_split_across_records() {
    let message = message(&EXAMPLE);
    for sizes in [
        &[1][..],
        &[2],
        &[3],
        &[4],
        &[5],
        &[100],
        &[1, 7, 300],
        &[message.len() - 1],
    ] {
        let hello = records(message, sizes);
        assert_eq!(name(parse_sni(&hello)), "www.example.com", "{sizes:?}");
        assert_prefixes_incomplete(&hello);
    }
}

#[test]
fn names_are_lowercased() {
    let hello = hello_with(&[host("API.Example.COM")]);
    assert_eq!(name(parse_sni(&hello)), "api.example.com");
}

#[test]
fn name_characters_and_lengths() {
    for ok in [
        "a",
        "xn--bcher-kva.example",
        "_acme.example.com",
        "1.2.3.4",
        "a-b.c_d",
    ] {
        assert_eq!(name(parse_sni(&hello_with(&[host(ok)]))), ok);
    }
    let longest = "a".repeat(MAX_NAME);
    assert_eq!(name(parse_sni(&hello_with(&[host(&longest)]))), longest);
    let too_long = "a".repeat(MAX_NAME + 1);
    let huge = "b".repeat(10_000);
    for bad in [
        "",
        "bücher.example",
        "a b",
        "a/b",
        "a\0b",
        "a:443",
        &too_long,
        &huge,
    ] {
        let hello = hello_with(&[host(bad)]);
        assert_eq!(parse_sni(&hello), Err(SniError::BadName), "{bad:?}");
    }
}

#[test]
fn hellos_without_a_host_name() {
    let no_extensions = handshake(HANDSHAKE_CLIENT_HELLO, &client_hello(&[])[4..][..75]);
    assert_eq!(parse_sni(&records(&no_extensions, &[100])), Ok(Peek::NoSni));
    assert_eq!(parse_sni(&hello_with(&[])), Ok(Peek::NoSni));
    assert_eq!(
        parse_sni(&hello_with(&[(43, vec![2, 3, 4])])),
        Ok(Peek::NoSni)
    );
    let other_type = server_name(&[(1, b"ignored")]);
    assert_eq!(parse_sni(&hello_with(&[other_type])), Ok(Peek::NoSni));
}

#[test]
fn host_name_after_other_name_types_and_extensions() {
    let sni = server_name(&[(1, b"x"), (NAME_TYPE_HOST, b"b.example")]);
    let hello = hello_with(&[(10, vec![0, 2, 0, 29]), sni, (43, vec![2, 3, 4])]);
    assert_eq!(name(parse_sni(&hello)), "b.example");
}

#[test]
fn large_hello_like_post_quantum_key_shares() {
    // A 12 KB key share extension: far beyond X25519MLKEM768's 1,216 bytes.
    let hello = hello_with(&[(51, vec![0x5a; 12_000]), host("pq.example")]);
    assert_eq!(name(parse_sni(&hello)), "pq.example");
    assert_prefixes_incomplete(&hello[..200]);
    let split = records(
        &client_hello(&[(51, vec![0x5a; 12_000]), host("pq.example")]),
        &[5000],
    );
    assert_eq!(name(parse_sni(&split)), "pq.example");
}

#[test]
fn not_tls() {
    assert_eq!(parse_sni(b"G"), Err(SniError::NotTls));
    assert_eq!(parse_sni(b"GET / HTTP/1.1\r\n"), Err(SniError::NotTls));
    assert_eq!(parse_sni(b"PROXY TCP4 "), Err(SniError::NotTls));
    assert_eq!(parse_sni(&[0x16, 2]), Err(SniError::NotTls));
    assert_eq!(parse_sni(&[0x17, 3, 3, 0, 5]), Err(SniError::NotTls));
    // SSLv2-compatible hello (record-less): not supported by any current client.
    assert_eq!(parse_sni(&[0x80, 0x2e, 1, 3, 1]), Err(SniError::NotTls));
}

#[test]
fn not_client_hello() {
    assert_eq!(
        parse_sni(&[0x16, 3, 3, 0, 9, 2]),
        Err(SniError::NotClientHello)
    );
    let server_hello = records(&handshake(2, &[0; 40]), &[100]);
    assert_eq!(parse_sni(&server_hello), Err(SniError::NotClientHello));
}

#[test]
fn record_framing_errors() {
    let empty = [0x16, 3, 1, 0, 0];
    assert_eq!(parse_sni(&empty), Err(SniError::Malformed("record length")));
    let oversized = [0x16, 3, 1, 0x40, 1];
    assert_eq!(
        parse_sni(&oversized),
        Err(SniError::Malformed("record length"))
    );
    // An alert record between two fragments of the hello.
    let mut interleaved = records(&message(&EXAMPLE)[..10], &[10]);
    interleaved.extend_from_slice(&[0x15, 3, 3, 0, 2, 2, 40]);
    assert!(matches!(
        parse_sni(&interleaved),
        Err(SniError::Malformed(_))
    ));
}

#[test]
fn hello_framing_errors() {
    let good = client_hello(&[host("a.example")]);
    type Corrupt = fn(&mut Vec<u8>);
    let cases: [(&str, Corrupt); 7] = [
        ("session id", |m| m[4 + 34] = 33),
        ("cipher suites", |m| m[4 + 34 + 33 + 1] = 3),
        ("extensions", |m| m[4 + 34 + 33 + 6 + 2 + 1] += 1),
        ("bytes after the extensions", |m| {
            m[4 + 34 + 33 + 6 + 2 + 1] -= 1
        }),
        ("server name list", |m| {
            let at = m.len() - 14;
            m[at] = 0xff;
        }),
        ("session id", |m| m.truncate(4 + 34 + 10)),
        ("version and random", |m| m.truncate(4 + 20)),
    ];
    for (what, corrupt) in cases {
        let mut message = good.clone();
        corrupt(&mut message);
        let len = ((message.len() - 4) as u32).to_be_bytes();
        message[1..4].copy_from_slice(&len[1..]);
        let hello = records(&message, &[MAX_FRAGMENT]);
        assert_eq!(parse_sni(&hello), Err(SniError::Malformed(what)), "{what}");
    }
}

#[test]
fn duplicate_names_are_refused() {
    let twice = hello_with(&[host("a.example"), host("b.example")]);
    let expected = Err(SniError::Malformed("two server_name extensions"));
    assert_eq!(parse_sni(&twice), expected);
    let two_hosts = server_name(&[(0, b"a.example"), (0, b"b.example")]);
    let expected = Err(SniError::Malformed("two host names"));
    assert_eq!(parse_sni(&hello_with(&[two_hosts])), expected);
    let empty_list = (EXTENSION_SERVER_NAME, vec![0, 0]);
    let expected = Err(SniError::Malformed("empty server name list"));
    assert_eq!(parse_sni(&hello_with(&[empty_list])), expected);
}

#[test]
fn too_large() {
    // Declared as 16 MB, from the first nine bytes.
    let huge = [0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff];
    assert_eq!(parse_sni(&huge), Err(SniError::TooLarge));
    // One byte over what a single record can carry.
    let padding = MAX_FRAGMENT + 1 - client_hello(&[(21, vec![])]).len();
    let over = hello_with(&[(21, vec![0; padding])]);
    assert_eq!(parse_sni(&over[..9]), Err(SniError::TooLarge));
    // A 3,000-byte hello in one-byte records needs 18,000 bytes on the wire.
    let tiny_records = records(&client_hello(&[(21, vec![0; 2900])]), &[1]);
    assert!(tiny_records.len() > MAX_HELLO);
    assert_eq!(parse_sni(&tiny_records), Err(SniError::TooLarge));
    assert_eq!(
        parse_sni(&tiny_records[..MAX_HELLO]),
        Err(SniError::TooLarge)
    );
}

#[test]
fn largest_hello_fits() {
    let padding = MAX_FRAGMENT - client_hello(&[host("a.example"), (21, vec![])]).len();
    let hello = hello_with(&[host("a.example"), (21, vec![0; padding])]);
    assert_eq!(hello.len(), MAX_HELLO);
    assert_eq!(name(parse_sni(&hello)), "a.example");
}

#[test]
fn reasons() {
    let all = [
        (SniError::NotTls, "not_tls"),
        (SniError::NotClientHello, "not_client_hello"),
        (SniError::Malformed("x"), "malformed"),
        (SniError::TooLarge, "too_large"),
        (SniError::BadName, "bad_name"),
        (SniError::Closed, "closed"),
        (SniError::Io(io::ErrorKind::ConnectionReset), "io"),
    ];
    for (error, reason) in all {
        assert_eq!(error.reason(), reason);
    }
}

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..600),
        handshake_records in any::<bool>(),
    ) {
        if handshake_records && bytes.len() >= 2 {
            bytes[..2].copy_from_slice(&[CONTENT_HANDSHAKE, 3]);
        }
        let _ = parse_sni(&bytes);
    }

    #[test]
    fn random_hello_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..300, 1..4),
    ) {
        let _ = parse_sni(&records(&handshake(HANDSHAKE_CLIENT_HELLO, &body), &sizes));
    }

    #[test]
    fn mutated_hellos_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut hello = EXAMPLE.clone();
        for (at, byte) in edits {
            hello[at.index(EXAMPLE.len())] = byte;
        }
        if truncate {
            hello.truncate(cut.index(EXAMPLE.len()));
        }
        if let Ok(Peek::Sni(name)) = parse_sni(&hello) {
            prop_assert!(HostName::parse(name.as_str().as_bytes()).is_ok());
        }
    }

    #[test]
    fn any_split_into_records_gives_the_name(
        sizes in proptest::collection::vec(1usize..400, 1..6),
    ) {
        let hello = records(message(&EXAMPLE), &sizes);
        prop_assert_eq!(name(parse_sni(&hello)), "www.example.com");
        for end in 0..hello.len() {
            prop_assert_eq!(parse_sni(&hello[..end]), Ok(Peek::Incomplete));
        }
    }
}
