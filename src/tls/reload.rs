//! Certificate reloads (control plane): files watched, re-read on change, `SIGHUP` or a config
//! edit, swapped in without dropping a connection.
//!
//! The directories of every certificate and key file (and of the config file) are watched for
//! changes to those names, so a file replaced by rename, a symlink flipped by certbot or a
//! Kubernetes secret update (`..data`) is seen, and a busy log file beside them is not. After a quiet period a reload re-reads every entry of every `https` listener
//! (with the config file, the entries it now lists); files whose bytes did not change are
//! left alone. A complete, consistent new set replaces the old one at once (new handshakes
//! use it; established connections keep theirs); anything wrong — unreadable, not PEM, key
//! not matching — is logged and counted once (`berth_tls_reloads_total{result="error"}`) and
//! the old certificates keep serving. Invariant: a listener never serves a partial set.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::Terminator;
use crate::config::{self, Config};
use crate::metrics as m;
use crate::model::{certs, CertificateFiles};

/// Quiet time after the last file event before reloading: a cert and its key written one
/// after the other are read together.
const QUIET: Duration = Duration::from_millis(250);
/// Longest wait for quiet while files keep changing.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// What a reload of one listener did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Same files, same bytes: nothing to do.
    Unchanged,
    /// The new set serves from the next handshake on.
    Reloaded,
    /// Refused with this reason; the previous set keeps serving.
    Refused(String),
}

/// What a listener serves now, and the last refused attempt (so that the same bad files,
/// seen again, are not reported again).
#[derive(Debug)]
pub(super) struct Served {
    files: Vec<(CertificateFiles, certs::Pem)>,
    refused: Option<(Vec<certs::Pem>, String)>,
}

impl Served {
    pub(super) fn new(files: Vec<(CertificateFiles, certs::Pem)>) -> Self {
        Self {
            files,
            refused: None,
        }
    }

    /// Each entry served and its bytes.
    pub(super) fn pems(&self) -> impl Iterator<Item = &(CertificateFiles, certs::Pem)> {
        self.files.iter()
    }
}

impl Terminator {
    /// Re-reads the certificates: `files` (from a reloaded config) or the ones now served.
    pub fn reload(&self, files: Option<&[CertificateFiles]>) -> Outcome {
        let mut served = lock(&self.served);
        let wanted: Vec<CertificateFiles> = match files {
            Some(f) => f.to_vec(),
            None => served.files.iter().map(|(f, _)| f.clone()).collect(),
        };
        let outcome = self.swap(&mut served, &wanted);
        let result = match &outcome {
            Outcome::Unchanged => return outcome,
            Outcome::Reloaded => {
                info!(listener = %self.name, certificates = wanted.len(), "certificates reloaded");
                "ok"
            }
            Outcome::Refused(why) => {
                error!(listener = %self.name,
                    "certificate reload refused, the previous certificates keep serving: {why}");
                "error"
            }
        };
        metrics::counter!(m::TLS_RELOADS_TOTAL, "listener" => self.name.to_string(), "result" => result)
            .increment(1);
        outcome
    }

    fn swap(&self, served: &mut Served, wanted: &[CertificateFiles]) -> Outcome {
        let (pems, problem) = read_all(wanted);
        if problem.is_none() && pems.iter().eq(served.files.iter().map(|(_, p)| p)) {
            served.refused = None;
            return Outcome::Unchanged;
        }
        let loaded = match problem {
            Some(why) => Err(why),
            None => parse_all(&pems),
        };
        let set = loaded.and_then(|l| {
            super::record_expiry(&l);
            super::set_of(l, self.fallback.as_ref()).ok_or_else(|| "no certificates listed".into())
        });
        match set {
            Ok(set) => {
                self.resolver.store(set);
                served.files = wanted.iter().cloned().zip(pems).collect();
                served.refused = None;
                Outcome::Reloaded
            }
            Err(why) => {
                let attempt = (pems, why);
                if served.refused.as_ref() == Some(&attempt) {
                    return Outcome::Unchanged;
                }
                let why = attempt.1.clone();
                served.refused = Some(attempt);
                Outcome::Refused(why)
            }
        }
    }

    /// The directories and file names of the files now served.
    fn files(&self) -> Vec<PathBuf> {
        lock(&self.served)
            .files
            .iter()
            .flat_map(|(f, _)| [f.cert.clone(), f.key.clone()])
            .collect()
    }
}

/// The bytes of each entry, up to the first that cannot be read (and why).
fn read_all(wanted: &[CertificateFiles]) -> (Vec<certs::Pem>, Option<String>) {
    let mut pems = Vec::with_capacity(wanted.len());
    for (i, f) in wanted.iter().enumerate() {
        match certs::read(f) {
            Ok(pem) => pems.push(pem),
            Err(e) => return (pems, Some(format!("tls.certificates[{i}]: {e}"))),
        }
    }
    (pems, None)
}

fn parse_all(pems: &[certs::Pem]) -> Result<Vec<certs::Loaded>, String> {
    pems.iter()
        .enumerate()
        .map(|(i, pem)| {
            pem.parse()
                .map_err(|e| format!("tls.certificates[{i}]: {e}"))
        })
        .collect()
}

/// The lock is only taken by reloads on the control plane; a panic while holding it cannot
/// leave the data half-written (it is replaced whole), so a poisoned lock is used as is.
pub(super) fn lock<T>(m: &std::sync::Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Reloads `terminators` on file changes, `SIGHUP` and edits of `config_path`, forever.
pub async fn watch(terminators: Vec<Arc<Terminator>>, config_path: Option<PathBuf>) {
    let (tx, mut events) = mpsc::channel::<()>(16);
    let names = Names::default();
    let mut watcher = match watcher(tx, Arc::clone(&names)) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!("cannot watch certificate files ({e}); reload them with SIGHUP");
            None
        }
    };
    let mut watched = HashSet::new();
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let files = terminators
            .iter()
            .flat_map(|t| t.files())
            .chain(config_path.clone());
        track(watcher.as_mut(), &mut watched, &names, files);
        tokio::select! {
            Some(()) = events.recv() => settle(&mut events).await,
            Some(()) = recv(&mut hup) => info!("SIGHUP: re-reading certificates"),
            else => return,
        }
        let config = config_path.as_deref().and_then(reloaded_config);
        for t in &terminators {
            let files = config
                .as_ref()
                .and_then(|c| c.listeners.get(&*t.name))
                .and_then(|l| l.tls.as_ref())
                .map(|tls| &tls.certificates[..]);
            t.reload(files);
        }
    }
}

/// The config file as now written, when valid (its errors are the config reload's to report).
fn reloaded_config(path: &Path) -> Option<Config> {
    config::load(path)
        .map_err(|e| debug!("certificates re-read from the files in use: config invalid: {e}"))
        .ok()
}

/// Waits until no event came for [`QUIET`] (at most [`MAX_WAIT`]).
async fn settle(events: &mut mpsc::Receiver<()>) {
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        tokio::time::sleep(QUIET).await;
        let mut more = false;
        while events.try_recv().is_ok() {
            more = true;
        }
        if !more || tokio::time::Instant::now() >= deadline {
            return;
        }
    }
}

async fn recv(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// File names whose changes matter (certificates, keys, the config file).
type Names = Arc<RwLock<HashSet<OsString>>>;

/// Makes `files` the ones that matter, and watches each of their directories once.
fn track(
    watcher: Option<&mut notify::RecommendedWatcher>,
    watched: &mut HashSet<PathBuf>,
    names: &Names,
    files: impl Iterator<Item = PathBuf>,
) {
    let mut wanted = HashSet::new();
    let mut dirs = Vec::new();
    for f in files {
        wanted.extend(f.file_name().map(ToOwned::to_owned));
        dirs.push(directory(&f));
    }
    *names.write().unwrap_or_else(|p| p.into_inner()) = wanted;
    let Some(w) = watcher else { return };
    for dir in dirs {
        if watched.contains(&dir) {
            continue;
        }
        match w.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                watched.insert(dir);
            }
            Err(e) => warn!(dir = %dir.display(), "cannot watch for certificate changes: {e}"),
        }
    }
}

/// Signals changes (not reads, ours included) to a file in `names`, or to a `..`-named entry
/// (the `..data` symlink a Kubernetes secret volume flips on update).
fn watcher(tx: mpsc::Sender<()>, names: Names) -> notify::Result<notify::RecommendedWatcher> {
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let names = names.read().unwrap_or_else(|p| p.into_inner());
        let matters = event
            .paths
            .iter()
            .filter_map(|p| p.file_name())
            .any(|n| names.contains(n) || n.as_encoded_bytes().starts_with(b".."));
        if matters {
            // A full channel already holds a pending reload; dropping this one loses nothing.
            let _ = tx.try_send(());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    #[test]
    fn a_bad_replacement_is_refused_once_and_a_good_one_swapped_in() {
        let dir = std::env::temp_dir().join(format!("berth-reload-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("c.pem"), dir.join("c.key"));
        let put = |c: &str, k: &str| {
            std::fs::copy(fixture(c), &cert).expect("copy cert");
            std::fs::copy(fixture(k), &key).expect("copy key");
        };
        put("a.pem", "a.key");
        let files = [CertificateFiles {
            cert: cert.clone(),
            key: key.clone(),
            names: Vec::new(),
        }];
        let t = Terminator::new("unit", &files, None).expect("terminator");
        assert_eq!(t.reload(None), Outcome::Unchanged);
        put("b.pem", "a.key");
        assert!(matches!(t.reload(None), Outcome::Refused(why) if why.contains("does not match")));
        assert_eq!(
            t.reload(None),
            Outcome::Unchanged,
            "the same refusal is not repeated"
        );
        put("b.pem", "b.key");
        assert_eq!(t.reload(None), Outcome::Reloaded);
        assert_eq!(t.reload(None), Outcome::Unchanged);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
