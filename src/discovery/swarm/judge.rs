//! A Swarm service and its tasks → the endpoints to route, or a rejection (control plane,
//! pure).
//!
//! A service's labels (its spec's, `deploy.labels` in a stack file) are judged by the same
//! rules as a container's (`docker::labels::evaluate`), once per task: the task is the
//! "container" (its id keys the endpoint, its networks give the address), the service gives
//! the labels and the name. One more label is the Swarm's own: `<prefix>.endpoint_mode`,
//! `tasks` (default: one endpoint per task) or `vip` (one endpoint, the service's virtual IP
//! on the chosen network; the engine balances behind it).
//!
//! A task is **serving** when its desired state and its state are both `running`;
//! **draining** when it still runs but its desired state has left `running` (a rolling
//! update, a scale down, a node drain): no new requests, in-flight ones finish; otherwise it
//! is **gone**. Invariant: no I/O, never panics on any engine input.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bollard::models::ServiceUpdateStatusStateEnum as UpdateState;
use bollard::models::{EndpointPortConfigProtocolEnum, EndpointSpecModeEnum, Service};

use super::tasks::Task;
use crate::discovery::docker::facts::{ContainerFacts, Subject};
use crate::discovery::docker::labels::{self, LabelSettings, Verdict};
use crate::model::EndpointSpec;

/// The label suffix choosing tasks or the VIP.
pub const ENDPOINT_MODE: &str = "endpoint_mode";

/// What berth reads of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceFacts {
    pub id: String,
    pub name: String,
    /// The spec's labels.
    pub labels: BTreeMap<String, String>,
    /// Replicas wanted; `None` for a global service.
    pub replicas: Option<u64>,
    /// The service's endpoint mode is `dnsrr` (it has no virtual IP).
    pub dnsrr: bool,
    /// Virtual IPs by network id.
    pub vips: BTreeMap<String, IpAddr>,
    /// TCP ports the service publishes (their targets: ports the tasks listen on).
    pub target_ports: Vec<u16>,
    /// A rolling update or rollback is under way.
    pub updating: bool,
}

impl ServiceFacts {
    /// From the engine's description; `None` without an id or a name.
    pub fn from_service(service: &Service) -> Option<Self> {
        let spec = service.spec.as_ref()?;
        let endpoint = service.endpoint.as_ref();
        let vips = endpoint
            .and_then(|e| e.virtual_ips.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|v| Some((v.network_id.clone()?, cidr_ip(v.addr.as_deref()?)?)))
            .collect();
        let mut target_ports: Vec<u16> = endpoint
            .and_then(|e| e.ports.as_ref())
            .into_iter()
            .flatten()
            .filter(|p| p.protocol != Some(EndpointPortConfigProtocolEnum::UDP))
            .filter(|p| p.protocol != Some(EndpointPortConfigProtocolEnum::SCTP))
            .filter_map(|p| u16::try_from(p.target_port?).ok())
            .collect();
        target_ports.sort_unstable();
        target_ports.dedup();
        let state = service.update_status.as_ref().and_then(|u| u.state);
        Some(Self {
            id: service.id.clone()?,
            name: spec.name.clone()?,
            labels: spec
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            replicas: spec
                .mode
                .as_ref()
                .and_then(|m| m.replicated.as_ref())
                .map(|r| r.replicas.and_then(|n| u64::try_from(n).ok()).unwrap_or(1)),
            dnsrr: spec.endpoint_spec.as_ref().and_then(|e| e.mode)
                == Some(EndpointSpecModeEnum::DNSRR),
            vips,
            target_ports,
            updating: matches!(
                state,
                Some(UpdateState::UPDATING | UpdateState::ROLLBACK_STARTED)
            ),
        })
    }
}

/// Where a task stands for routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Serving,
    Draining,
    Gone,
}

/// See the module doc.
pub fn phase(task: &Task) -> Phase {
    match (task.desired_state.as_str(), task.status.state.as_str()) {
        ("running", "running") => Phase::Serving,
        (_, "running") => Phase::Draining,
        _ => Phase::Gone,
    }
}

/// True when the task has reached what the orchestrator wants of it.
pub fn settled(task: &Task) -> bool {
    match task.desired_state.as_str() {
        "running" => task.status.state == "running",
        _ => matches!(
            task.status.state.as_str(),
            "complete" | "shutdown" | "failed" | "rejected" | "remove" | "orphaned"
        ),
    }
}

/// True when nothing more is expected to change without a new event: no update under
/// way, every task settled, and (replicated) as many serving tasks as replicas.
pub fn converged(service: &ServiceFacts, tasks: &[Task]) -> bool {
    let serving = tasks.iter().filter(|t| phase(t) == Phase::Serving).count();
    !service.updating
        && tasks.iter().all(settled)
        && service
            .replicas
            .map_or(true, |n| u64::try_from(serving).is_ok_and(|s| s == n))
}

/// One endpoint the service should have.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    /// The task id, or the service id for its VIP.
    pub id: String,
    pub spec: EndpointSpec,
    /// Still running, but no longer wanted by the orchestrator.
    pub draining: bool,
    /// When the task started running (for a serving task, when the engine says).
    pub since: Option<SystemTime>,
}

/// The verdict on one service.
#[derive(Clone, Debug, PartialEq)]
pub enum Judged {
    /// Not enabled: nothing to route or report.
    Ignored,
    /// Its labels are wrong; nothing of it is routed.
    Rejected(String),
    /// These endpoints (none when no task runs).
    Routed(Vec<Wanted>),
}

/// Judges `service` with its `tasks` (those of other services are skipped).
pub fn judge(service: &ServiceFacts, tasks: &[Task], settings: &LabelSettings<'_>) -> Judged {
    let prefix = settings.prefix.trim_end_matches('.');
    let mode_key = format!("{prefix}.{ENDPOINT_MODE}");
    let mut labels = service.labels.clone();
    let mode = labels.remove(&mode_key);
    let vip = match mode.as_deref().map(str::trim) {
        None | Some("tasks") => false,
        Some("vip") => true,
        Some(other) => {
            let enabled = labels::evaluate(&facts(service, &labels, None), settings);
            if matches!(enabled, Verdict::Ignored) {
                return Judged::Ignored;
            }
            return Judged::Rejected(format!(
                "label {mode_key}={other:?}: expected `tasks` (one endpoint per task) or `vip` \
                 (the service's virtual IP)"
            ));
        }
    };
    let live: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.service_id == service.id && phase(t) != Phase::Gone)
        .collect();
    match vip {
        false => judge_tasks(service, &labels, &live, settings),
        true => judge_vip(service, &labels, &live, settings),
    }
}

/// One endpoint per live task.
fn judge_tasks(
    service: &ServiceFacts,
    labels: &BTreeMap<String, String>,
    live: &[&Task],
    settings: &LabelSettings<'_>,
) -> Judged {
    if live.is_empty() {
        return judge_empty(service, labels, settings);
    }
    let mut wanted = Vec::with_capacity(live.len());
    for task in live {
        let spec = match labels::evaluate(&facts(service, labels, Some(task)), settings) {
            Verdict::Ignored => return Judged::Ignored,
            Verdict::Rejected(r) => return Judged::Rejected(r.reason),
            Verdict::Accepted(a) => EndpointSpec {
                origin: Arc::from(format!(
                    "task {} on network {} ({})",
                    task_name(service, task),
                    a.network,
                    a.network_reason
                )),
                ..a.endpoint
            },
        };
        wanted.push(Wanted {
            id: task.id.clone(),
            spec,
            draining: phase(task) == Phase::Draining,
            since: task.since().filter(|_| phase(task) == Phase::Serving),
        });
    }
    Judged::Routed(wanted)
}

/// One endpoint, the virtual IP, while at least one task serves.
fn judge_vip(
    service: &ServiceFacts,
    labels: &BTreeMap<String, String>,
    live: &[&Task],
    settings: &LabelSettings<'_>,
) -> Judged {
    let names = network_names(live);
    let mut facts = facts(service, labels, None);
    facts.networks = service
        .vips
        .iter()
        .filter_map(|(id, ip)| Some((names.get(id.as_str())?.to_string(), Some(*ip))))
        .collect();
    let verdict = labels::evaluate(&facts, settings);
    match verdict {
        Verdict::Ignored => Judged::Ignored,
        _ if service.dnsrr => Judged::Rejected(format!(
            "label {}.{ENDPOINT_MODE}=vip, but the service's endpoint mode is dnsrr (no \
             virtual IP): remove the label or deploy with endpoint_mode: vip",
            settings.prefix.trim_end_matches('.')
        )),
        Verdict::Rejected(r) if !live.is_empty() => Judged::Rejected(r.reason),
        Verdict::Rejected(_) => judge_empty(service, labels, settings),
        Verdict::Accepted(_) if !live.iter().any(|t| phase(t) == Phase::Serving) => {
            Judged::Routed(Vec::new())
        }
        Verdict::Accepted(a) => Judged::Routed(vec![Wanted {
            id: service.id.clone(),
            spec: EndpointSpec {
                origin: Arc::from(format!(
                    "virtual IP of service {} on network {} ({})",
                    service.name, a.network, a.network_reason
                )),
                ..a.endpoint
            },
            draining: false,
            since: None,
        }]),
    }
}

/// A service with no running task: nothing to route; its labels are still judged (without
/// a network, which only a task has), so a typo shows before the first replica starts.
fn judge_empty(
    service: &ServiceFacts,
    labels: &BTreeMap<String, String>,
    settings: &LabelSettings<'_>,
) -> Judged {
    let mut facts = facts(service, labels, None);
    // A stand-in network, so the verdict speaks of the labels only.
    facts.networks = BTreeMap::from([(String::new(), Some(IpAddr::from([0, 0, 0, 0])))]);
    let unpinned = LabelSettings {
        network: None,
        ..*settings
    };
    let mut labels_only = labels.clone();
    labels_only.remove(&format!(
        "{}.network",
        settings.prefix.trim_end_matches('.')
    ));
    facts.labels = labels_only;
    match labels::evaluate(&facts, &unpinned) {
        Verdict::Ignored => Judged::Ignored,
        Verdict::Rejected(r) => Judged::Rejected(r.reason),
        Verdict::Accepted(_) => Judged::Routed(Vec::new()),
    }
}

/// What the label rules read: the service's labels and name, the task's networks.
fn facts(
    service: &ServiceFacts,
    labels: &BTreeMap<String, String>,
    task: Option<&Task>,
) -> ContainerFacts {
    let networks = task
        .into_iter()
        .flat_map(|t| &t.networks_attachments)
        .filter(|a| !a.network.spec.ingress && !a.network.spec.name.is_empty())
        .map(|a| {
            let ip = a.addresses.iter().find_map(|c| cidr_ip(c));
            (a.network.spec.name.clone(), ip)
        })
        .collect();
    ContainerFacts {
        id: task.map_or_else(|| service.id.clone(), |t| t.id.clone()),
        name: service.name.clone(),
        labels: labels.clone(),
        exposed_ports: service.target_ports.clone(),
        networks,
        has_healthcheck: false,
        subject: Subject::SwarmTask,
    }
}

/// Network id → name, from the tasks' attachments (a VIP names its network by id).
fn network_names<'a>(tasks: &[&'a Task]) -> BTreeMap<&'a str, &'a str> {
    tasks
        .iter()
        .flat_map(|t| &t.networks_attachments)
        .map(|a| (a.network.id.as_str(), a.network.spec.name.as_str()))
        .collect()
}

/// `web.2` for a replica, `web.<node>` for a global task, as `docker service ps` names them.
pub fn task_name(service: &ServiceFacts, task: &Task) -> String {
    match task.slot {
        Some(slot) => format!("{}.{slot}", service.name),
        None => format!("{}.{}", service.name, task.node_id),
    }
}

/// The address of `10.0.1.7/24`.
fn cidr_ip(cidr: &str) -> Option<IpAddr> {
    cidr.split('/').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests;
