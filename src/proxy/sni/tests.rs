//! Unit tests of the ClientHello peek, by concern: `hellos` (real rustls hellos and
//! hand-built ones that give a name or none), `errors` (what is refused, and why),
//! `reads` (the read loop and the resumed walk over reads of any size) and `props`
//! (property tests: any split into records and reads gives the name, no input panics).
//! The helpers here build hellos.

use std::sync::{Arc, LazyLock};

use rustls::pki_types::ServerName;

use super::*;

mod errors;
mod hellos;
mod props;
mod reads;

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
