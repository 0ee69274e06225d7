//! The access-log writer thread: formats records and writes them to stdout or a file.
//!
//! Records are written in batches: every record waiting in the channel is formatted into
//! one buffer and written with one `write` call; while busy, the writer then sleeps 10 ms
//! rather than be woken by each record. A file is
//! opened to append and reopened when `SIGUSR1` arrives (`signal`), before the next batch
//! or within a second when idle; if it cannot be reopened the old handle is kept and the
//! error logged. A failed write (disk full) loses its batch: the records are counted in
//! `berth_access_log_dropped_total` and the error logged; warnings and errors are
//! rate-limited per log statement by `metrics::log_limit`, so a full disk cannot flood the
//! log. The thread ends when every sender is gone (the server stopped).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
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
/// How long a busy writer lets records gather between batches (8,192 queued records per
/// 10 ms: 800,000 requests/s before one is dropped).
const BATCH_WAIT: Duration = Duration::from_millis(10);

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
///
/// Idle, the writer blocks on the channel, and the first record wakes it. Busy, it drains
/// what has come, writes it, and sleeps [`BATCH_WAIT`] before draining again, so that
/// senders find no receiver to wake (a wake is a system call on the request path) and a
/// batch is one `write`.
pub fn run(rx: Receiver<Box<Record>>, format: AccessFormat, mut out: Output) {
    let mut lines = Lines {
        format,
        clock: Clock::default(),
        batch: Vec::with_capacity(BATCH_BYTES),
        count: 0,
    };
    loop {
        let first = match rx.recv_timeout(IDLE_CHECK) {
            Ok(record) => record,
            Err(RecvTimeoutError::Timeout) => {
                out.reopen_if_asked();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        lines.add(&first);
        drop(first);
        loop {
            out.reopen_if_asked();
            let (drained, open) = lines.drain(&rx, &mut out);
            if !open {
                return;
            }
            if drained == 0 {
                break;
            }
            std::thread::sleep(BATCH_WAIT);
        }
    }
}

/// Formatted lines waiting to be written.
struct Lines {
    format: AccessFormat,
    clock: Clock,
    batch: Vec<u8>,
    /// Lines in `batch`.
    count: u64,
}

impl Lines {
    fn add(&mut self, record: &Record) {
        format::line(self.format, record, &mut self.clock, &mut self.batch);
        self.count += 1;
    }

    /// Formats and writes every record waiting in `rx`; returns how many, and `false` once
    /// every sender is gone.
    fn drain(&mut self, rx: &Receiver<Box<Record>>, out: &mut Output) -> (u64, bool) {
        let mut drained = 0;
        let open = loop {
            match rx.try_recv() {
                Ok(record) => {
                    self.add(&record);
                    drained += 1;
                }
                Err(TryRecvError::Empty) => break true,
                Err(TryRecvError::Disconnected) => break false,
            }
            if self.batch.len() >= BATCH_BYTES {
                self.write(out);
            }
        };
        self.write(out);
        (drained, open)
    }

    /// Writes the batch with one call; a failure loses it, counted as dropped.
    fn write(&mut self, out: &mut Output) {
        if self.batch.is_empty() {
            return;
        }
        if let Err(e) = out.write_all(&self.batch) {
            let count = self.count;
            metrics::counter!(crate::metrics::ACCESS_LOG_DROPPED_TOTAL).increment(count);
            error!("access log write failed, {count} lines lost: {e}");
        }
        self.batch.clear();
        self.count = 0;
    }
}
