//! The tests against a real single-node Docker Swarm, linked as one binary: berth running as a
//! Swarm service follows the services a test deploys with `docker stack deploy`, and routes
//! to their tasks (or their virtual IP) while they scale, roll, die and carry bad labels; and
//! `examples/stack.yaml` is deployed as a user would.
//!
//! The Swarm is engine-wide state, so each test holds an exclusive lock on
//! `/tmp/berth-swarm.lock` for as long as it has a swarm ([`harness::SwarmGuard`]): the tests
//! of this binary run one at a time, and never at the same time as someone experimenting by
//! hand under `flock /tmp/berth-swarm.lock ...`. A test joins a swarm if the engine is in none
//! and leaves it at the end, removing everything it created even when it fails: the engine is
//! left as found. The images are the Docker tests' (`docker_common`, built `FROM scratch`
//! from static binaries; no registry is used). `cargo test --test swarm scale::` runs one
//! suite; `BERTH_SKIP_DOCKER=1` skips them on a machine without an engine.

#[path = "../docker/docker_common/mod.rs"]
mod docker_common;
mod harness;

mod cleanup;
mod example;
mod labels;
mod lifecycle;
mod scale;
