//! Start-up and shutdown of a whole berth instance (both planes).
//!
//! [`Server::start`] builds the first snapshot from the config's static services before any
//! socket accepts, binds every listener (so a port in use fails start-up, not a request),
//! starts the worker threads, and runs the control plane — reconciler, config watcher,
//! Docker provider (following the reloaded config through a `watch`), admin listener — on its
//! own thread. [`Server::shutdown`] stops accepting, lets in-flight
//! requests finish within the grace, and stops the control plane.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info};

use crate::acme::Manager;
use crate::admin::Admin;
use crate::config::{Config, Protocol};
use crate::discovery::docker;
use crate::discovery::file;
use crate::discovery::Input;
use crate::discovery::{swarm, Rejections};
use crate::proxy::access_log::{AccessLog, AccessLogError};
use crate::proxy::listener::{BindError, Front, ListenerSpec, Workers};
use crate::state::reconciler::Reconciler;
use crate::state::snapshot::Snapshot;
use crate::tls::{self, Terminator, TlsError};

/// Inputs buffered between providers and the reconciler.
const INPUT_QUEUE: usize = 1024;

/// Why berth could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("admin listener cannot bind {address}: {source}")]
    Admin {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("BERTH_ADMIN_TOKEN is not a usable admin token: {0}")]
    AdminToken(String),
    #[error("control plane thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    AccessLog(#[from] AccessLogError),
}

/// A running berth.
#[derive(Debug)]
pub struct Server {
    /// Bound address of each listener by name (port 0 resolved).
    pub listeners: BTreeMap<String, SocketAddr>,
    pub admin: SocketAddr,
    workers: Workers,
    inputs: mpsc::Sender<Input>,
    control: JoinHandle<()>,
    stop_control: oneshot::Sender<()>,
}

impl Server {
    /// Starts berth with `config`; `config_path`, when given, is watched for edits.
    pub fn start(config: Config, config_path: Option<PathBuf>) -> Result<Self, StartError> {
        let prometheus = crate::metrics::install();
        let access_log = AccessLog::start(&config.log)?;
        let config = Arc::new(config);
        let mut reconciler = Reconciler::new(Arc::clone(&config));
        reconciler.apply(Input::Update(file::reset(&config)));
        reconciler.publish();
        let snapshots = reconciler.published();

        let acme = config
            .acme
            .as_ref()
            .map(|_| Arc::new(tls::acme::Acme::default()));
        let terminators = tls::terminators(&config, acme.as_ref())?;
        let specs = listener_specs(&config, &terminators, acme.as_ref(), access_log.as_ref());
        let workers = Workers::start(
            &specs,
            config.workers,
            config.connections,
            Arc::clone(&snapshots),
        )?;
        let listeners = specs
            .iter()
            .zip(&workers.addresses)
            .map(|(s, a)| (s.name.to_string(), *a))
            .collect();

        let admin_socket = std::net::TcpListener::bind(config.admin.address)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| StartError::Admin {
                address: config.admin.address,
                source,
            })?;
        let admin_addr = admin_socket
            .local_addr()
            .map_err(|source| StartError::Admin {
                address: config.admin.address,
                source,
            })?;
        let rejected = Rejections::default();
        let (stop_control, stopped) = oneshot::channel();
        let (inputs, rx) = mpsc::channel(INPUT_QUEUE);
        let acme_status = acme.as_ref().map(|_| crate::acme::Status::default());
        let (config_tx, config_rx) = watch::channel(config);
        let admin = Admin {
            config: config_rx,
            env_token: env_token()?,
            started: std::time::SystemTime::now(),
            snapshots: Arc::clone(&snapshots),
            acme: acme_status.clone(),
            terminators: terminators.clone(),
            prometheus,
            rejected: rejected.clone(),
            inputs: inputs.clone(),
        };
        let plane = ControlPlane {
            reconciler,
            rx,
            tx: inputs.clone(),
            admin,
            admin_socket,
            config: config_tx,
            config_path,
            rejected,
            terminators,
            acme: acme
                .zip(acme_status)
                .map(|(shared, status)| (snapshots, shared, status)),
        };
        let control = std::thread::Builder::new()
            .name("berth-control".into())
            .spawn(move || plane.run(stopped))
            .map_err(StartError::Thread)?;
        info!(?listeners, admin = %admin_addr, "berth started");
        Ok(Self {
            listeners,
            admin: admin_addr,
            workers,
            inputs,
            control,
            stop_control,
        })
    }

    /// Address of the listener called `name`.
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.get(name).copied()
    }

    /// A sender into the reconciler, for providers started after the server.
    pub fn inputs(&self) -> mpsc::Sender<Input> {
        self.inputs.clone()
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, stop the control plane.
    pub fn shutdown(self) {
        self.workers.shutdown();
        let _ = self.stop_control.send(());
        let _ = self.control.join();
        info!("berth stopped");
    }
}

/// The admin token from `BERTH_ADMIN_TOKEN`, when set (and valid).
fn env_token() -> Result<Option<crate::config::AdminToken>, StartError> {
    match std::env::var(crate::config::TOKEN_ENV) {
        Ok(text) => crate::config::AdminToken::new(&text)
            .map(Some)
            .map_err(StartError::AdminToken),
        Err(_) => Ok(None),
    }
}

/// The listeners the data plane serves, each with its front.
fn listener_specs(
    config: &Config,
    terminators: &[Arc<Terminator>],
    acme: Option<&Arc<tls::acme::Acme>>,
    access_log: Option<&Arc<AccessLog>>,
) -> Vec<ListenerSpec> {
    let front = |l: &crate::config::Listener| match (l.protocol, &l.redirect) {
        (Protocol::Https, _) => terminators
            .iter()
            .find(|t| *t.name == *l.name)
            .map(|t| Front::Https(Arc::clone(t))),
        (Protocol::Http, Some(r)) => Some(Front::Redirect {
            to: r.to.as_str().into(),
            port: r.port,
        }),
        (Protocol::Http, None) => Some(Front::Http),
        (Protocol::Tcp, _) => Some(Front::Tcp),
        (Protocol::TlsPassthrough, _) => Some(Front::Passthrough),
    };
    config
        .listeners
        .values()
        .enumerate()
        .filter_map(|(index, l)| {
            Some(ListenerSpec {
                index,
                name: l.name.as_str().into(),
                address: l.address,
                front: front(l)?,
                accept_proxy: l
                    .proxy_protocol
                    .then(|| Arc::from(l.trusted_ips.as_slice())),
                max_connections: l.max_connections,
                acme: acme.filter(|_| l.protocol == Protocol::Http).cloned(),
                access_log: access_log.cloned(),
            })
        })
        .collect()
}

/// Everything the control-plane thread runs.
struct ControlPlane {
    reconciler: Reconciler,
    rx: mpsc::Receiver<Input>,
    tx: mpsc::Sender<Input>,
    admin: Admin,
    admin_socket: std::net::TcpListener,
    /// The config in force; the file provider sends reloads, the rest follow them.
    config: watch::Sender<Arc<Config>>,
    config_path: Option<PathBuf>,
    rejected: Rejections,
    /// TLS of the `https` listeners, whose certificates the control plane reloads.
    terminators: Vec<Arc<Terminator>>,
    /// With an `acme:` section: what the ACME manager reads and writes.
    acme: Option<(
        Arc<ArcSwap<Snapshot>>,
        Arc<tls::acme::Acme>,
        crate::acme::Status,
    )>,
}

impl ControlPlane {
    fn run(self, stopped: oneshot::Receiver<()>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                error!("control plane runtime failed to start: {e}");
                return;
            }
        };
        runtime.block_on(async move {
            tokio::spawn(self.reconciler.run(self.rx));
            // The Docker provider follows the config the file provider reloads; it idles while
            // `docker.enabled` is false, so a reload can turn it on.
            let config_rx = self.config.subscribe();
            let config_tx = self.config;
            tokio::spawn(docker::run(
                config_rx.clone(),
                self.tx.clone(),
                self.rejected.docker,
            ));
            // The Swarm provider idles the same way while `swarm.enabled` is false (the default).
            tokio::spawn(swarm::run(
                config_rx.clone(),
                self.tx.clone(),
                self.rejected.swarm,
            ));
            if let Some((snapshots, shared, status)) = self.acme {
                tokio::spawn(Manager::new(config_rx, snapshots, shared, status).run());
            }
            if !self.terminators.is_empty() {
                tokio::spawn(tls::reload::watch(
                    self.terminators,
                    self.config_path.clone(),
                ));
            }
            if let Some(path) = self.config_path {
                tokio::spawn(file::watch(path, config_tx, self.tx));
            }
            match tokio::net::TcpListener::from_std(self.admin_socket) {
                Ok(l) => {
                    tokio::spawn(self.admin.serve(l));
                }
                Err(e) => error!("admin listener: {e}"),
            }
            let _ = stopped.await;
        });
    }
}
