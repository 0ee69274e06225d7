//! From one element of the engine's container list to berth's view of it (control plane).
//!
//! A resync reads every container from `GET /containers/json` alone: the list already carries
//! the id, names, labels, state, health (in `Status`), each network's address, the ports and
//! the creation time — everything [`Inspected`] holds but two things. A container is
//! inspected (`GET /containers/{id}/json`) only when its list entry leaves something open:
//!
//! - **paused**: `Status` is then `Up … (Paused)`, without the health the engine still tracks;
//! - **`(health: starting)`**: a starting check, or a check turned off (`--no-healthcheck`,
//!   `HEALTHCHECK NONE`) that the engine reports the same way; the inspect's
//!   `Config.Healthcheck` tells them apart;
//! - **no `Ports`**: the list reports exposed ports only on a container's own network stack
//!   (not `network_mode: host`, `container:…` or `none`); the inspect's
//!   `Config.ExposedPorts` has them in every mode;
//! - an unreadable `State`, or a missing id.
//!
//! What the list never carries: the **stop signal** (`StopSignal`), which only a `kill` event
//! with a signal other than TERM, INT, QUIT or KILL needs — the provider inspects the container
//! then (once; [`StopSignal::Unread`]); and the **start time**: a resync orders containers by
//! creation time (the list's `Created`, whole seconds; the inspect's `Created` cut to the same
//! seconds), then id, whichever way each was read. Pure conversions, no I/O.

use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};

use crate::discovery::docker::facts::{container_name, exposed_tcp_ports, ContainerFacts};
use crate::discovery::docker::inspect::{addresses, Inspected, StopSignal};
use crate::model::{Availability, Health};

/// What a list entry gave.
#[derive(Debug)]
pub enum Listed {
    /// Everything berth needs.
    Read(Inspected),
    /// Something is open (see the module doc): inspect this id.
    Inspect(String),
    /// Not running (restarting, exited): nothing to route.
    NotRunning,
}

/// Reads a list entry; see the module doc for when it asks for an inspect.
pub fn from_summary(c: ContainerSummary) -> Listed {
    let Some(id) = c.id.filter(|id| !id.is_empty()) else {
        return Listed::NotRunning;
    };
    match c.state {
        Some(ContainerSummaryStateEnum::RUNNING) => {}
        Some(ContainerSummaryStateEnum::PAUSED) | None => return Listed::Inspect(id),
        Some(_) => return Listed::NotRunning,
    }
    let health = match status_health(c.status.as_deref().unwrap_or("")) {
        Some(StatusHealth::Known(health)) => health,
        Some(StatusHealth::Open) => return Listed::Inspect(id),
        None => Health::None,
    };
    let ports = c.ports.unwrap_or_default();
    if ports.is_empty() {
        return Listed::Inspect(id);
    }
    let keys: Vec<String> = ports
        .iter()
        .map(|p| match p.typ {
            Some(typ) => format!("{}/{typ}", p.private_port),
            None => p.private_port.to_string(),
        })
        .collect();
    let networks = addresses(c.network_settings.and_then(|n| n.networks));
    Listed::Read(Inspected {
        facts: ContainerFacts {
            id,
            name: primary_name(c.names.as_deref().unwrap_or_default()).to_owned(),
            labels: c.labels.unwrap_or_default().into_iter().collect(),
            exposed_ports: exposed_tcp_ports(keys.iter().map(String::as_str)),
            networks,
            has_healthcheck: health != Health::None,
            subject: Default::default(),
        },
        running: true,
        availability: Availability {
            health,
            paused: false,
        },
        stop_signal: StopSignal::Unread,
        created: c.created.and_then(|s| u64::try_from(s).ok()),
    })
}

/// What a running container's `Status` says about its health.
#[derive(Debug, PartialEq, Eq)]
enum StatusHealth {
    Known(Health),
    /// `(health: starting)`: starting, or a check turned off (see the module doc).
    Open,
}

/// `Up 5 minutes (healthy)` → healthy; `Up 5 minutes` → `None` (no health check).
fn status_health(status: &str) -> Option<StatusHealth> {
    let status = status.trim_end();
    if status.ends_with("(healthy)") {
        Some(StatusHealth::Known(Health::Healthy))
    } else if status.ends_with("(unhealthy)") {
        Some(StatusHealth::Known(Health::Unhealthy))
    } else if status.ends_with("(health: starting)") {
        Some(StatusHealth::Open)
    } else {
        None
    }
}

/// The container's own name among `Names` (the others are legacy links, `/other/alias`),
/// without its `/`.
fn primary_name(names: &[String]) -> &str {
    names
        .iter()
        .map(|n| container_name(n))
        .find(|n| !n.contains('/'))
        .or_else(|| names.first().map(|n| container_name(n)))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
