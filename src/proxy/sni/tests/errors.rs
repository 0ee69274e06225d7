//! What is refused, and with which error: not TLS, not a ClientHello, broken framing of
//! records and of the hello, duplicate names, hellos over the cap.

use super::*;

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
