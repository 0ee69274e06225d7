//! Harness for the Swarm tests, over the Docker tests' (`docker_common`: images, run ids,
//! the load generator, `wait_*`).
//!
//! - [`SwarmGuard`]: the exclusive lock on the engine's Swarm, `swarm init`/`leave`, attachable
//!   overlay networks of the run, and the removal of everything the run created.
//! - [`Stack`]: a compose file written by the test (or an example's) deployed with
//!   `docker stack deploy`, and the Swarm operations tests drive on its services (scale,
//!   forced rolling update, reading tasks, killing a task's container).
//! - [`BerthService`]: berth itself as a Swarm service on the run's overlay, its ports published
//!   in host mode, and what its admin API says about the services (`/api/services`,
//!   `/api/rejected`), with its logs in every failure message.
//!
//! Engine calls go through the `docker` CLI (blocking: call them through
//! [`crate::docker_common::blocking`] while a load runs).

pub mod berth;
pub mod guard;
pub mod stack;

pub use berth::BerthService;
pub use guard::{SwarmGuard, SwarmLock};
#[allow(unused_imports)]
pub use stack::{Backend, Stack, Task};

use std::net::TcpListener;

/// A TCP port free on this host right now (bound on 127.0.0.1 then released), for a port
/// published in host mode.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}
