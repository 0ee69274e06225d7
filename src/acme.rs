//! Automatic HTTPS (control plane): certificates ordered from an ACME CA (RFC 8555) for the
//! names berth serves, stored, renewed, and handed to the TLS listeners.
//!
//! # Layout
//! - [`names`]: which names are wanted (config names, hosts of opted-in services).
//! - [`schedule`]: renewal time, backoff with jitter, the expiry warning window.
//! - [`store`]: the storage directory (account, one file per certificate, lease locks).
//! - [`client`]: the account and the HTTPS client to the CA.
//! - [`order`]: one order, its challenge answered through `tls::acme`.
//! - [`status`]: what the admin API shows.
//! - `job`: a task of the manager (an order under its lease, an ARI question).
//!
//! # How a name gets its certificate
//! Once a second (and at once after a reload or a finished order) the manager compares the
//! wanted names with what it serves. A certificate is always installed *from the store*: one
//! this berth ordered, one another replica sharing the directory ordered, or one stored before
//! a restart all take the same path, so a restart serves stored certificates at once with no
//! new order. A name with no valid stored certificate, or one past two thirds of its
//! lifetime, is ordered under the name's lease lock in the store: one replica orders, the
//! others see the lock, wait, and pick the file up when it appears. The ordering replica
//! publishes its challenge answers in the store and every replica serves them, so the CA
//! may validate through any of them. A failed order is retried
//! after an exponential, jittered backoff (a CA's rate limit is a floor under it); the old
//! certificate keeps serving meanwhile, with a warning from 7 days before it expires.
//!
//! Storage is namespaced by CA directory (`<storage>/<directory host and path>/`), so
//! certificates from a staging CA are never served after switching to production.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use instant_acme::Account;
use tokio::sync::{mpsc, watch, OnceCell};
use tracing::{info, warn};

use crate::config::{Acme as Settings, Config};
use crate::metrics as m;
use crate::model::certs;
use crate::state::snapshot::Snapshot;
use crate::tls::acme::Acme as Shared;

pub mod ari;
pub mod client;
mod job;
pub mod names;
pub mod order;
pub mod schedule;
pub mod status;
pub mod store;

use job::{Job, Outcome};
pub use names::summary;
use names::Source;
use schedule::Backoff;
pub use status::{NameView, Status, View};
use store::{Challenge as StoredChallenge, Store};

/// How often wanted names and the store are looked at.
const TICK: Duration = Duration::from_secs(1);
/// How long an order may hold a name's lock before another replica may take it over.
const LEASE: Duration = Duration::from_secs(300);
/// An order (validation and issuance included) is abandoned after this long.
const ORDER_TIMEOUT: Duration = Duration::from_secs(240);
/// While another replica holds a name's lock, look for its result this often.
const LOCKED_RECHECK: Duration = Duration::from_secs(1);

/// Why an ACME step failed.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("{0}")]
    Api(#[from] instant_acme::Error),
    #[error("acme.ca: {0}")]
    Ca(String),
    #[error("stored account unreadable: {0}")]
    Account(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Refused(String),
    #[error("key or CSR: {0}")]
    Key(String),
    #[error("the order took longer than {0:?}")]
    Timeout(Duration),
    #[error("issued certificate unusable: {0}")]
    Certificate(#[from] certs::CertError),
}

impl AcmeError {
    /// The error and its causes, `: `-separated (an HTTP client error hides its cause).
    fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            let next = e.to_string();
            if !out.contains(&next) {
                out.push_str(": ");
                out.push_str(&next);
            }
            source = e.source();
        }
        out
    }

    /// The wait a rate-limited CA asked for (see [`schedule::rate_limited`]).
    fn floor(&self) -> Option<Duration> {
        let Self::Api(instant_acme::Error::Api(problem)) = self else {
            return None;
        };
        let limited = problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:rateLimited");
        let detail = problem.detail.as_deref().unwrap_or_default();
        limited.then(|| schedule::rate_limited(detail, SystemTime::now()))
    }
}

/// One wanted name.
#[derive(Debug)]
struct Entry {
    source: Source,
    /// The store file's stamp when it was last installed from.
    stamp: Option<(SystemTime, u64)>,
    validity: Option<(SystemTime, SystemTime)>,
    ordering: bool,
    waiting: bool,
    next_attempt: SystemTime,
    backoff: Backoff,
    error: Option<String>,
    warned: bool,
    ari: ari::State,
}

/// The ACME manager of one berth.
pub struct Manager {
    config: watch::Receiver<Arc<Config>>,
    snapshots: Arc<ArcSwap<Snapshot>>,
    shared: Arc<Shared>,
    status: Status,
    owner: String,
    names: BTreeMap<String, Entry>,
    store: Option<(PathBuf, Arc<Store>)>,
    account: Arc<OnceCell<Arc<Account>>>,
    /// The challenge answers in the store, served.
    mirrored: BTreeSet<StoredChallenge>,
}

impl Manager {
    pub fn new(
        config: watch::Receiver<Arc<Config>>,
        snapshots: Arc<ArcSwap<Snapshot>>,
        shared: Arc<Shared>,
        status: Status,
    ) -> Self {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        Self {
            config,
            snapshots,
            shared,
            status,
            owner: format!(
                "{}-{}-{:x}",
                host.trim(),
                std::process::id(),
                fastrand::u32(..)
            ),
            names: BTreeMap::new(),
            store: None,
            account: Arc::default(),
            mirrored: BTreeSet::new(),
        }
    }

    /// Runs until the control plane stops.
    pub async fn run(mut self) {
        let (done_tx, mut done_rx) = mpsc::channel::<(String, Outcome)>(64);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                Ok(()) = self.config.changed() => {}
                Some((name, outcome)) = done_rx.recv() => self.finished(&name, outcome),
            }
            let config = Arc::clone(&self.config.borrow());
            if let Some(settings) = &config.acme {
                self.round(&config, settings, &done_tx);
            }
        }
    }

    /// One look at every wanted name.
    fn round(
        &mut self,
        config: &Config,
        settings: &Settings,
        done: &mpsc::Sender<(String, Outcome)>,
    ) {
        let Some(store) = self.store(settings) else {
            return;
        };
        self.mirror(&store);
        let snapshot = self.snapshots.load();
        let wanted = names::wanted(config, snapshot.services.iter().map(|s| &*s.spec));
        let gone: Vec<String> = self
            .names
            .keys()
            .filter(|n| !wanted.names.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            self.names.remove(&name);
            self.shared.withdraw(&name);
        }
        let now = SystemTime::now();
        for (name, source) in wanted.names {
            let entry = self.names.entry(name.clone()).or_insert_with(|| Entry {
                source: source.clone(),
                stamp: None,
                validity: None,
                ordering: false,
                waiting: false,
                next_attempt: now,
                backoff: Backoff::default(),
                error: None,
                warned: false,
                ari: ari::State::default(),
            });
            entry.source = source;
            install_stored(&self.shared, &store, &name, entry);
            warn_expiring(&name, entry, now);
            if due(entry, now) && !entry.ordering && entry.next_attempt <= now {
                entry.ordering = true;
                let replaces = entry.ari.replaces();
                let job = self.job(&name, settings, &store);
                spawn(job, done.clone(), |job| job.run(replaces));
            } else if let Some(leaf) = entry.ari.ask_now(now) {
                let job = self.job(&name, settings, &store);
                spawn(job, done.clone(), |job| job.ari(leaf));
            }
        }
        self.status.set(View {
            names: self.views(),
            refused: wanted.refused,
        });
    }

    /// Serves the challenge answers published in the store (another replica's order may be
    /// validated through this one; this replica's own answers are served twice, harmlessly)
    /// and stops serving those withdrawn.
    fn mirror(&mut self, store: &Store) {
        let now: BTreeSet<StoredChallenge> = match store.challenges() {
            Ok(found) => found.into_iter().collect(),
            Err(e) => {
                warn!("acme challenge answers of other replicas unreadable: {e}");
                return;
            }
        };
        for gone in self.mirrored.difference(&now) {
            let _ = order::serve(&self.shared, gone, false);
        }
        for new in now.difference(&self.mirrored) {
            if let Err(e) = order::serve(&self.shared, new, true) {
                warn!(key = %new.key, "acme challenge answer in the store unusable: {e}");
            }
        }
        self.mirrored = now;
    }

    /// The store of the current settings, opened once (again after a reload changes it).
    fn store(&mut self, settings: &Settings) -> Option<Arc<Store>> {
        let dir = settings.storage.join(directory_key(&settings.directory));
        if let Some((open, store)) = &self.store {
            if *open == dir {
                return Some(Arc::clone(store));
            }
        }
        match Store::open(&dir) {
            Ok(store) => {
                let store = Arc::new(store);
                self.store = Some((dir, Arc::clone(&store)));
                self.account = Arc::default();
                for answer in std::mem::take(&mut self.mirrored) {
                    let _ = order::serve(&self.shared, &answer, false);
                }
                Some(store)
            }
            Err(e) => {
                if self.store.is_some() || self.names.is_empty() {
                    warn!("acme storage: {e}; no certificate can be ordered or served from it");
                }
                self.store = None;
                None
            }
        }
    }

    fn job(&self, name: &str, settings: &Settings, store: &Arc<Store>) -> Job {
        Job {
            name: name.to_owned(),
            settings: settings.clone(),
            store: Arc::clone(store),
            shared: Arc::clone(&self.shared),
            account: Arc::clone(&self.account),
            owner: self.owner.clone(),
        }
    }

    /// Records how an order ended.
    fn finished(&mut self, name: &str, outcome: Outcome) {
        let Some(entry) = self.names.get_mut(name) else {
            return;
        };
        let settings = self.config.borrow().acme.clone();
        let now = SystemTime::now();
        if let Outcome::Ari(answer) = outcome {
            if let Some(e) = entry.ari.answered(answer, now, fastrand::f64()) {
                warn!(name, "acme renewal information unavailable: {}", e.chain());
            }
            return;
        }
        entry.ordering = false;
        entry.waiting = false;
        match outcome {
            Outcome::Stored => {
                entry.backoff.succeeded();
                entry.error = None;
                entry.stamp = None;
            }
            Outcome::Locked => {
                entry.waiting = true;
                entry.next_attempt = now + LOCKED_RECHECK;
            }
            Outcome::Ari(_) => {}
            Outcome::Failed(e) => {
                metrics::counter!(m::ACME_ORDERS_TOTAL, "result" => "failed").increment(1);
                let base = settings.map_or(Duration::from_secs(60), |s| s.backoff);
                let wait = entry.backoff.failed(base, fastrand::f64(), e.floor());
                entry.next_attempt = now + wait;
                warn!(name, failures = entry.backoff.failures(), retry_in = ?wait,
                    "acme order failed: {}", e.chain());
                entry.error = Some(e.chain());
            }
        }
    }

    fn views(&self) -> Vec<NameView> {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).ok();
        self.names
            .iter()
            .map(|(name, e)| NameView {
                name: name.clone(),
                source: match &e.source {
                    Source::Config => "config".to_owned(),
                    Source::Service(s) => format!("service {s}"),
                },
                state: state(e),
                not_after: e.validity.and_then(|v| secs(v.1)),
                renew_at: renew_at(e).and_then(secs),
                next_attempt: (e.error.is_some() || e.waiting)
                    .then_some(e.next_attempt)
                    .and_then(secs),
                failures: e.backoff.failures(),
                error: e.error.clone(),
            })
            .collect()
    }
}

/// The word `/api/certificates` shows for an entry.
fn state(e: &Entry) -> &'static str {
    match (
        e.validity.is_some(),
        e.ordering,
        e.waiting,
        e.error.is_some(),
    ) {
        (_, _, true, _) => "waiting",
        (false, true, _, _) => "ordering",
        (true, true, _, _) => "renewing",
        (_, false, _, true) => "failed",
        (true, false, _, false) => "valid",
        (false, false, _, false) => "pending",
    }
}

/// Whether `entry` needs an order: no certificate, or past its renewal time.
fn due(entry: &Entry, now: SystemTime) -> bool {
    renew_at(entry).map_or(true, |at| now >= at)
}

/// When the certificate of `entry` is renewed: at two thirds of its lifetime, or earlier in
/// the window the CA asked for.
fn renew_at(entry: &Entry) -> Option<SystemTime> {
    let by_lifetime = schedule::renew_at(entry.validity?);
    Some(
        entry
            .ari
            .renew_at()
            .map_or(by_lifetime, |t| t.min(by_lifetime)),
    )
}

/// Runs `task` of `job` and reports its outcome to the manager.
fn spawn<F, Fut>(job: Job, done: mpsc::Sender<(String, Outcome)>, task: F)
where
    F: FnOnce(Arc<Job>) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let job = Arc::new(job);
    let name = job.name.clone();
    let running = task(job);
    tokio::spawn(async move {
        let outcome = running.await;
        let _ = done.send((name, outcome)).await;
    });
}

/// Installs the stored certificate of `name` when the file changed since it was last read.
fn install_stored(shared: &Shared, store: &Store, name: &str, entry: &mut Entry) {
    let stamp = store.stamp(name);
    if stamp.is_none() || stamp == entry.stamp {
        return;
    }
    entry.stamp = stamp;
    match read_stored(store, name) {
        Ok(Some(loaded)) if loaded.validity.1 > SystemTime::now() => {
            let not_after = loaded.validity.1;
            entry.validity = Some(loaded.validity);
            entry.warned = false;
            entry.waiting = false;
            if let Some(leaf) = loaded.key.cert.first() {
                entry.ari.installed(leaf.clone().into_owned());
            }
            shared.install(name, loaded.key);
            m::certificate_expiry(name, "acme", not_after);
            info!(name, not_after = %humantime::format_rfc3339_seconds(not_after),
                "acme certificate installed");
        }
        Ok(_) => {}
        Err(e) => warn!(name, "stored acme certificate unusable, ordering anew: {e}"),
    }
}

/// The certificate of `name` in the store, parsed (`None` when there is none).
fn read_stored(store: &Store, name: &str) -> Result<Option<certs::Loaded>, AcmeError> {
    let Some(stored) = store.certificate(name)? else {
        return Ok(None);
    };
    let pem = certs::Pem::in_memory(
        store.certificate_path(name)?,
        stored.chain_pem.into_bytes(),
        stored.key_pem.into_bytes(),
    );
    Ok(Some(pem.parse()?))
}

/// Warns once when the certificate of `name` is within a week of expiry and not renewed.
fn warn_expiring(name: &str, entry: &mut Entry, now: SystemTime) {
    let Some((_, not_after)) = entry.validity else {
        return;
    };
    if entry.error.is_some() && !entry.warned && schedule::in_warning(not_after, now) {
        entry.warned = true;
        warn!(name, not_after = %humantime::format_rfc3339_seconds(not_after),
            "acme certificate expires within 7 days and could not be renewed");
    }
}

/// The store subdirectory of a CA: its directory URL's host, port and path.
fn directory_key(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let key: String = rest
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    key.trim_matches(['-', '.']).to_owned()
}
