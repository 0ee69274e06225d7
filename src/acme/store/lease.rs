//! The lease lock of a name: `locks/<name>.lock`, changed only by compare-and-swap.

use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::file::{older_than, read_capped, sync_dir, write_atomic, write_new};
use super::{io_error, StoreError};

/// After this, a claim on a lock's content is a crashed claimant's.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);
/// How many crashed claims on one content are skipped before giving up.
const CLAIM_ATTEMPTS: u32 = 8;

/// [`super::Store::try_lock`] on `locks/<name>.lock` in `dir`, `name` checked.
pub(super) fn try_lock(
    dir: PathBuf,
    name: &str,
    owner: &str,
    lease: Duration,
) -> Result<Option<Lease>, StoreError> {
    let lock = LockFile {
        dir,
        name: name.to_owned(),
    };
    let (record, bytes) = LockRecord::fresh(&lock.path(), owner, lease)?;
    let taken = match write_new(&lock.path(), &bytes) {
        Ok(()) => sync_dir(&lock.dir).map(|()| true)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => lock.take_over(&bytes, lease)?,
        Err(e) => return Err(io_error(&lock.path())(e)),
    };
    Ok(taken.then(|| Lease {
        lock,
        record,
        lease,
        written: bytes,
        released: false,
    }))
}

/// The content of a lock file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LockRecord {
    owner: String,
    pid: u32,
    expires_unix_ms: u64,
}

impl LockRecord {
    /// A record for `owner` expiring `lease` from now, and its bytes.
    fn fresh(path: &Path, owner: &str, lease: Duration) -> Result<(Self, Vec<u8>), StoreError> {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let record = LockRecord {
            owner: owner.to_owned(),
            pid: std::process::id(),
            expires_unix_ms: unix_ms(SystemTime::now()).saturating_add(lease_ms),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| io_error(path)(e.into()))?;
        Ok((record, bytes))
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// `locks/<name>.lock`.
#[derive(Debug)]
struct LockFile {
    dir: PathBuf,
    name: String,
}

impl LockFile {
    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    fn read(&self) -> Result<Option<(Vec<u8>, Metadata)>, StoreError> {
        read_capped(&self.path())
    }

    /// Replaces an expired lock by `ours`; true if we hold it now.
    fn take_over(&self, ours: &[u8], lease: Duration) -> Result<bool, StoreError> {
        let Some((seen, meta)) = self.read()? else {
            return Ok(false); // released meanwhile: the caller polls again
        };
        let expired = match serde_json::from_slice::<LockRecord>(&seen) {
            Ok(record) => record.expires_unix_ms <= unix_ms(SystemTime::now()),
            Err(_) => meta
                .modified()
                .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > lease)),
        };
        if !expired {
            return Ok(false);
        }
        let swapped = self.swap(&seen, || {
            self.write(ours)?;
            Ok(self.read()?.is_some_and(|(now, _)| now == ours))
        })?;
        Ok(swapped == Some(true))
    }

    fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.dir, &format!("{}.lock", self.name), bytes)
    }

    /// Runs `change` if the lock file still holds `seen`, excluding every other change of
    /// that content; `None` if it no longer does or another process is changing it.
    fn swap<T>(
        &self,
        seen: &[u8],
        change: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some(_claim) = self.claim(seen)? else {
            return Ok(None);
        };
        match self.read()? {
            Some((now, _)) if now == seen => change().map(Some),
            _ => Ok(None),
        }
    }

    /// Claims the right to change the lock while it holds `seen` (see the module doc).
    fn claim(&self, seen: &[u8]) -> Result<Option<Claim>, StoreError> {
        let hash = fnv1a(seen);
        // Crashed claimants' claims: removed with ours, never while another may hold one.
        let mut crashed = Vec::new();
        for attempt in 0..CLAIM_ATTEMPTS {
            let path = self
                .dir
                .join(format!(".{}.{hash:016x}.{attempt}.claim", self.name));
            match write_new(&path, b"") {
                Ok(()) => {
                    crashed.push(path);
                    return Ok(Some(Claim(crashed)));
                }
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(io_error(&path)(e))
                }
                Err(_) if older_than(&path, CLAIM_TIMEOUT) => crashed.push(path),
                Err(_) => return Ok(None),
            }
        }
        Ok(None)
    }

    /// What the lock file names now, for [`StoreError::LeaseLost`].
    fn holder(&self) -> String {
        match self.read() {
            Ok(Some((bytes, _))) => match serde_json::from_slice::<LockRecord>(&bytes) {
                Ok(r) => format!("held by {:?} (pid {})", r.owner, r.pid),
                Err(_) => "unreadable".to_owned(),
            },
            Ok(None) => "gone".to_owned(),
            Err(e) => format!("unreadable ({e})"),
        }
    }
}

/// Claim files on one lock content, removed when dropped.
struct Claim(Vec<PathBuf>);

impl Drop for Claim {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    let step = |hash: u64, byte: &u8| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, step)
}

/// A held lease on a name; dropping it releases the lock (if still ours).
#[derive(Debug)]
pub struct Lease {
    lock: LockFile,
    record: LockRecord,
    lease: Duration,
    /// The lock file's content as we last wrote it: it is ours while it holds exactly this.
    written: Vec<u8>,
    released: bool,
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.lock.name
    }

    pub fn owner(&self) -> &str {
        &self.record.owner
    }

    /// When the lease runs out unless renewed.
    pub fn expires(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.record.expires_unix_ms)
    }

    /// Extends the lease by its duration from now; [`StoreError::LeaseLost`] if the lock
    /// file no longer holds what we wrote (taken over, or removed).
    pub fn renew(&mut self) -> Result<(), StoreError> {
        let path = self.lock.path();
        let (record, bytes) = LockRecord::fresh(&path, &self.record.owner, self.lease)?;
        let renewed = self.lock.swap(&self.written, || self.lock.write(&bytes))?;
        if renewed.is_none() {
            let holder = self.lock.holder();
            return Err(StoreError::LeaseLost { path, holder });
        }
        (self.record, self.written) = (record, bytes);
        Ok(())
    }

    /// Removes the lock file if it is still ours.
    pub fn release(mut self) -> Result<(), StoreError> {
        self.released = true;
        self.remove()
    }

    fn remove(&self) -> Result<(), StoreError> {
        let removed = self.lock.swap(&self.written, || {
            let path = self.lock.path();
            fs::remove_file(&path).map_err(io_error(&path))?;
            sync_dir(&self.lock.dir)
        });
        removed.map(drop)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Err(e) = self.remove() {
            tracing::warn!(name = %self.lock.name, error = %e, "cannot release the acme lease");
        }
    }
}
