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
//! Invariants: a container's labels are judged by pure functions ([`labels`]); a bad label
//! rejects that container only (logged, counted, listed on `/api/rejected`); nothing here
//! panics on engine input.

pub mod facts;
mod inspect;
pub mod labels;
pub mod network;
mod session;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::{Config, Defaults, Protocol};
use crate::state::reconciler::Input;

pub use session::Session;

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

/// Everything the label rules need from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub endpoint: Option<String>,
    pub prefix: String,
    pub exposed_by_default: bool,
    pub network: Option<String>,
    pub defaults: Defaults,
    pub http_listeners: Vec<String>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            endpoint: config.docker.endpoint.clone(),
            prefix: config.docker.label_prefix.clone(),
            exposed_by_default: config.docker.exposed_by_default,
            network: config.docker.network.clone(),
            defaults: config.defaults.clone(),
            http_listeners: config
                .listeners
                .values()
                .filter(|l| matches!(l.protocol, Protocol::Http | Protocol::Https))
                .map(|l| l.name.clone())
                .collect(),
        }
    }
}

/// Connects to the engine at `endpoint` (`unix://…`, `tcp://…`, `http://…`), or where
/// `DOCKER_HOST` says, or the default socket.
pub fn connect(endpoint: Option<&str>) -> Result<Docker, DockerError> {
    let fail = |endpoint: &str, reason: String| DockerError::Connect {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let endpoint = endpoint
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());
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

/// The provider task: sessions until `tx` closes, reconnecting with capped backoff.
pub async fn run(settings: Settings, tx: mpsc::Sender<Input>, rejected: RejectedList) {
    let mut backoff = MIN_BACKOFF;
    let mut own_networks = BTreeSet::new();
    loop {
        let client = match connect(settings.endpoint.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                warn!("{}; retrying in {backoff:?}", explain(&e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut session = Session::new(client, &settings, tx.clone(), Arc::clone(&rejected));
        let outcome = session.run(&mut own_networks).await;
        if tx.is_closed() {
            return;
        }
        if session.was_established() {
            backoff = MIN_BACKOFF;
        }
        match outcome {
            Err(e) => warn!(
                "{}; serving the last known routes, reconnecting in {backoff:?}",
                explain(&e)
            ),
            Ok(()) => info!("docker session ended; reconnecting in {backoff:?}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
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

    #[test]
    fn permission_problems_are_explained() {
        let err = DockerError::Connect {
            endpoint: "unix:///var/run/docker.sock".into(),
            reason: "Permission denied (os error 13)".into(),
        };
        assert!(explain(&err).contains("docker group"));
    }
}
