//! The Swarm provider (control plane): a manager's services and tasks in, endpoint updates
//! out.
//!
//! Services carry berth's labels in their spec (`deploy.labels` in a stack file); each
//! running task is an endpoint (or, with `<prefix>.endpoint_mode=vip`, the service's virtual
//! IP is the one endpoint). Labels are judged exactly as a container's are
//! (`docker::labels`), addresses are the task's on the network the same rules choose, and a
//! task is drained the moment its desired state leaves `running`. The engine reports no task
//! events, so service, node, network and (this node's) container events trigger targeted
//! re-reads ([`session`]), and a periodic full read (`swarm.refresh`) is the safety net.
//! Connection handling, reloads and backoff are the Docker provider's
//! (`docker::follow`); rejections are listed by service on `/api/rejected`.
//! Invariant: only read-only engine calls (info, services, tasks, events, one container
//! inspect to find berth's own networks).

mod judge;
mod session;
mod tasks;
mod view;

use tokio::sync::mpsc;

use crate::discovery::docker::{follow, ConfigWatch, RejectedList, Source};
use crate::discovery::Input;

pub use judge::ENDPOINT_MODE;
pub use session::Session;

/// The Swarm provider task, until `tx` closes; idle while `swarm.enabled` is false.
pub async fn run(config: ConfigWatch, tx: mpsc::Sender<Input>, rejected: RejectedList) {
    follow::<Session>(Source::Swarm, config, tx, rejected).await;
}
