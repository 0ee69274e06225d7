//! One connection's worth of following a Swarm manager (control plane, engine I/O).
//!
//! Order: negotiate the API version, check the engine is a manager, find berth's own
//! container and its networks, note the time, read every service and running task and send
//! one `Reset`, then follow the engine's service, node, network and container events
//! replayed from the noted time. Swarm reports no task events, so an event is a cue to
//! re-read: a service event re-reads that service and its tasks, then keeps re-reading it
//! every [`WATCH_TICK`] until it has converged (every task where the orchestrator wants it);
//! a container event of a task on this node re-reads its service the same way, and a
//! stopping signal drains the task at once, before its process exits; node and network
//! events re-read everything. Every `swarm.refresh` everything is read again, a safety net.
//! Each reading sends only what changed ([`View`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::models::{EventMessage, EventMessageTypeEnum, LocalNodeState};
use bollard::query_parameters::{EventsOptions, InspectServiceOptions, ListServicesOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::judge::{self, Judged, ServiceFacts};
use super::tasks::{Task, TaskReader};
use super::view::View;
use crate::config::Config;
use crate::discovery::docker::labels::LabelSettings;
use crate::discovery::docker::{
    engine_endpoint, event_time, is_stopping_signal, next_config, own, ConfigWatch, DockerError,
    EngineSession, Exit, RejectedContainer, RejectedList, Rejects, Settings, Source,
};
use crate::discovery::Input;
use crate::metrics as m;
use crate::model::{ProviderId, Update};

/// How often a service is re-read while it converges.
const WATCH_TICK: Duration = Duration::from_millis(100);
/// The longest a service is watched after an event; the periodic read takes over then.
const WATCH_FOR: Duration = Duration::from_secs(600);
/// Events replayed from before the first reading, so none falls between the two.
const REPLAY: Duration = Duration::from_secs(2);
/// The container label holding the Swarm task id.
const TASK_LABEL: &str = "com.docker.swarm.task.id";
/// The container label holding the Swarm service id.
const SERVICE_LABEL: &str = "com.docker.swarm.service.id";

/// A live session with a manager.
pub struct Session {
    client: Docker,
    settings: Settings,
    tx: mpsc::Sender<Input>,
    rejected: Rejects,
    view: View,
    /// Read at the session's start; `None` before.
    tasks: Option<TaskReader>,
    own_networks: std::collections::BTreeSet<String>,
    /// Services being re-read every tick, until converged or the deadline.
    watching: HashMap<String, Instant>,
    refresh: Duration,
    established: bool,
}

impl EngineSession for Session {
    fn open(
        client: Docker,
        settings: Settings,
        tx: mpsc::Sender<Input>,
        rejected: RejectedList,
    ) -> Self {
        Self {
            client,
            settings,
            tx,
            rejected: Rejects::new(rejected, Source::Swarm),
            view: View::default(),
            tasks: None,
            own_networks: Default::default(),
            watching: HashMap::new(),
            refresh: Duration::from_secs(10),
            established: false,
        }
    }

    fn was_established(&self) -> bool {
        self.established
    }

    async fn run(&mut self, config: &mut ConfigWatch) -> Result<Exit, DockerError> {
        self.refresh = config.borrow().swarm.refresh;
        self.client = self.client.clone().negotiate_version().await?;
        self.check_manager().await?;
        let version = self.client.client_version();
        let endpoint = engine_endpoint(self.settings.endpoint.as_deref());
        self.tasks = Some(TaskReader::new(
            &endpoint,
            version.major_version,
            version.minor_version,
        )?);
        self.own_networks = own::own_networks(&self.client).await;
        let since = SystemTime::now() - REPLAY;
        self.read_all(true).await?;
        self.established = true;
        info!(
            endpoints = self.view.count(),
            own_networks = ?self.own_networks,
            "swarm: synced with the manager"
        );
        self.follow(config, since).await
    }
}

impl Session {
    /// Events, ticks, refreshes and reloads, until the session ends.
    async fn follow(
        &mut self,
        config: &mut ConfigWatch,
        since: SystemTime,
    ) -> Result<Exit, DockerError> {
        let mut events = self.client.events(Some(events_options(since)));
        let mut tick = every(WATCH_TICK);
        let mut refresh = every(self.refresh);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(event) => self.on_event(event?).await?,
                    None => return Err(DockerError::StreamEnded),
                },
                _ = tick.tick(), if !self.watching.is_empty() => self.reread_watched().await?,
                _ = refresh.tick() => self.read_all(false).await?,
                next = next_config(config) => {
                    if let Some(exit) = self.reconfigure(&next).await? {
                        return Ok(exit);
                    }
                    if next.swarm.refresh != self.refresh {
                        self.refresh = next.swarm.refresh;
                        refresh = every(self.refresh);
                    }
                }
            }
            if self.tx.is_closed() {
                return Ok(Exit::Closed);
            }
        }
    }

    /// Refuses an engine that is not a Swarm manager, saying what to do.
    async fn check_manager(&self) -> Result<(), DockerError> {
        let info = self.client.info().await?;
        let swarm = info.swarm.unwrap_or_default();
        let fail = |reason: &str| DockerError::Connect {
            endpoint: engine_endpoint(self.settings.endpoint.as_deref()),
            reason: reason.to_owned(),
        };
        if swarm.local_node_state != Some(LocalNodeState::ACTIVE) {
            return Err(fail(
                "this engine is not part of a swarm: run `docker swarm init`, point \
                 swarm.endpoint at a manager, or set swarm.enabled: false",
            ));
        }
        if swarm.control_available != Some(true) {
            return Err(fail(
                "this engine is a swarm worker; only managers know services and tasks: run \
                 berth on a manager (placement constraint node.role == manager) or point \
                 swarm.endpoint at one",
            ));
        }
        Ok(())
    }

    /// A reload: `Some(exit)` when it asks for another engine; otherwise every service is
    /// judged again if what labels are judged by changed.
    async fn reconfigure(&mut self, next: &Arc<Config>) -> Result<Option<Exit>, DockerError> {
        let next = Settings::from_config(next, Source::Swarm);
        if self.settings.connection_differs(&next) {
            return Ok(Some(Exit::Reconfigured));
        }
        if next != self.settings {
            self.settings = next;
            info!(
                "swarm: the reload changed what labels are judged by; judging every service again"
            );
            self.read_all(false).await?;
        }
        Ok(None)
    }

    fn reader(&self) -> Result<&TaskReader, DockerError> {
        self.tasks.as_ref().ok_or(DockerError::StreamEnded)
    }

    /// Reads every service and running task; sends a `Reset` (`reset`) or the differences.
    async fn read_all(&mut self, reset: bool) -> Result<(), DockerError> {
        metrics::counter!(m::SWARM_READS_TOTAL, "scope" => "all").increment(1);
        let services = self
            .client
            .list_services(None::<ListServicesOptions>)
            .await?;
        let tasks = self.reader()?.running().await?;
        let mut by_service: HashMap<&str, Vec<Task>> = HashMap::new();
        for task in &tasks {
            by_service
                .entry(task.service_id.as_str())
                .or_default()
                .push(task.clone());
        }
        let facts: Vec<ServiceFacts> = services
            .iter()
            .filter_map(ServiceFacts::from_service)
            .collect();
        let mut updates = Vec::new();
        for service in &facts {
            let tasks = by_service
                .get(service.id.as_str())
                .map_or(&[][..], Vec::as_slice);
            updates.extend(self.apply(service, tasks));
        }
        let alive: HashSet<&str> = facts.iter().map(|s| s.id.as_str()).collect();
        updates.extend(self.view.keep_services(&alive).into_iter().map(untimed));
        self.rejected.keep(|id| alive.contains(id));
        if reset {
            let endpoints = self.view.endpoints();
            self.send(Input::Update(Update::Reset {
                provider: ProviderId::Swarm,
                endpoints,
            }))
            .await;
        } else {
            self.send_all(updates, None).await;
        }
        Ok(())
    }

    /// Re-reads the watched services; stops watching those that converged.
    async fn reread_watched(&mut self) -> Result<(), DockerError> {
        let now = Instant::now();
        self.watching.retain(|_, until| *until > now);
        let ids: Vec<String> = self.watching.keys().cloned().collect();
        for id in ids {
            if self.reread(&id, None).await? {
                self.watching.remove(&id);
            }
        }
        Ok(())
    }

    /// Re-reads one service and its tasks, because of an engine event at `cause` if any;
    /// true once it has converged (or is gone).
    async fn reread(&mut self, id: &str, cause: Option<SystemTime>) -> Result<bool, DockerError> {
        metrics::counter!(m::SWARM_READS_TOTAL, "scope" => "service").increment(1);
        let Some(service) = self.inspect(id).await? else {
            let updates = self.view.service(id, Vec::new());
            let updates = updates.into_iter().map(untimed).collect();
            self.rejected.clear(id);
            self.send_all(updates, cause).await;
            return Ok(true);
        };
        let tasks = self.reader()?.of_service(id).await?;
        let updates = self.apply(&service, &tasks);
        self.send_all(updates, cause).await;
        Ok(judge::converged(&service, &tasks))
    }

    async fn inspect(&self, id: &str) -> Result<Option<ServiceFacts>, DockerError> {
        match self
            .client
            .inspect_service(id, None::<InspectServiceOptions>)
            .await
        {
            Ok(service) => Ok(ServiceFacts::from_service(&service)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Judges one service with its tasks; records or clears its rejection; the updates, each
    /// with the moment its task started running when that is what it routes.
    fn apply(&mut self, service: &ServiceFacts, tasks: &[Task]) -> Vec<Timed> {
        let settings = LabelSettings {
            prefix: &self.settings.prefix,
            exposed_by_default: self.settings.exposed_by_default,
            network: self.settings.network.as_deref(),
            own_networks: &self.own_networks,
            defaults: &self.settings.defaults,
            http_listeners: &self.settings.http_listeners,
            l4_listeners: &self.settings.l4_listeners,
        };
        let wanted = match judge::judge(service, tasks, &settings) {
            Judged::Ignored => {
                self.rejected.clear(&service.id);
                Vec::new()
            }
            Judged::Rejected(reason) => {
                self.rejected.record(RejectedContainer {
                    id: service.id.clone(),
                    name: service.name.clone(),
                    reason,
                });
                Vec::new()
            }
            Judged::Routed(wanted) => {
                self.rejected.clear(&service.id);
                wanted
            }
        };
        let since: HashMap<String, SystemTime> = wanted
            .iter()
            .filter_map(|w| Some((w.id.clone(), w.since?)))
            .collect();
        let updates = self.view.service(&service.id, wanted);
        updates
            .into_iter()
            .map(|update| {
                let at = match &update {
                    Update::Upsert { endpoint, .. } => since.get(&*endpoint.key.source).copied(),
                    _ => None,
                };
                (update, at)
            })
            .collect()
    }

    async fn on_event(&mut self, event: EventMessage) -> Result<(), DockerError> {
        let action = event.action.clone().unwrap_or_default();
        let at = event_time(&event);
        let actor = event.actor.clone().unwrap_or_default();
        let attributes = actor.attributes.unwrap_or_default();
        let id = actor.id.unwrap_or_default();
        match event.typ {
            Some(EventMessageTypeEnum::SERVICE) => {
                count("service", &action);
                self.watch(&id, at).await?;
            }
            Some(EventMessageTypeEnum::NODE) => {
                count("node", &action);
                self.read_all(false).await?;
            }
            Some(EventMessageTypeEnum::NETWORK) if action == "remove" || action == "destroy" => {
                count("network", &action);
                self.read_all(false).await?;
            }
            Some(EventMessageTypeEnum::CONTAINER) => {
                let (Some(task), Some(service)) =
                    (attributes.get(TASK_LABEL), attributes.get(SERVICE_LABEL))
                else {
                    return Ok(());
                };
                let kind = action.split(':').next().unwrap_or("").trim();
                count("container", kind);
                debug!(%task, %service, %action, "swarm task container event");
                let signal = attributes.get("signal").map(String::as_str);
                let stopping = match kind {
                    "kill" => signal.is_some_and(|s| is_stopping_signal(s, None)),
                    "stop" => true,
                    _ => false,
                };
                if stopping {
                    if let Some(update) = self.view.drain(task) {
                        self.send(Input::Event { update, at }).await;
                    }
                }
                self.watch(service, at).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Re-reads `service` now, and then every tick until it converges.
    async fn watch(&mut self, service: &str, at: SystemTime) -> Result<(), DockerError> {
        if service.is_empty() {
            return Ok(());
        }
        if self.reread(service, Some(at)).await? {
            self.watching.remove(service);
        } else {
            self.watching
                .insert(service.to_owned(), Instant::now() + WATCH_FOR);
        }
        Ok(())
    }

    /// Sends `updates`, each timed from its own moment (a task's start), else from the
    /// engine event at `cause` that led to it, else untimed (`berth_discovery_convergence_seconds`).
    async fn send_all(&self, updates: Vec<Timed>, cause: Option<SystemTime>) {
        for (update, at) in updates {
            let input = match at.or(cause) {
                Some(at) => Input::Event { update, at },
                None => Input::Update(update),
            };
            self.send(input).await;
        }
    }

    async fn send(&self, input: Input) {
        // A closed channel means berth is stopping; `run` notices and returns.
        let _ = self.tx.send(input).await;
    }
}

/// Ticks every `period`, the first a period from now; a late tick is not made up for.
fn every(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// An update and the moment its cause happened, when known.
type Timed = (Update, Option<SystemTime>);

fn untimed(update: Update) -> Timed {
    (update, None)
}

fn count(kind: &str, action: &str) {
    metrics::counter!(m::SWARM_EVENTS_TOTAL, "type" => kind.to_owned(), "action" => action.to_owned())
        .increment(1);
}

fn events_options(since: SystemTime) -> EventsOptions {
    let types = ["service", "node", "network", "container"];
    let filters = HashMap::from([(
        "type".to_owned(),
        types.iter().map(|t| (*t).to_owned()).collect(),
    )]);
    let since = since
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    EventsOptions {
        since: Some(since.to_string()),
        until: None,
        filters: Some(filters),
    }
}
