//! berth: a container-aware L4/L7 load balancer.
//!
//! # Layout
//! - [`config`]: the YAML file, raw serde layer then typed and validated.
//! - [`discovery`]: providers (static services, Docker) emitting `Update`s.
//! - [`state`]: endpoints, snapshots, routes and the reconciler that builds them.
//! - [`balance`]: one selector per algorithm, lock-free and allocation-free per pick.
#![forbid(unsafe_code)]

pub mod balance;
pub mod config;
pub mod discovery;
pub mod state;
