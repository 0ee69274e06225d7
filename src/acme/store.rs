//! On-disk storage of ACME accounts and certificates (`acme.storage`), safe to share between
//! several berth processes (replicas on one host or on a shared volume).
//!
//! # Layout
//! ```text
//! <storage>/                      mode 0700
//!   account.json                  the ACME account credentials (opaque JSON), mode 0600
//!   certificates/<name>.pem       PEM private key, then the PEM certificate chain, mode 0600
//!   locks/<name>.lock             {"owner", "pid", "expires_unix_ms"}: who orders <name>
//!   challenges/http-01.<token>    a pending HTTP-01 answer (the key authorization)
//!   challenges/tls-alpn-01.<name> a pending TLS-ALPN-01 answer (the digest, base64url)
//! ```
//! `<name>` is a DNS host name: `[a-z0-9.-]`, not starting with `.`, at most [`MAX_NAME`]
//! bytes (not DNS's 253: its temporaries must fit a file name's 255 bytes), so
//! no name ever leaves its directory; files berth keeps for itself start with `.`.
//!
//! # Writes
//! Every write goes to a fresh temporary file in the target's directory (`.<file>.<pid>.
//! <random>.<counter>.tmp`, created exclusively with mode 0600), is synced, renamed over the
//! target, and the directory is synced: a reader sees the old file or the new one, never a
//! part, even across a crash. Reads refuse anything but a regular file of at most 1 MiB.
//! Temporaries left by a crash are swept by [`Store::open`] once an hour old.
//!
//! # Leases
//! Only one replica orders a certificate for a name at a time. [`Store::try_lock`] creates
//! `locks/<name>.lock` exclusively (`O_EXCL`); while it exists and has not expired, others
//! get `None` and wait: they poll [`Store::stamp`] (a cheap `stat`) and read the new file with
//! [`Store::certificate`] once its stamp changes. The holder [`Lease::renew`]s before expiry
//! and releases (or drops) the [`Lease`] when done, which removes the lock file.
//!
//! A lock that has expired (or is unreadable and older than the lease) is taken over: the new
//! lock is written to a temporary and renamed over the old one, then read back. Every change
//! of an existing lock file (take-over, renewal, release) is a compare-and-swap: the changer
//! first claims `locks/.<name>.<hash of the content it saw>.<n>.claim` with `O_EXCL`,
//! re-reads the lock, and changes it only if the content is still the one it saw. Of racing
//! stealers exactly one wins; a renewal or release never undoes a take-over. A claim older
//! than 30 s is a crashed claimant's: the next one (`<n>+1`) is used instead. The protocol
//! assumes the replicas' clocks agree well within a lease, and that no process stalls for
//! longer than that mid-change.
//!
//! # Challenges
//! The replica that orders writes its pending challenge answers under `challenges/` and
//! removes them when the order ends; every replica serves what it finds there
//! ([`Store::challenges`]), so the CA's validation request may reach any of them. An answer
//! older than [`CHALLENGE_AGE`] is a crashed replica's: it is removed, not served.
//!
//! # Code
//! - `file`: atomic, private writes and capped reads.
//! - `lease`: the lock file, its compare-and-swap, and [`Lease`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use file::{create_dir, read_capped, read_text, sweep, temp_name, utf8, write_atomic, write_new};
pub use lease::Lease;

mod file;
mod lease;
#[cfg(test)]
mod tests;

/// The largest file the store reads.
pub const MAX_FILE: u64 = 1 << 20;
/// The longest name: `.<name>.pem.<pid>.<random>.<counter>.tmp` stays within 255 bytes.
pub const MAX_NAME: usize = 200;

/// Why the storage cannot be used; every variant names the path (or name) it is about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("acme storage {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("acme storage {}: not a directory; `acme.storage` must name a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("acme storage {}: cannot be written ({source}); berth keeps its certificates there", path.display())]
    NotWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("acme storage {}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("acme storage {}: larger than {MAX_FILE} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("acme storage {}: {detail}; expected a PRIVATE KEY block and CERTIFICATE blocks", path.display())]
    Pem { path: PathBuf, detail: &'static str },
    #[error("acme storage: invalid certificate name or token {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("acme lease {}: lost, the lock is now {holder}", path.display())]
    LeaseLost { path: PathBuf, holder: String },
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A certificate as stored: the key and chain PEM (LF line ends, key first) and its mtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key_pem: String,
    pub chain_pem: String,
    pub modified: SystemTime,
}

/// The storage directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens `dir`, creating it and its subdirectories (mode 0700) if missing.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: dir.to_owned(),
        };
        for sub in [
            store.root.clone(),
            store.certificates(),
            store.locks(),
            store.challenge_dir(),
        ] {
            create_dir(&sub)?;
            sweep(&sub);
        }
        store.probe()?;
        Ok(store)
    }

    /// The storage directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The ACME account credentials, if saved.
    pub fn account(&self) -> Result<Option<String>, StoreError> {
        read_text(&self.root.join("account.json"))
    }

    pub fn save_account(&self, json: &str) -> Result<(), StoreError> {
        write_atomic(&self.root, "account.json", json.as_bytes())
    }

    /// The certificate of `name`, if saved.
    pub fn certificate(&self, name: &str) -> Result<Option<Stored>, StoreError> {
        let path = self.certificate_path(name)?;
        let Some((bytes, meta)) = read_capped(&path)? else {
            return Ok(None);
        };
        let text = utf8(&path, bytes)?;
        let (key_pem, chain_pem) = split_pem(&text).map_err(|detail| StoreError::Pem {
            path: path.clone(),
            detail,
        })?;
        let modified = meta.modified().map_err(io_error(&path))?;
        Ok(Some(Stored {
            key_pem,
            chain_pem,
            modified,
        }))
    }

    /// Saves the key and chain of `name` as one file; refuses PEM that would not read back.
    pub fn save_certificate(
        &self,
        name: &str,
        key_pem: &str,
        chain_pem: &str,
    ) -> Result<(), StoreError> {
        let path = self.certificate_path(name)?;
        let both = format!("{}\n{}\n", key_pem.trim_end(), chain_pem.trim_end());
        let (key, chain) = split_pem(&both).map_err(|detail| StoreError::Pem { path, detail })?;
        let file = format!("{name}.pem");
        write_atomic(
            &self.certificates(),
            &file,
            format!("{key}{chain}").as_bytes(),
        )
    }

    /// The mtime and length of `name`'s certificate file: cheap, to notice another
    /// replica's newer certificate. `None` if missing, not a regular file, or a bad name.
    pub fn stamp(&self, name: &str) -> Option<(SystemTime, u64)> {
        let meta = fs::metadata(self.certificate_path(name).ok()?).ok()?;
        let modified = meta.modified().ok()?;
        meta.is_file().then_some((modified, meta.len()))
    }

    /// Takes the lease on `name` for `lease`, unless another holder's lease is running
    /// (`Ok(None)`; this owner's own running lease counts as another). See the module doc.
    pub fn try_lock(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        check_name(name)?;
        lease::try_lock(self.locks(), name, owner, lease)
    }

    fn certificates(&self) -> PathBuf {
        self.root.join("certificates")
    }

    fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    fn challenge_dir(&self) -> PathBuf {
        self.root.join("challenges")
    }

    pub fn certificate_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.certificates().join(format!("{name}.pem")))
    }

    /// Fails unless a file can be created in the storage directory.
    fn probe(&self) -> Result<(), StoreError> {
        let probe = self.root.join(temp_name("probe"));
        let written = write_new(&probe, b"").and_then(|()| fs::remove_file(&probe));
        written.map_err(|source| StoreError::NotWritable {
            path: self.root.clone(),
            source,
        })
    }
}

/// Refuses anything but a host name: `[a-z0-9.-]{1,MAX_NAME}`, not starting with `.`.
fn check_name(name: &str) -> Result<(), StoreError> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_NAME {
        "longer than 200 bytes"
    } else if name.starts_with('.') {
        "starts with '.'"
    } else if !name.bytes().all(allowed) {
        "only a-z, 0-9, '-' and '.' are allowed"
    } else {
        return Ok(());
    };
    let name = name.to_owned();
    Err(StoreError::BadName { name, reason })
}

/// Splits PEM text into its private key blocks and its certificate blocks (other blocks
/// and text between blocks are dropped).
fn split_pem(text: &str) -> Result<(String, String), &'static str> {
    let (mut key, mut chain) = (String::new(), String::new());
    let mut lines = text.lines().map(str::trim_end);
    while let Some(line) = lines.next() {
        let Some(label) = pem_label(line, "BEGIN") else {
            continue;
        };
        let mut block = format!("{line}\n");
        loop {
            let next = lines.next().ok_or("unterminated PEM block")?;
            block.push_str(next);
            block.push('\n');
            if pem_label(next, "END") == Some(label) {
                break;
            }
        }
        if label.ends_with("PRIVATE KEY") {
            key.push_str(&block);
        } else if label == "CERTIFICATE" {
            chain.push_str(&block);
        }
    }
    match (key.is_empty(), chain.is_empty()) {
        (true, _) => Err("no PRIVATE KEY block"),
        (_, true) => Err("no CERTIFICATE block"),
        _ => Ok((key, chain)),
    }
}

/// `CERTIFICATE` for `-----BEGIN CERTIFICATE-----` (with `kind` `BEGIN`).
fn pem_label<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    let rest = line.strip_prefix("-----")?.strip_prefix(kind)?;
    rest.strip_prefix(' ')?.strip_suffix("-----")
}

/// A pending challenge answer, as stored for the other replicas.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Challenge {
    /// `http-01` or `tls-alpn-01`.
    pub kind: ChallengeKind,
    /// The HTTP-01 token, or the name TLS-ALPN-01 validates.
    pub key: String,
    /// The HTTP-01 key authorization, or the TLS-ALPN-01 digest (base64url).
    pub value: String,
}

/// The challenge types the store keeps answers of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChallengeKind {
    Http01,
    TlsAlpn01,
}

impl ChallengeKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Http01 => "http-01.",
            Self::TlsAlpn01 => "tls-alpn-01.",
        }
    }
}

/// Answers older than this are left by a crashed order (orders time out well before).
pub const CHALLENGE_AGE: Duration = Duration::from_secs(600);

/// The most challenge files read at once (more are ignored: a bound, not a limit orders
/// reach).
pub const MAX_CHALLENGES: usize = 1000;

impl Store {
    /// Publishes a pending challenge answer to the replicas sharing the storage.
    pub fn save_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        let file = challenge_file(c.kind, &c.key)?;
        write_atomic(&self.challenge_dir(), &file, c.value.as_bytes())
    }

    /// Withdraws a challenge answer (a missing one is not an error).
    pub fn remove_challenge(&self, kind: ChallengeKind, key: &str) -> Result<(), StoreError> {
        let path = self.challenge_dir().join(challenge_file(kind, key)?);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Every pending challenge answer stored (files that are not one are skipped).
    pub fn challenges(&self) -> Result<Vec<Challenge>, StoreError> {
        let dir = self.challenge_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir)
            .map_err(io_error(&dir))?
            .take(MAX_CHALLENGES)
        {
            let entry = entry.map_err(io_error(&dir))?;
            let file = entry.file_name();
            let Some((kind, key)) = file.to_str().and_then(parse_challenge_file) else {
                continue;
            };
            if file::older_than(&entry.path(), CHALLENGE_AGE) {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            if let Ok(Some(value)) = read_text(&entry.path()) {
                out.push(Challenge { kind, key, value });
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `http-01.<token>` or `tls-alpn-01.<name>`, the key checked.
fn challenge_file(kind: ChallengeKind, key: &str) -> Result<String, StoreError> {
    match kind {
        ChallengeKind::Http01 => check_token(key)?,
        ChallengeKind::TlsAlpn01 => check_name(key)?,
    }
    Ok(format!("{}{key}", kind.prefix()))
}

fn parse_challenge_file(file: &str) -> Option<(ChallengeKind, String)> {
    [ChallengeKind::Http01, ChallengeKind::TlsAlpn01]
        .into_iter()
        .find_map(|kind| {
            let key = file.strip_prefix(kind.prefix())?;
            challenge_file(kind, key).ok()?;
            Some((kind, key.to_owned()))
        })
}

/// An HTTP-01 token is base64url (RFC 8555 §8.3): `[A-Za-z0-9_-]{1,MAX_NAME}`.
fn check_token(token: &str) -> Result<(), StoreError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let reason = if token.is_empty() || token.len() > MAX_NAME {
        "a token is 1 to 200 bytes"
    } else if !token.bytes().all(allowed) {
        "a token is base64url: only A-Z, a-z, 0-9, '-' and '_'"
    } else {
        return Ok(());
    };
    let name = token.to_owned();
    Err(StoreError::BadName { name, reason })
}
