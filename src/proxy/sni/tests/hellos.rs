//! Hellos that give a name, or none: real rustls ones, split across records, and hand-built
//! ones with every kind of name and extension around it.

use super::*;

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
fn largest_hello_fits() {
    let padding = MAX_FRAGMENT - client_hello(&[host("a.example"), (21, vec![])]).len();
    let hello = hello_with(&[host("a.example"), (21, vec![0; padding])]);
    assert_eq!(hello.len(), MAX_HELLO);
    assert_eq!(name(parse_sni(&hello)), "a.example");
}
