//! Unit tests of `certs`, on the files of `tests/fixtures/tls`.

use super::*;

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn files(cert: &str, key: &str) -> CertificateFiles {
    CertificateFiles {
        cert: path(cert),
        key: path(key),
        names: Vec::new(),
    }
}

fn error(cert: &str, key: &str) -> CertError {
    match load(&files(cert, key)) {
        Ok(l) => panic!("{cert} + {key} should fail, loaded {:?}", l.names),
        Err(e) => e,
    }
}

#[test]
fn loads_names_from_the_subject_alt_name() {
    assert_eq!(load(&files("a.pem", "a.key")).expect("a").names, ["a.test"]);
    assert_eq!(
        load(&files("b.pem", "b.key")).expect("b").names,
        ["*.b.test"]
    );
    assert!(load(&files("nosan.pem", "nosan.key"))
        .expect("nosan")
        .names
        .is_empty());
    let rsa = load(&files("rsa.pem", "rsa.key")).expect("a PKCS#1 RSA key");
    assert_eq!(rsa.names, ["rsa.test"]);
}

#[test]
fn a_combined_pem_holds_both() {
    let l = load(&files("combined.pem", "combined.pem")).expect("combined");
    assert_eq!(l.names, ["a.test"]);
}

#[test]
fn a_mismatched_key_is_refused_on_the_key() {
    let e = error("a.pem", "b.key");
    assert!(matches!(e, CertError::Mismatch { .. }), "{e}");
    assert_eq!(e.field(), Field::Key);
    assert!(
        e.to_string().contains("does not match the certificate"),
        "{e}"
    );
}

#[test]
fn mistakes_name_the_file_and_the_fix() {
    let cases = [
        (
            error("missing.pem", "a.key"),
            Field::Cert,
            "missing.pem: No such file",
        ),
        (
            error("garbage.pem", "a.key"),
            Field::Cert,
            "expected a -----BEGIN CERTIFICATE----- block",
        ),
        (
            error("a.key", "a.pem"),
            Field::Cert,
            "did you swap `cert` and `key`?",
        ),
        (
            error("a.der", "a.key"),
            Field::Cert,
            "openssl x509 -inform der",
        ),
        (error("a.pem", "a.pem"), Field::Key, "add `key: FILE.key`"),
        (
            error("a.pem", "b.pem"),
            Field::Key,
            "did you swap `cert` and `key`?",
        ),
        (error("a.pem", "missing.key"), Field::Key, "cannot read"),
    ];
    for (e, field, part) in cases {
        assert_eq!(e.field(), field, "{e}");
        assert!(e.to_string().contains(part), "{part:?} missing in {e}");
    }
}

#[test]
fn unchanged_files_read_equal() {
    let f = files("a.pem", "a.key");
    assert_eq!(read(&f).expect("a"), read(&f).expect("a again"));
    assert_ne!(
        read(&f).expect("a"),
        read(&files("b.pem", "b.key")).expect("b")
    );
}
