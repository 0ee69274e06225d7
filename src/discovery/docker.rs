//! The Docker provider (control plane): engine events in, endpoint updates out.
//!
//! A session lists and inspects the running containers, sends the complete view as one
//! `Reset`, then follows the engine's event stream from a moment *before* the listing (the
//! engine replays events since then), so no change falls between the two. Every container
//! event is answered by re-inspecting that container and upserting or removing its endpoint,
//! except `kill` with a stopping signal and `stop`, which drain at once — before the process
//! exits. When the engine goes away the last known routes keep serving; the provider
//! reconnects with capped backoff and resyncs with a fresh `Reset`.
//!
//! The provider follows the current config (a `watch` the file provider updates on reload):
//! when a reload changes anything the label rules read ([`Settings`]: the prefix,
//! `exposed_by_default`, `docker.network`, `defaults`, the http listeners) the session
//! resyncs — re-lists, re-inspects and judges every container with the new settings and
//! sends a `Reset`, which keeps the state of every endpoint whose key is unchanged. A reload
//! that changes `docker.endpoint` reconnects to the new engine (the last known routes serve
//! until it answers); `docker.enabled: false` withdraws every container until re-enabled.
//!
//! Invariants: a container's labels are judged by pure functions ([`labels`]); a bad label
//! rejects that container only (logged, counted, listed on `/api/rejected`); nothing here
//! panics on engine input.

pub mod facts;
mod inspect;
pub mod labels;
pub mod network;
pub(crate) mod own;
mod session;
mod summary;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::{Config, Engine, Protocol};
use crate::discovery::Input;
use crate::metrics as m;
use crate::model::{Defaults, ProviderId, Update};

pub use inspect::is_stopping_signal;
pub use session::{event_time, Exit, Session};

/// The current config, replaced on every valid reload.
pub type ConfigWatch = watch::Receiver<Arc<Config>>;

/// First wait before reconnecting to the engine; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Seconds an engine request may take before it is abandoned.
const API_TIMEOUT_SECS: u64 = 30;

/// A container berth refused, with the reason, for `/api/rejected`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RejectedContainer {
    pub id: String,
    pub name: String,
    pub reason: String,
}

/// Containers currently rejected, by id; shared with the admin API.
pub type RejectedList = Arc<Mutex<BTreeMap<String, RejectedContainer>>>;

/// One provider's rejections: the list `/api/rejected` reads, kept with its gauge, each new
/// or changed rejection warned about and counted once.
#[derive(Clone, Debug)]
pub struct Rejects {
    list: RejectedList,
    source: Source,
}

impl Rejects {
    pub fn new(list: RejectedList, source: Source) -> Self {
        Self { list, source }
    }

    /// Records `entry` (replacing that id's); a rejection that stays the same is not warned
    /// about or counted again.
    pub fn record(&self, entry: RejectedContainer) {
        let mut list = self.lock();
        if list.get(&entry.id) != Some(&entry) {
            let what = self.source.subject();
            warn!(name = %entry.name, id = %entry.id, "{what} rejected: {}", entry.reason);
            metrics::counter!(self.source.rejected_total()).increment(1);
        }
        list.insert(entry.id.clone(), entry);
        self.gauge(list.len());
    }

    /// Forgets the rejection of `id`, if any.
    pub fn clear(&self, id: &str) {
        let mut list = self.lock();
        if list.remove(id).is_some() {
            self.gauge(list.len());
        }
    }

    /// Keeps only the rejections whose id `listed` accepts.
    pub fn keep(&self, listed: impl Fn(&str) -> bool) {
        let mut list = self.lock();
        list.retain(|id, _| listed(id));
        self.gauge(list.len());
    }

    fn gauge(&self, len: usize) {
        metrics::gauge!(self.source.rejected_gauge()).set(len as f64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RejectedContainer>> {
        // A poisoned lock only means a panic elsewhere mid-update; the map is still usable.
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why the engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("docker endpoint {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("docker engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("docker event stream ended")]
    StreamEnded,
}

/// Which engine provider, and so which section of the config it follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `docker:`: the engine's containers.
    Docker,
    /// `swarm:`: a manager's services and their tasks.
    Swarm,
}

impl Source {
    /// Its section of the config.
    pub fn section(self, config: &Config) -> &Engine {
        match self {
            Source::Docker => &config.docker,
            Source::Swarm => &config.swarm.engine,
        }
    }

    pub fn provider(self) -> ProviderId {
        match self {
            Source::Docker => ProviderId::Docker,
            Source::Swarm => ProviderId::Swarm,
        }
    }

    /// The config section's name, as logs say it.
    pub fn name(self) -> &'static str {
        match self {
            Source::Docker => "docker",
            Source::Swarm => "swarm",
        }
    }

    /// The gauge counting what it currently rejects.
    pub fn rejected_gauge(self) -> &'static str {
        match self {
            Source::Docker => m::DOCKER_REJECTED,
            Source::Swarm => m::SWARM_REJECTED,
        }
    }

    /// The counter of its rejections.
    pub fn rejected_total(self) -> &'static str {
        match self {
            Source::Docker => m::DOCKER_REJECTED_TOTAL,
            Source::Swarm => m::SWARM_REJECTED_TOTAL,
        }
    }

    /// What it rejects, as logs say it.
    pub fn subject(self) -> &'static str {
        match self {
            Source::Docker => "container",
            Source::Swarm => "swarm service",
        }
    }
}

/// Everything a provider needs from the config: where the engine is, and what the label
/// rules read.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub enabled: bool,
    pub endpoint: Option<String>,
    pub prefix: String,
    pub exposed_by_default: bool,
    pub network: Option<String>,
    pub defaults: Defaults,
    pub http_listeners: Vec<String>,
    pub l4_listeners: Vec<(String, Protocol)>,
}

impl Settings {
    /// What `source`'s section and the rest of `config` say.
    pub fn from_config(config: &Config, source: Source) -> Self {
        let engine = source.section(config);
        Self {
            enabled: engine.enabled,
            endpoint: engine.endpoint.clone(),
            prefix: engine.label_prefix.clone(),
            exposed_by_default: engine.exposed_by_default,
            network: engine.network.clone(),
            defaults: config.defaults.clone(),
            http_listeners: config
                .listeners
                .values()
                .filter(|l| matches!(l.protocol, Protocol::Http | Protocol::Https))
                .map(|l| l.name.clone())
                .collect(),
            l4_listeners: config
                .listeners
                .values()
                .filter(|l| l.protocol.is_l4())
                .map(|l| (l.name.clone(), l.protocol))
                .collect(),
        }
    }

    /// True when `next` asks for another engine (or none): a new session, not a resync.
    pub fn connection_differs(&self, next: &Settings) -> bool {
        self.enabled != next.enabled || self.endpoint != next.endpoint
    }
}

/// Waits for the next config; never returns once no reload can come (no watched file).
pub async fn next_config(config: &mut ConfigWatch) -> Arc<Config> {
    if config.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
    Arc::clone(&config.borrow_and_update())
}

/// One connection's worth of following an engine; [`follow`] starts a new one after each.
pub trait EngineSession: Send {
    /// A session with the engine `client`, judging by `settings`.
    fn open(
        client: Docker,
        settings: Settings,
        tx: mpsc::Sender<Input>,
        rejected: RejectedList,
    ) -> Self;

    /// Lists, then follows the engine and config reloads until the engine or the reconciler
    /// goes away, or a reload asks for another engine.
    fn run(
        &mut self,
        config: &mut ConfigWatch,
    ) -> impl Future<Output = Result<Exit, DockerError>> + Send;

    /// True once the session has read the engine's state.
    fn was_established(&self) -> bool;
}

/// Connects to the engine at `endpoint` (`unix://…`, `tcp://…`, `http://…`), or where
/// `DOCKER_HOST` says, or the default socket.
pub fn connect(endpoint: Option<&str>) -> Result<Docker, DockerError> {
    let fail = |endpoint: &str, reason: String| DockerError::Connect {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let endpoint = engine_endpoint(endpoint);
    let version = bollard::API_DEFAULT_VERSION;
    if let Some(path) = endpoint.strip_prefix("unix://") {
        if !std::path::Path::new(path).exists() {
            return Err(fail(
                &endpoint,
                "socket not found; is the engine running? set docker.endpoint or DOCKER_HOST"
                    .into(),
            ));
        }
        Docker::connect_with_unix(&endpoint, API_TIMEOUT_SECS, version)
            .map_err(|e| fail(&endpoint, e.to_string()))
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        Docker::connect_with_http(&endpoint, API_TIMEOUT_SECS, version)
            .map_err(|e| fail(&endpoint, e.to_string()))
    } else {
        Err(fail(
            &endpoint,
            "unsupported scheme; use unix:///path/to/docker.sock or tcp://host:port".into(),
        ))
    }
}

/// The endpoint as configured, else `DOCKER_HOST`, else the default socket.
pub fn engine_endpoint(configured: Option<&str>) -> String {
    configured
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned())
}

/// Explains an engine error in operator terms (permission, missing engine).
pub fn explain(err: &DockerError) -> String {
    let text = err.to_string();
    if text.contains("Permission denied") || text.contains("permission denied") {
        format!("{text} — berth needs access to the Docker socket: run it in the docker group or mount the socket")
    } else if text.contains("Connection refused") || text.contains("No such file") {
        format!("{text} — is the Docker engine running?")
    } else {
        text
    }
}

/// The Docker provider task, until `tx` closes.
pub async fn run(config: ConfigWatch, tx: mpsc::Sender<Input>, rejected: RejectedList) {
    follow::<Session>(Source::Docker, config, tx, rejected).await;
}

/// A provider task, until `tx` closes: sessions `S` with the engine `source`'s section
/// names, reconnecting with capped backoff; idle (its endpoints withdrawn) while disabled.
pub async fn follow<S: EngineSession>(
    source: Source,
    mut config: ConfigWatch,
    tx: mpsc::Sender<Input>,
    rejected: RejectedList,
) {
    let name = source.name();
    let mut backoff = MIN_BACKOFF;
    let mut was_enabled = false;
    loop {
        let settings = Settings::from_config(&config.borrow_and_update(), source);
        if !settings.enabled {
            if was_enabled {
                info!("{name} provider disabled by a config reload; withdrawing its endpoints");
                withdraw(source, &tx, &rejected).await;
                was_enabled = false;
            }
            next_config(&mut config).await;
            continue;
        }
        was_enabled = true;
        let client = match connect(settings.endpoint.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                warn!("{name}: {}; retrying in {backoff:?}", explain(&e));
                pause(&mut backoff, &mut config).await;
                continue;
            }
        };
        let mut session = S::open(client, settings, tx.clone(), Arc::clone(&rejected));
        let outcome = session.run(&mut config).await;
        if tx.is_closed() {
            return;
        }
        if session.was_established() {
            backoff = MIN_BACKOFF;
        }
        match outcome {
            Ok(Exit::Closed) => return,
            Ok(Exit::Reconfigured) => {
                info!("a config reload changed {name}.enabled or {name}.endpoint; starting over");
                backoff = MIN_BACKOFF;
                continue;
            }
            Err(e) => warn!(
                "{name}: {}; serving the last known routes, reconnecting in {backoff:?}",
                explain(&e)
            ),
        }
        pause(&mut backoff, &mut config).await;
    }
}

/// Waits `backoff` (cut short by a config reload, which may fix the endpoint), then doubles it.
async fn pause(backoff: &mut Duration, config: &mut ConfigWatch) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        _ = next_config(config) => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

/// Removes every endpoint and rejection of `source` (the provider was disabled).
async fn withdraw(source: Source, tx: &mpsc::Sender<Input>, rejected: &RejectedList) {
    let reset = Update::Reset {
        provider: source.provider(),
        endpoints: Vec::new(),
    };
    // A closed channel means berth is stopping; nothing is left to withdraw from.
    let _ = tx.send(Input::Update(reset)).await;
    Rejects::new(Arc::clone(rejected), source).keep(|_| false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_is_a_clear_error() {
        let err = connect(Some("unix:///nonexistent/docker.sock")).expect_err("no socket");
        let text = explain(&err);
        assert!(text.contains("unix:///nonexistent/docker.sock"), "{text}");
        assert!(text.contains("socket not found"), "{text}");
    }

    #[test]
    fn an_unsupported_scheme_says_what_is_valid() {
        let err = connect(Some("ftp://host")).expect_err("bad scheme");
        assert!(
            err.to_string().contains("unix:///path/to/docker.sock"),
            "{err}"
        );
    }

    fn config(docker: &str, defaults: &str) -> Arc<Config> {
        let text = format!("docker: {{ {docker} }}\ndefaults: {{ {defaults} }}\n");
        Arc::new(crate::config::parse(&text, "test.yaml").expect("valid config"))
    }

    #[test]
    fn settings_follow_what_the_label_rules_read() {
        let base = Settings::from_config(&config("enabled: true", "retries: 2"), Source::Docker);
        let retries = Settings::from_config(&config("enabled: true", "retries: 4"), Source::Docker);
        assert_ne!(base, retries);
        assert!(
            !base.connection_differs(&retries),
            "a resync, not a new session"
        );
        let exposed = Settings::from_config(
            &config("exposed_by_default: true", "retries: 2"),
            Source::Docker,
        );
        assert_ne!(base, exposed);
        assert!(!base.connection_differs(&exposed));
        let moved = Settings::from_config(
            &config("endpoint: \"tcp://10.0.0.1:2375\"", ""),
            Source::Docker,
        );
        assert!(base.connection_differs(&moved));
        let off = Settings::from_config(&config("enabled: false", "retries: 2"), Source::Docker);
        assert!(base.connection_differs(&off));
    }

    #[tokio::test]
    async fn a_reload_that_disables_the_provider_withdraws_its_containers() {
        let (config_tx, config_rx) =
            watch::channel(config("endpoint: \"unix:///nonexistent/docker.sock\"", ""));
        let (tx, mut rx) = mpsc::channel(8);
        let rejected = RejectedList::default();
        let stale = RejectedContainer {
            id: "c1".into(),
            name: "web-1".into(),
            reason: "bad label".into(),
        };
        rejected
            .lock()
            .expect("unpoisoned")
            .insert("c1".into(), stale);
        let provider = tokio::spawn(run(config_rx, tx, Arc::clone(&rejected)));
        // Let it try the (missing) engine first, so it counts as enabled.
        tokio::time::sleep(Duration::from_millis(50)).await;
        config_tx.send_replace(config("enabled: false", ""));
        let input = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an input within 5s")
            .expect("an input");
        let Input::Update(Update::Reset {
            provider: ProviderId::Docker,
            endpoints,
        }) = input
        else {
            panic!("not a Docker reset: {input:?}");
        };
        assert!(endpoints.is_empty());
        assert!(rejected.lock().expect("unpoisoned").is_empty());
        provider.abort();
    }

    #[test]
    fn permission_problems_are_explained() {
        let err = DockerError::Connect {
            endpoint: "unix:///var/run/docker.sock".into(),
            reason: "Permission denied (os error 13)".into(),
        };
        assert!(explain(&err).contains("docker group"));
    }
}
