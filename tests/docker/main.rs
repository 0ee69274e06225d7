//! The tests against a real Docker engine, linked as one binary: discovery from container
//! labels, failure response, config reloads, berth in a container, L4 services, automatic HTTPS,
//! `examples/compose.yaml` brought up with Compose, sticky sessions and shaping from labels,
//! and the harness itself (`docker_common`,
//! shared with the Docker benches and the Swarm tests). Each suite is a module;
//! `cargo test --test docker docker_failure::` runs one.
//!
//! Each test runs its own berth in-process with a label prefix unique to the test, so tests
//! running in parallel on one engine never see each other's containers; the tests that run a
//! load generator take turns ([`docker_common::HEAVY`]).

mod docker_common;
#[path = "../support/pebble.rs"]
mod pebble;

mod docker_acme;
mod docker_compose;
mod docker_discovery;
mod docker_failure;
mod docker_harness;
mod docker_policy;
mod docker_reload;
mod docker_self;
mod docker_shape;
mod docker_socket_proxy;
mod docker_sticky;
mod docker_tcp;
