//! The optional access log (data plane hands off, a writer thread writes).
//!
//! When `log.access_log` is on, each request's summary is sent over a bounded channel to a
//! writer thread that emits it through `tracing` (target `berth::access`, so it follows the
//! configured text/JSON format). The request path never waits: a full channel drops the
//! record and counts it. Off (the default), the cost is one atomic load per request.

use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Method;

/// Records buffered between workers and the writer.
const QUEUE: usize = 8192;
/// Longest path kept in a record.
const MAX_PATH: usize = 256;

static SINK: OnceLock<SyncSender<Record>> = OnceLock::new();

/// One served request.
#[derive(Debug)]
pub struct Record {
    pub listener: Arc<str>,
    pub service: Option<Arc<str>>,
    pub client: IpAddr,
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub duration: Duration,
}

/// Starts the writer thread; later calls do nothing. The setting is read once, at start.
pub fn enable() {
    SINK.get_or_init(|| {
        let (tx, rx) = sync_channel::<Record>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("berth-access-log".into())
            .spawn(move || {
                for r in rx {
                    tracing::info!(
                        target: "berth::access",
                        listener = %r.listener,
                        service = r.service.as_deref().unwrap_or("-"),
                        client = %r.client,
                        method = %r.method,
                        path = %r.path,
                        status = r.status,
                        duration_ms = r.duration.as_secs_f64() * 1e3,
                    );
                }
            });
        if let Err(e) = spawned {
            tracing::error!("access log writer failed to start: {e}");
        }
        tx
    });
}

/// True when records should be built.
#[inline]
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// The path as logged: at most `MAX_PATH` bytes, cut on a character boundary.
pub fn loggable_path(path: &str) -> String {
    let mut end = path.len().min(MAX_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

/// Hands a record to the writer without waiting; drops it when the writer is behind.
pub fn write(record: Record) {
    if let Some(tx) = SINK.get() {
        if let Err(TrySendError::Full(_)) = tx.try_send(record) {
            metrics::counter!(crate::metrics::ACCESS_LOG_DROPPED_TOTAL).increment(1);
        }
    }
}
