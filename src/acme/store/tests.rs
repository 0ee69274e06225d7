//! Unit tests of the ACME store, each in its own directory under the system temp dir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use super::*;

const KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n";
const CHAIN: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUleaf\n-----END CERTIFICATE-----\n\
                     -----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUissuer\n-----END CERTIFICATE-----\n";
const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(50);

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("berth-acme-store-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn store(&self) -> Store {
        Store::open(&self.0).expect("open the store")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn lock_owner(dir: &TempDir, name: &str) -> Option<String> {
    let path = dir.0.join(format!("locks/{name}.lock"));
    let text = fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).expect("lock JSON");
    Some(json["owner"].as_str().expect("owner").to_owned())
}

fn expired_lock(dir: &TempDir, name: &str) {
    let json = r#"{"owner":"dead","pid":1,"expires_unix_ms":1}"#;
    fs::write(dir.0.join(format!("locks/{name}.lock")), json).expect("write lock");
}

#[test]
fn open_creates_private_directories() {
    let dir = TempDir::new("open");
    let nested = dir.0.join("a/b");
    Store::open(&nested).expect("open");
    for sub in ["", "certificates", "locks", "challenges"] {
        assert_eq!(mode(&nested.join(sub)), 0o700, "{sub}");
    }
    Store::open(&nested).expect("open again");
    assert_eq!(entries(&nested), ["certificates", "challenges", "locks"]);
}

#[test]
fn open_refuses_a_file() {
    let dir = TempDir::new("file");
    fs::create_dir_all(&dir.0).expect("mkdir");
    let file = dir.0.join("storage");
    fs::write(&file, "x").expect("write");
    match Store::open(&file) {
        Err(StoreError::NotADirectory { path }) => assert_eq!(path, file),
        other => panic!("expected NotADirectory, got {other:?}"),
    }
    fs::create_dir(dir.0.join("s")).expect("mkdir");
    fs::write(dir.0.join("s/locks"), "x").expect("write");
    let err = Store::open(&dir.0.join("s")).expect_err("locks is a file");
    assert!(err.to_string().contains("locks: not a directory"), "{err}");
}

#[test]
fn account_round_trip() {
    let dir = TempDir::new("account");
    let store = dir.store();
    assert_eq!(store.account().expect("read"), None);
    store.save_account(r#"{"id":"1"}"#).expect("save");
    store.save_account(r#"{"id":"2"}"#).expect("save again");
    assert_eq!(
        store.account().expect("read").as_deref(),
        Some(r#"{"id":"2"}"#)
    );
    assert_eq!(mode(&dir.0.join("account.json")), 0o600);
    assert_eq!(
        entries(&dir.0),
        ["account.json", "certificates", "challenges", "locks"]
    );
}

#[test]
fn certificate_round_trip() {
    let dir = TempDir::new("cert");
    let store = dir.store();
    assert_eq!(store.certificate("a.test").expect("read"), None);
    assert_eq!(store.stamp("a.test"), None);
    store.save_certificate("a.test", KEY, CHAIN).expect("save");
    let stored = store.certificate("a.test").expect("read").expect("saved");
    assert_eq!(
        (stored.key_pem.as_str(), stored.chain_pem.as_str()),
        (KEY, CHAIN)
    );
    let path = dir.0.join("certificates/a.test.pem");
    assert_eq!(
        fs::read_to_string(&path).expect("file"),
        format!("{KEY}{CHAIN}")
    );
    assert_eq!(mode(&path), 0o600);
    let len = (KEY.len() + CHAIN.len()) as u64;
    assert_eq!(store.stamp("a.test"), Some((stored.modified, len)));
}

#[test]
fn a_second_save_replaces_the_file() {
    let dir = TempDir::new("replace");
    let store = dir.store();
    store.save_certificate("a.test", KEY, CHAIN).expect("save");
    let leaf = &CHAIN[..CHAIN.find("-----END CERTIFICATE-----\n").expect("end") + 26];
    store
        .save_certificate("a.test", KEY, leaf)
        .expect("save again");
    let stored = store.certificate("a.test").expect("read").expect("saved");
    assert_eq!(stored.chain_pem, leaf);
    assert_eq!(entries(&dir.0.join("certificates")), ["a.test.pem"]);
}

#[test]
fn reading_normalizes_line_ends_and_drops_other_blocks() {
    let dir = TempDir::new("crlf");
    let store = dir.store();
    let text = format!(
        "junk\r\n{}\r\n-----BEGIN EC PARAMETERS-----\nBggq\n-----END EC PARAMETERS-----\n{CHAIN}",
        KEY.replace('\n', "\r\n")
    );
    fs::write(dir.0.join("certificates/a.test.pem"), text).expect("write");
    let stored = store.certificate("a.test").expect("read").expect("saved");
    assert_eq!(
        (stored.key_pem.as_str(), stored.chain_pem.as_str()),
        (KEY, CHAIN)
    );
}

fn pem_error(dir: &TempDir, text: &str) -> &'static str {
    let store = dir.store();
    let path = dir.0.join("certificates/bad.test.pem");
    fs::write(&path, text).expect("write");
    match store.certificate("bad.test") {
        Err(StoreError::Pem { path: p, detail }) if p == path => detail,
        other => panic!("expected a Pem error on {}, got {other:?}", path.display()),
    }
}

#[test]
fn a_file_missing_the_key_or_the_chain_is_an_error() {
    let dir = TempDir::new("pem");
    assert_eq!(pem_error(&dir, CHAIN), "no PRIVATE KEY block");
    assert_eq!(pem_error(&dir, KEY), "no CERTIFICATE block");
    assert_eq!(pem_error(&dir, ""), "no PRIVATE KEY block");
    let cut = &CHAIN[..CHAIN.len() - 10];
    assert_eq!(
        pem_error(&dir, &format!("{KEY}{cut}")),
        "unterminated PEM block"
    );
    let err = dir
        .store()
        .save_certificate("a.test", KEY, "")
        .expect_err("no chain");
    assert!(
        err.to_string().contains("a.test.pem: no CERTIFICATE block"),
        "{err}"
    );
    assert!(!dir.0.join("certificates/a.test.pem").exists());
}

#[test]
fn oversized_and_irregular_files_are_refused() {
    let dir = TempDir::new("size");
    let store = dir.store();
    let big = dir.0.join("certificates/big.test.pem");
    fs::write(&big, vec![b'a'; MAX_FILE as usize + 1]).expect("write");
    assert!(
        matches!(store.certificate("big.test"), Err(StoreError::TooLarge { path }) if path == big)
    );
    std::os::unix::fs::symlink("/dev/null", dir.0.join("certificates/dev.test.pem"))
        .expect("symlink");
    assert!(matches!(
        store.certificate("dev.test"),
        Err(StoreError::NotAFile { .. })
    ));
    assert_eq!(store.stamp("dev.test"), None);
    fs::create_dir(dir.0.join("account.json")).expect("mkdir");
    assert!(matches!(store.account(), Err(StoreError::NotAFile { .. })));
}

#[test]
fn bad_names_are_refused() {
    let dir = TempDir::new("names");
    let store = dir.store();
    let long = "a".repeat(MAX_NAME + 1);
    for name in [
        "../x",
        "a/b",
        "",
        "A.test",
        ".hidden",
        "a b",
        "*.a.test",
        long.as_str(),
    ] {
        assert!(
            matches!(
                store.save_certificate(name, KEY, CHAIN),
                Err(StoreError::BadName { .. })
            ),
            "{name:?}"
        );
        assert!(matches!(
            store.certificate(name),
            Err(StoreError::BadName { .. })
        ));
        assert!(matches!(
            store.try_lock(name, "me", LONG),
            Err(StoreError::BadName { .. })
        ));
        assert_eq!(store.stamp(name), None);
    }
    store
        .save_certificate(&"a".repeat(MAX_NAME), KEY, CHAIN)
        .expect("MAX_NAME bytes is fine");
    let lease = store.try_lock(&"a".repeat(MAX_NAME), "me", LONG);
    assert!(lease.expect("lock").is_some());
    assert_eq!(entries(&dir.0), ["certificates", "challenges", "locks"]);
}

#[test]
fn a_held_lease_excludes_others_until_released() {
    let dir = TempDir::new("lease");
    let store = dir.store();
    let lease = store
        .try_lock("a.test", "one", LONG)
        .expect("lock")
        .expect("free");
    assert_eq!(mode(&dir.0.join("locks/a.test.lock")), 0o600);
    assert!(store
        .try_lock("a.test", "two", LONG)
        .expect("lock")
        .is_none());
    assert!(store
        .try_lock("a.test", "one", LONG)
        .expect("lock")
        .is_none());
    assert!(store
        .try_lock("b.test", "two", LONG)
        .expect("lock")
        .is_some());
    lease.release().expect("release");
    assert_eq!(lock_owner(&dir, "a.test"), None);
    let again = store
        .try_lock("a.test", "two", LONG)
        .expect("lock")
        .expect("free");
    drop(again);
    assert_eq!(entries(&dir.0.join("locks")), Vec::<String>::new());
}

#[test]
fn an_expired_lease_is_taken_over() {
    let dir = TempDir::new("expiry");
    let store = dir.store();
    let mut first = store
        .try_lock("a.test", "one", SHORT)
        .expect("lock")
        .expect("free");
    first.renew().expect("renew while ours");
    thread::sleep(SHORT * 2);
    let second = store
        .try_lock("a.test", "two", LONG)
        .expect("lock")
        .expect("expired");
    assert_eq!(second.owner(), "two");
    match first.renew() {
        Err(StoreError::LeaseLost { holder, .. }) => {
            assert!(holder.contains("\"two\""), "{holder}")
        }
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    drop(first);
    assert_eq!(lock_owner(&dir, "a.test").as_deref(), Some("two"));
    assert!(store
        .try_lock("a.test", "three", LONG)
        .expect("lock")
        .is_none());
    drop(second);
    assert_eq!(lock_owner(&dir, "a.test"), None);
}

#[test]
fn renewal_extends_the_lease() {
    let dir = TempDir::new("renew");
    let store = dir.store();
    let second = Duration::from_secs(1);
    let mut lease = store
        .try_lock("a.test", "one", second)
        .expect("lock")
        .expect("free");
    let before = lease.expires();
    thread::sleep(second * 6 / 10);
    lease.renew().expect("renew");
    assert!(lease.expires() > before);
    thread::sleep(second * 6 / 10);
    assert!(store
        .try_lock("a.test", "two", LONG)
        .expect("lock")
        .is_none());
}

#[test]
fn a_garbled_lock_is_taken_over_once_older_than_the_lease() {
    let dir = TempDir::new("garbled");
    let store = dir.store();
    fs::write(dir.0.join("locks/a.test.lock"), "{not json").expect("write");
    assert!(store
        .try_lock("a.test", "one", LONG)
        .expect("lock")
        .is_none());
    thread::sleep(SHORT * 2);
    assert!(store
        .try_lock("a.test", "one", SHORT)
        .expect("lock")
        .is_some());
}

#[test]
fn racing_stealers_exactly_one_wins() {
    for round in 0..20 {
        let dir = TempDir::new("race");
        let store = dir.store();
        expired_lock(&dir, "a.test");
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    store
                        .try_lock("a.test", &format!("t{i}"), LONG)
                        .expect("lock")
                })
            })
            .collect();
        let leases: Vec<Lease> = threads
            .into_iter()
            .filter_map(|t| t.join().expect("thread"))
            .collect();
        assert_eq!(leases.len(), 1, "round {round}");
        assert_eq!(
            lock_owner(&dir, "a.test").as_deref(),
            Some(leases[0].owner())
        );
        drop(leases);
        assert_eq!(
            entries(&dir.0.join("locks")),
            Vec::<String>::new(),
            "round {round}"
        );
    }
}

#[test]
fn a_crashed_claim_is_skipped_once_old() {
    let dir = TempDir::new("claim");
    let store = dir.store();
    expired_lock(&dir, "a.test");
    let seen = fs::read(dir.0.join("locks/a.test.lock")).expect("read");
    let hash = lease::fnv1a(&seen);
    let claim = dir.0.join(format!("locks/.a.test.{hash:016x}.0.claim"));
    fs::write(&claim, "").expect("write");
    assert!(store
        .try_lock("a.test", "one", LONG)
        .expect("lock")
        .is_none());
    let old = SystemTime::now() - Duration::from_secs(120);
    fs::File::options()
        .write(true)
        .open(&claim)
        .expect("open")
        .set_modified(old)
        .expect("mtime");
    let lease = store
        .try_lock("a.test", "one", LONG)
        .expect("lock")
        .expect("claim skipped");
    assert!(!claim.exists());
    drop(lease);
}

#[test]
fn old_temporaries_are_swept_on_open() {
    let dir = TempDir::new("sweep");
    dir.store();
    let old = SystemTime::now() - Duration::from_secs(7200);
    for name in [
        "certificates/.a.test.pem.1.2.3.tmp",
        "locks/.a.test.1.0.claim",
        ".account.json.1.tmp",
    ] {
        let file = fs::File::create(dir.0.join(name)).expect("create");
        file.set_modified(old).expect("mtime");
    }
    fs::write(dir.0.join(".account.json.9.tmp"), "").expect("a fresh one stays");
    dir.store();
    assert_eq!(
        entries(&dir.0),
        [".account.json.9.tmp", "certificates", "challenges", "locks"]
    );
    assert_eq!(entries(&dir.0.join("certificates")), Vec::<String>::new());
    assert_eq!(entries(&dir.0.join("locks")), Vec::<String>::new());
}

#[test]
fn challenges_round_trip_and_are_withdrawn() {
    let dir = TempDir::new("challenges");
    let store = dir.store();
    let http = Challenge {
        kind: ChallengeKind::Http01,
        key: "tok_EN-1".into(),
        value: "tok_EN-1.thumb".into(),
    };
    let alpn = Challenge {
        kind: ChallengeKind::TlsAlpn01,
        key: "a.example".into(),
        value: "ZGlnZXN0".into(),
    };
    store.save_challenge(&http).expect("save http-01");
    store.save_challenge(&alpn).expect("save tls-alpn-01");
    assert_eq!(mode(&dir.0.join("challenges/http-01.tok_EN-1")), 0o600);
    assert_eq!(
        store.challenges().expect("list"),
        vec![http.clone(), alpn.clone()]
    );
    store
        .remove_challenge(ChallengeKind::Http01, "tok_EN-1")
        .expect("remove");
    store
        .remove_challenge(ChallengeKind::Http01, "tok_EN-1")
        .expect("a second removal is not an error");
    assert_eq!(store.challenges().expect("list"), vec![alpn]);
}

#[test]
fn challenge_keys_cannot_leave_the_directory() {
    let dir = TempDir::new("challenge-keys");
    let store = dir.store();
    for (kind, key) in [
        (ChallengeKind::Http01, "../x"),
        (ChallengeKind::Http01, "a.b"),
        (ChallengeKind::Http01, ""),
        (ChallengeKind::TlsAlpn01, "../x"),
        (ChallengeKind::TlsAlpn01, "A.example"),
    ] {
        let c = Challenge {
            kind,
            key: key.into(),
            value: "v".into(),
        };
        assert!(
            matches!(store.save_challenge(&c), Err(StoreError::BadName { .. })),
            "{key:?}"
        );
    }
    fs::write(dir.0.join("challenges/other"), "x").expect("stray file");
    fs::write(dir.0.join("challenges/http-01.a.b"), "x").expect("bad token file");
    assert_eq!(store.challenges().expect("list"), vec![]);
}
