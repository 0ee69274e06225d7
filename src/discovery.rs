//! Providers (control plane): where endpoints come from.
//!
//! Every provider — the config file's static services ([`file`]), the Docker engine
//! ([`docker`]), a Swarm manager ([`swarm`]) — speaks the same language to the reconciler: [`Input`]s carrying
//! `model::Update`s about endpoints, each with the `model::ServiceSpec` of its service,
//! exactly as a container carries its labels. Providers never touch snapshots.

pub mod docker;
pub mod file;
pub mod swarm;

use std::sync::Arc;
use std::time::SystemTime;

use crate::config::Config;
use crate::model::Update;

/// What the engine providers currently reject, for `/api/rejected`: containers by id, Swarm
/// services by id.
#[derive(Clone, Debug, Default)]
pub struct Rejections {
    pub docker: docker::RejectedList,
    pub swarm: docker::RejectedList,
}

/// What the reconciler consumes.
#[derive(Debug)]
pub enum Input {
    Update(Update),
    /// An update caused by an engine event at `at`; its delay to publication is measured.
    Event {
        update: Update,
        at: SystemTime,
    },
    /// A new valid config: its request-path settings apply from the next snapshot.
    Config(Arc<Config>),
    /// Endpoint state changed outside the reconciler (an admin drain): publish a new
    /// generation, so workers drop the idle connections of endpoints no longer routable.
    Republish,
}
