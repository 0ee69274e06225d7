//! The access-log writer thread: formats records and writes them to stdout or a file.
//!
//! Records are written in batches: every record waiting in the channel is formatted into
//! one buffer, written with one `write` call, then the writer waits for more. A file is
//! opened to append and reopened when `SIGUSR1` arrives (`signal`), before the next batch
//! or within a second when idle; if it cannot be reopened the old handle is kept and the
//! error logged. A failed write (disk full) loses its batch: the records are counted in
//! `berth_access_log_dropped_total` and the error logged; warnings and errors are
//! rate-limited per log statement by `metrics::log_limit`, so a full disk cannot flood the
//! log. The thread ends when every sender is gone (the server stopped).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tracing::{error, info};

use super::format::{self, Clock};
use super::record::Record;
use super::signal;
use crate::config::AccessFormat;

/// A batch is written once it is this large, even if more records are waiting.
const BATCH_BYTES: usize = 64 * 1024;
/// How long an idle writer waits before looking for a reopen request.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Where lines go.
#[derive(Debug)]
pub enum Output {
    Stdout,
    /// A file opened to append, with its path (to reopen it) and the reopen generation
    /// it was opened at.
    File {
        file: File,
        path: PathBuf,
        seen: u64,
    },
}

impl Output {
    /// The file at `path`, opened to append (created if missing).
    pub fn file(path: &Path) -> io::Result<Self> {
        let seen = signal::generation();
        Ok(Self::File {
            file: open(path)?,
            path: path.to_owned(),
            seen,
        })
    }

    /// Reopens the file if `SIGUSR1` came since it was opened; on failure the old handle
    /// stays.
    fn reopen_if_asked(&mut self) {
        let Self::File { file, path, seen } = self else {
            return;
        };
        let now = signal::generation();
        if *seen == now {
            return;
        }
        *seen = now;
        match open(path) {
            Ok(new) => {
                *file = new;
                info!(path = %path.display(), "access log reopened");
            }
            Err(e) => error!(
                path = %path.display(),
                "access log cannot be reopened, still writing to the old file: {e}"
            ),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Self::File { file, .. } => file.write_all(bytes),
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Writes records from `rx` as `format` to `out` until every sender is gone.
pub fn run(rx: Receiver<Box<Record>>, format: AccessFormat, mut out: Output) {
    let mut clock = Clock::default();
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    loop {
        let first = match rx.recv_timeout(IDLE_CHECK) {
            Ok(record) => record,
            Err(RecvTimeoutError::Timeout) => {
                out.reopen_if_asked();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        out.reopen_if_asked();
        let mut count = 1;
        format::line(format, &first, &mut clock, &mut batch);
        drop(first);
        while batch.len() < BATCH_BYTES {
            let Ok(record) = rx.try_recv() else { break };
            format::line(format, &record, &mut clock, &mut batch);
            count += 1;
        }
        if let Err(e) = out.write_all(&batch) {
            metrics::counter!(crate::metrics::ACCESS_LOG_DROPPED_TOTAL).increment(count);
            error!("access log write failed, {count} lines lost: {e}");
        }
        batch.clear();
    }
}
