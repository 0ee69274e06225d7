//! One connection's worth of following the engine (control plane).
//!
//! Order of a session: negotiate the API version, find berth's own container (to prefer the
//! networks it shares), note the time, list the running containers and send one `Reset`, then
//! follow events replayed from the noted time. The list is read as it is (`super::summary`):
//! only the few containers whose entry leaves something open are inspected, one by one, so a
//! resync of 10,000 containers is one engine call, not 10,001. An event re-inspects the one
//! container it names. Any engine error ends the
//! session; the caller reconnects and the next session's `Reset` repairs whatever was missed.
//! A config reload that changes the label rules' [`Settings`] resyncs within the session (the
//! event stream stays open, so nothing is missed meanwhile); one that changes the engine or
//! disables the provider ends the session ([`Exit::Reconfigured`]).
//! A resync lists containers oldest-created first (whole seconds, then id), so the reconciler's
//! first-come order (route conflicts, the newest replica's settings) follows the containers'
//! age, the same at every resync.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, InspectContainerOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::inspect::{is_stopping_signal, Inspected, StopSignal};
use super::labels::{self, LabelSettings, Verdict};
use super::own;
use super::summary::{self, Listed};
use super::{
    next_config, ConfigWatch, DockerError, EngineSession, RejectedContainer, RejectedList, Rejects,
    Settings, Source,
};
use crate::discovery::Input;
use crate::metrics as m;
use crate::model::{EndpointKey, EndpointSpec, ProviderId, Update};

/// Containers inspected at once during a resync (those the list leaves open).
const INSPECT_CONCURRENCY: usize = 16;
/// Events replayed from before the listing, so none falls between list and subscribe.
const REPLAY: Duration = Duration::from_secs(2);

/// What berth last told the reconciler about a container.
#[derive(Debug, Default)]
struct Known {
    key: Option<EndpointKey>,
    stop_signal: StopSignal,
}

/// Why a session ended without an engine error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The reconciler is gone: berth is stopping.
    Closed,
    /// A reload changed `docker.enabled` or `docker.endpoint`: start over with the new config.
    Reconfigured,
}

/// A live session with the engine.
pub struct Session {
    client: Docker,
    settings: Settings,
    tx: mpsc::Sender<Input>,
    rejected: Rejects,
    known: HashMap<String, Known>,
    /// The networks of berth's own container (empty when it runs on the host).
    own_networks: BTreeSet<String>,
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
            rejected: Rejects::new(rejected, Source::Docker),
            known: HashMap::new(),
            own_networks: BTreeSet::new(),
            established: false,
        }
    }

    fn was_established(&self) -> bool {
        self.established
    }

    async fn run(&mut self, config: &mut ConfigWatch) -> Result<Exit, DockerError> {
        self.client = self.client.clone().negotiate_version().await?;
        self.own_networks = own::own_networks(&self.client).await;
        let since = SystemTime::now() - REPLAY;
        self.resync().await?;
        self.established = true;
        info!(
            containers = self.known.len(),
            own_networks = ?self.own_networks,
            "docker: synced with the engine"
        );
        let mut events = self.client.events(Some(events_options(since)));
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(event) => self.on_event(event?).await?,
                    None => return Err(DockerError::StreamEnded),
                },
                next = next_config(config) => {
                    let next = Settings::from_config(&next, Source::Docker);
                    if self.settings.connection_differs(&next) {
                        return Ok(Exit::Reconfigured);
                    }
                    self.reconfigure(next).await?;
                }
            }
            if self.tx.is_closed() {
                return Ok(Exit::Closed);
            }
        }
    }
}

impl Session {
    /// Adopts reloaded settings; when the label rules read anything new, judges every
    /// container again (a resync: engine events wait meanwhile, some ms per 16 containers).
    async fn reconfigure(&mut self, next: Settings) -> Result<(), DockerError> {
        if next == self.settings {
            return Ok(());
        }
        self.settings = next;
        info!(
            "docker: the reload changed what labels are judged by; judging every container again"
        );
        self.resync().await?;
        info!(
            containers = self.known.len(),
            "docker: re-evaluated with the reloaded config"
        );
        Ok(())
    }

    /// Lists every running container (inspecting only those the list leaves open) and sends
    /// the complete view.
    async fn resync(&mut self) -> Result<(), DockerError> {
        let options = ListContainersOptions {
            all: false,
            ..Default::default()
        };
        let mut read = Vec::new();
        let mut open = Vec::new();
        for entry in self.client.list_containers(Some(options)).await? {
            match summary::from_summary(entry) {
                Listed::Read(c) => read.push(Some(c)),
                Listed::Inspect(id) => open.push(id),
                Listed::NotRunning => {}
            }
        }
        debug!(
            listed = read.len(),
            inspected = open.len(),
            "docker: resync"
        );
        let client = &self.client;
        let inspected: Vec<Option<Inspected>> = stream::iter(open)
            .map(|id| async move { inspect(client, &id).await })
            .buffer_unordered(INSPECT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        read.extend(inspected);
        let running = running_oldest_first(read);
        self.known.clear();
        let mut endpoints = Vec::new();
        for container in &running {
            if let Some(spec) = self.judge(container) {
                endpoints.push(spec);
            }
        }
        // Those a resync no longer lists go; the others were judged again just now.
        let listed: HashSet<&str> = running.iter().map(|c| c.facts.id.as_str()).collect();
        self.rejected.keep(|id| listed.contains(id));
        self.send(Input::Update(Update::Reset {
            provider: ProviderId::Docker,
            endpoints,
        }))
        .await;
        Ok(())
    }

    async fn on_event(&mut self, event: EventMessage) -> Result<(), DockerError> {
        let action = event.action.clone().unwrap_or_default();
        let attributes = event
            .actor
            .as_ref()
            .and_then(|a| a.attributes.clone())
            .unwrap_or_default();
        let at = Some(event_time(&event));
        match event.typ {
            Some(EventMessageTypeEnum::CONTAINER) => {
                let id = event.actor.and_then(|a| a.id).unwrap_or_default();
                let kind = action.split(':').next().unwrap_or("").trim().to_owned();
                metrics::counter!(m::DOCKER_EVENTS_TOTAL, "action" => kind.clone()).increment(1);
                debug!(%id, %action, "docker event");
                match kind.as_str() {
                    "kill" => {
                        let signal = attributes.get("signal").map(String::as_str).unwrap_or("");
                        if self.kill_stops(&id, signal).await? {
                            self.drain(&id, at).await;
                        }
                    }
                    "stop" => self.drain(&id, at).await,
                    "die" | "destroy" => self.forget(&id, at).await,
                    "start" | "restart" | "pause" | "unpause" | "health_status" | "rename"
                    | "update" => self.reinspect(&id, at).await?,
                    _ => {}
                }
            }
            Some(EventMessageTypeEnum::NETWORK)
                if action == "connect" || action == "disconnect" =>
            {
                metrics::counter!(m::DOCKER_EVENTS_TOTAL, "action" => format!("network_{action}"))
                    .increment(1);
                // Not timed: the engine connects a starting container's networks before
                // `start`, and the start itself is timed.
                if let Some(id) = attributes.get("container") {
                    self.reinspect(id, None).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether a `kill` with `signal` stops container `id`: TERM, INT, QUIT, KILL, or its own
    /// `StopSignal`, which the engine's list does not carry: the first other signal a routed
    /// container gets makes berth inspect it for that (one call), and remember it.
    async fn kill_stops(&mut self, id: &str, signal: &str) -> Result<bool, DockerError> {
        if is_stopping_signal(signal, None) {
            return Ok(true);
        }
        let stop = match self.known.get(id).map(|k| k.stop_signal.clone()) {
            // Not routed: there is nothing to drain.
            None => return Ok(false),
            Some(StopSignal::Read(stop)) => stop,
            Some(StopSignal::Unread) => {
                let stop = match inspect(&self.client, id).await? {
                    Some(Inspected {
                        stop_signal: StopSignal::Read(stop),
                        ..
                    }) => stop,
                    _ => None,
                };
                if let Some(known) = self.known.get_mut(id) {
                    known.stop_signal = StopSignal::Read(stop.clone());
                }
                stop
            }
        };
        Ok(is_stopping_signal(signal, stop.as_deref()))
    }

    /// Re-reads one container and upserts, or removes, its endpoint.
    async fn reinspect(&mut self, id: &str, at: Option<SystemTime>) -> Result<(), DockerError> {
        let container = match inspect(&self.client, id).await? {
            Some(c) if c.running => c,
            _ => {
                self.forget(id, at).await;
                return Ok(());
            }
        };
        let spec = self.judge(&container);
        let new_key = spec.as_ref().map(|s| s.key.clone());
        let old_key = self.known.get(id).and_then(|k| k.key.clone());
        if let Some(old) = old_key.filter(|old| Some(old) != new_key.as_ref()) {
            self.send_timed(Update::Remove(old), at).await;
        }
        match spec {
            Some(endpoint) => {
                let update = Update::Upsert {
                    provider: ProviderId::Docker,
                    endpoint,
                };
                self.send_timed(update, at).await;
            }
            None => {
                self.known.remove(id);
            }
        }
        Ok(())
    }

    /// Applies the label rules to a running container; records rejections; returns the
    /// endpoint to route, if any.
    fn judge(&mut self, c: &Inspected) -> Option<EndpointSpec> {
        let settings = LabelSettings {
            prefix: &self.settings.prefix,
            exposed_by_default: self.settings.exposed_by_default,
            network: self.settings.network.as_deref(),
            own_networks: &self.own_networks,
            defaults: &self.settings.defaults,
            http_listeners: &self.settings.http_listeners,
            l4_listeners: &self.settings.l4_listeners,
        };
        let verdict = labels::evaluate(&c.facts, &settings);
        let id = c.facts.id.clone();
        match verdict {
            Verdict::Ignored => {
                self.rejected.clear(&id);
                None
            }
            Verdict::Rejected(rejection) => {
                self.rejected.record(RejectedContainer {
                    id,
                    name: c.facts.name.clone(),
                    reason: rejection.reason,
                });
                None
            }
            Verdict::Accepted(accepted) => {
                self.rejected.clear(&id);
                let mut spec = accepted.endpoint;
                spec.availability = c.availability;
                spec.origin = format!(
                    "container {} on network {} ({})",
                    c.facts.name, accepted.network, accepted.network_reason
                )
                .into();
                self.known.insert(
                    id,
                    Known {
                        key: Some(spec.key.clone()),
                        stop_signal: c.stop_signal.clone(),
                    },
                );
                Some(spec)
            }
        }
    }

    async fn drain(&mut self, id: &str, at: Option<SystemTime>) {
        if let Some(key) = self.known.get(id).and_then(|k| k.key.clone()) {
            self.send_timed(Update::Drain(key), at).await;
        }
    }

    async fn forget(&mut self, id: &str, at: Option<SystemTime>) {
        if let Some(key) = self.known.remove(id).and_then(|k| k.key) {
            self.send_timed(Update::Remove(key), at).await;
        }
        self.rejected.clear(id);
    }

    /// Sends `update`; with the engine event's time `at`, its delay to publication is
    /// measured (`berth_discovery_convergence_seconds`).
    async fn send_timed(&self, update: Update, at: Option<SystemTime>) {
        let input = match at {
            Some(at) => Input::Event { update, at },
            None => Input::Update(update),
        };
        self.send(input).await;
    }

    async fn send(&self, input: Input) {
        // A closed channel means berth is stopping; `run` notices and returns.
        let _ = self.tx.send(input).await;
    }
}

/// The running containers among `read`, oldest-created first (whole seconds, then id): the
/// order in which the reconciler first sees them, the same at every resync.
fn running_oldest_first(read: Vec<Option<Inspected>>) -> Vec<Inspected> {
    let mut running: Vec<Inspected> = read.into_iter().flatten().filter(|c| c.running).collect();
    running.sort_by(|a, b| (a.created, &a.facts.id).cmp(&(b.created, &b.facts.id)));
    running
}

/// Inspects one container; `None` when it no longer exists.
async fn inspect(client: &Docker, id: &str) -> Result<Option<Inspected>, DockerError> {
    match client
        .inspect_container(id, Some(InspectContainerOptions { size: false }))
        .await
    {
        Ok(doc) => Ok(Some(Inspected::from_response(doc))),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn events_options(since: SystemTime) -> EventsOptions {
    let mut filters = std::collections::HashMap::new();
    filters.insert(
        "type".to_owned(),
        vec!["container".to_owned(), "network".to_owned()],
    );
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

/// When the engine says the event happened (falls back to now).
pub fn event_time(event: &EventMessage) -> SystemTime {
    event
        .time_nano
        .and_then(|n| u64::try_from(n).ok())
        .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
        .unwrap_or_else(SystemTime::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::docker::facts::ContainerFacts;

    fn container(id: &str, created: Option<u64>, running: bool) -> Option<Inspected> {
        Some(Inspected {
            facts: ContainerFacts {
                id: id.into(),
                ..Default::default()
            },
            running,
            availability: Default::default(),
            stop_signal: StopSignal::Unread,
            created,
        })
    }

    #[test]
    fn a_resync_lists_running_containers_oldest_created_first() {
        let inspected = vec![
            container("c", Some(30), true),
            None,
            container("b", Some(10), true),
            container("stopped", Some(5), false),
            container("a", Some(30), true),
            container("unknown", None, true),
        ];
        let ids: Vec<String> = running_oldest_first(inspected)
            .into_iter()
            .map(|c| c.facts.id)
            .collect();
        assert_eq!(ids, ["unknown", "b", "a", "c"]);
    }

    #[test]
    fn events_replay_from_before_the_listing() {
        let opts = events_options(UNIX_EPOCH + Duration::from_secs(100));
        assert_eq!(opts.since.as_deref(), Some("100"));
        assert_eq!(
            opts.filters
                .as_ref()
                .map(|f| f["type"].clone())
                .unwrap_or_default(),
            vec!["container", "network"]
        );
    }
}
