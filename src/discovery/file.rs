//! The file provider (control plane): static services from the config file.
//!
//! Turns the `services:` section into one [`Update::Reset`] for [`ProviderId::File`], and
//! watches the file: an edit reloads it once the file has been quiet for [`SETTLE`] (a file
//! written in several steps is read whole), `SIGHUP` at once. A reload that fails
//! validation, finds the file empty, or would remove every service without saying so
//! (`config::reload`) is refused — the error is logged and counted, and the last good
//! config keeps serving.
//! A valid reload goes to the reconciler (`Input::Config`, then this provider's `Reset`) and
//! then into the config `watch` the Docker provider follows.
//! Invariant: the reconciler and the Docker provider only ever see a config that validated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::Input;
use crate::config::{self, Config, StaticService};
use crate::metrics as m;
use crate::model::{Availability, EndpointKey, EndpointSpec, ProviderId, Update};

/// The file must be quiet this long after a change before it is read (an editor or a tool
/// may write it in several steps); an atomic rename is read at once after it.
const SETTLE: Duration = Duration::from_secs(1);
/// The longest a stream of changes delays a reload.
const MAX_SETTLE: Duration = Duration::from_secs(5);

/// The file provider's complete view of `config`.
pub fn reset(config: &Config) -> Update {
    Update::Reset {
        provider: ProviderId::File,
        endpoints: config.services.values().flat_map(endpoints).collect(),
    }
}

fn endpoints(service: &StaticService) -> Vec<EndpointSpec> {
    let spec = &service.spec;
    let source: Arc<str> = format!("static:{}", spec.name).into();
    let origin: Arc<str> = format!("static service {}", spec.name).into();
    service
        .backends
        .iter()
        .map(|b| EndpointSpec {
            key: EndpointKey {
                source: Arc::clone(&source),
                addr: b.address,
            },
            weight: b.weight.get(),
            service: Arc::clone(spec),
            availability: Availability::default(),
            origin: Arc::clone(&origin),
        })
        .collect()
}

/// Reloads `path` whenever it changes or `SIGHUP` arrives, until `tx` closes. `config` holds
/// the current config; each valid change is published there after the reconciler has it.
pub async fn watch(path: PathBuf, config: watch::Sender<Arc<Config>>, tx: mpsc::Sender<Input>) {
    let (events_tx, mut events) = mpsc::channel::<()>(16);
    let _watcher = match file_watcher(&path, events_tx) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(file = %path.display(), "cannot watch config file ({e}); reload with SIGHUP");
            None
        }
    };
    let mut hup = hangup_signal();
    let mut current = Arc::clone(&config.borrow());
    loop {
        tokio::select! {
            Some(()) = events.recv() => settle(&mut events).await,
            Some(()) = recv_hup(&mut hup) => info!("SIGHUP: reloading config"),
            else => return,
        }
        match reload(&path, &current) {
            Reload::Unchanged => {}
            Reload::Invalid => {}
            Reload::Changed(next) => {
                current = Arc::clone(&next);
                if tx.send(Input::Config(Arc::clone(&next))).await.is_err()
                    || tx.send(Input::Update(reset(&next))).await.is_err()
                {
                    return;
                }
                // No receiver (no Docker provider) is fine: the value is stored regardless.
                config.send_replace(next);
            }
        }
    }
}

enum Reload {
    Unchanged,
    Invalid,
    Changed(Arc<Config>),
}

/// Waits until no change has come for [`SETTLE`] (at most [`MAX_SETTLE`]).
async fn settle(events: &mut mpsc::Receiver<()>) {
    let deadline = tokio::time::Instant::now() + MAX_SETTLE;
    loop {
        let quiet = tokio::time::sleep(SETTLE);
        tokio::select! {
            () = quiet => return,
            () = tokio::time::sleep_until(deadline) => return,
            more = events.recv() => if more.is_none() { return },
        }
    }
}

fn reload(path: &Path, current: &Config) -> Reload {
    match config::reload(path, current) {
        Err(e) => {
            error!("config reload refused, the last good config keeps serving:\n{e}");
            metrics::counter!(m::CONFIG_RELOADS_TOTAL, "result" => "error").increment(1);
            Reload::Invalid
        }
        Ok(next) if next == *current => Reload::Unchanged,
        Ok(next) => {
            warn_restart_only(current, &next);
            info!(file = %path.display(), services = next.services.len(), "config reloaded");
            metrics::counter!(m::CONFIG_RELOADS_TOTAL, "result" => "ok").increment(1);
            Reload::Changed(Arc::new(next))
        }
    }
}

/// Listener, admin and worker changes need a restart; say so instead of ignoring them silently.
fn warn_restart_only(current: &Config, next: &Config) {
    let listeners_changed = current.listeners.len() != next.listeners.len()
        || current
            .listeners
            .iter()
            .zip(&next.listeners)
            .any(|((a, la), (b, lb))| {
                a != b
                    || la.address != lb.address
                    || la.protocol != lb.protocol
                    || la.max_connections != lb.max_connections
            });
    let restart_only = listeners_changed
        || current.admin != next.admin
        || current.workers != next.workers
        || current.connections != next.connections;
    if restart_only {
        warn!("listener, admin, connections and workers changes take effect at the next restart");
    }
}

/// Watches the file's directory (editors often replace the file) and signals changes to it.
fn file_watcher(path: &Path, tx: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
    let file_name = path.file_name().map(|n| n.to_owned());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == file_name.as_deref())
        {
            // A full channel already holds a pending reload; dropping this one loses nothing.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
    None
}

#[cfg(unix)]
async fn recv_hup(hup: &mut Hangup) -> Option<()> {
    match hup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv_hup(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
