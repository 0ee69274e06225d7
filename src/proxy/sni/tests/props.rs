//! Property tests: no input panics, and any split of a hello into records and reads gives
//! its name.

use proptest::prelude::*;

use super::*;

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

    #[test]
    fn a_scan_over_reads_agrees_with_parse_sni(
        sizes in proptest::collection::vec(1usize..400, 1..6),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        steps in proptest::collection::vec(1usize..64, 1..5),
    ) {
        let mut hello = records(message(&EXAMPLE), &sizes);
        let len = hello.len();
        for (at, byte) in edits {
            hello[at.index(len)] = byte;
        }
        // The read loop's use: the same scan, more bytes each call, until an answer.
        let mut scan = Scan::default();
        let mut end = 0;
        for step in steps.iter().cycle().take(len + 1) {
            let answer = scan.peek(&hello[..end]);
            prop_assert_eq!(&answer, &parse_sni(&hello[..end]), "prefix {}", end);
            if answer != Ok(Peek::Incomplete) || end == len {
                break;
            }
            end = (end + step).min(len);
        }
    }
}
