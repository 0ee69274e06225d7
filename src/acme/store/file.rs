//! Atomic, private writes and capped reads of the store's files.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::{io_error, StoreError, MAX_FILE};

/// After this, a temporary or claim file is swept by [`super::Store::open`].
const SWEEP_AGE: Duration = Duration::from_secs(3600);

pub(super) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(StoreError::NotADirectory {
            path: dir.to_owned(),
        }),
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), "acme storage is readable by other users; keys are kept there");
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut builder = DirBuilder::new();
            builder.recursive(true).mode(0o700);
            builder.create(dir).map_err(io_error(dir))
        }
        Err(e) => Err(io_error(dir)(e)),
    }
}

/// Removes temporaries and claims left by crashed processes (best effort).
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let ours = name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".claim"));
        if ours && older_than(&path, SWEEP_AGE) {
            let _ = fs::remove_file(&path);
        }
    }
}

pub(super) fn older_than(path: &Path, age: Duration) -> bool {
    let modified = fs::symlink_metadata(path).and_then(|m| m.modified());
    modified.is_ok_and(|t| t.elapsed().is_ok_and(|elapsed| elapsed > age))
}

/// A name unique to this write among every process sharing the storage.
pub(super) fn temp_name(file: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Replicas in containers may all be pid 1: a per-process random tag tells them apart.
    static TAG: OnceLock<u64> = OnceLock::new();
    let tag = TAG.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{file}.{}.{tag:016x}.{count}.tmp", std::process::id())
}

/// Creates `path` (never an existing file) with mode 0600 and `bytes`, synced.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    let mut file = options
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = fs::remove_file(path);
    }
    written
}

/// Replaces `dir/file` by `bytes` atomically: temporary, sync, rename, directory sync.
pub(super) fn write_atomic(dir: &Path, file: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = dir.join(temp_name(file));
    let target = dir.join(file);
    write_new(&temp, bytes).map_err(io_error(&temp))?;
    if let Err(e) = fs::rename(&temp, &target) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(&target)(e));
    }
    sync_dir(dir)
}

/// Makes a rename or removal in `dir` durable; a platform that cannot sync a directory is
/// let off.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            tracing::debug!(dir = %dir.display(), error = %e, "directory sync not supported");
            Ok(())
        }
        synced => synced.map_err(io_error(dir)),
    }
}

/// The bytes and metadata of a regular file of at most [`MAX_FILE`]; `None` if missing.
pub(super) fn read_capped(path: &Path) -> Result<Option<(Vec<u8>, Metadata)>, StoreError> {
    // Checked before opening too: opening a FIFO would block.
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        checked => check_regular(path, &checked.map_err(io_error(path))?)?,
    }
    let file = match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        opened => opened.map_err(io_error(path))?,
    };
    let meta = file.metadata().map_err(io_error(path))?;
    check_regular(path, &meta)?;
    let mut bytes = Vec::new();
    let read = file.take(MAX_FILE + 1).read_to_end(&mut bytes);
    read.map_err(io_error(path))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(Some((bytes, meta)))
}

fn check_regular(path: &Path, meta: &Metadata) -> Result<(), StoreError> {
    let path = path.to_owned();
    if !meta.is_file() {
        Err(StoreError::NotAFile { path })
    } else if meta.len() > MAX_FILE {
        Err(StoreError::TooLarge { path })
    } else {
        Ok(())
    }
}

pub(super) fn read_text(path: &Path) -> Result<Option<String>, StoreError> {
    read_capped(path)?
        .map(|(bytes, _)| utf8(path, bytes))
        .transpose()
}

pub(super) fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes)
        .map_err(|e| io_error(path)(io::Error::new(io::ErrorKind::InvalidData, e)))
}
