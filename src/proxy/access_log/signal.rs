//! `SIGUSR1`: reopen the access-log files (logrotate's `postrotate kill -USR1`).
//!
//! One handler per process, installed the first time a file target starts and kept for the
//! life of the process: a thread of its own waits for the signal and bumps a generation
//! counter that every writer compares with the one its file was opened at. Once installed,
//! `SIGUSR1` no longer terminates the process (its default action), so a stray signal is
//! harmless. Several servers in one process (the tests) each reopen their own file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};

use tracing::{error, info};

/// Bumped on each `SIGUSR1`.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether the handler is installed (set once).
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// The number of `SIGUSR1`s received so far.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Installs the handler unless it is; returns once it is in place (`false`: it could not
/// be, logged).
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let (ready, installed) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("berth-sigusr1".into())
            .spawn(move || listen(&ready));
        match spawned {
            Ok(_) => installed.recv().unwrap_or(false),
            Err(e) => {
                error!("SIGUSR1 handler thread failed to start: {e}");
                false
            }
        }
    })
}

/// Waits for `SIGUSR1` forever, after saying on `ready` whether the handler is installed.
fn listen(ready: &mpsc::Sender<bool>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            error!("SIGUSR1 handler runtime failed to start: {e}");
            let _ = ready.send(false);
            return;
        }
    };
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr1 = match signal(SignalKind::user_defined1()) {
            Ok(s) => s,
            Err(e) => {
                error!("SIGUSR1 handler cannot be installed: {e}; access log files will not be reopened");
                let _ = ready.send(false);
                return;
            }
        };
        let _ = ready.send(true);
        while usr1.recv().await.is_some() {
            GENERATION.fetch_add(1, Ordering::AcqRel);
            info!("SIGUSR1: reopening access log files");
        }
    });
}
