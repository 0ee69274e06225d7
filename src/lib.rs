//! berth: a container-aware L4/L7 load balancer.
//!
//! # Layout
//! - [`config`]: the YAML file, raw serde layer then typed and validated.
//! - [`discovery`]: providers (static services, Docker) emitting `Update`s.
//! - [`state`]: endpoints, snapshots, routes and the reconciler that builds them.
//! - [`health`]: active health checks: the check type, probes, per-endpoint checker tasks.
//! - [`balance`]: one selector per algorithm, lock-free and allocation-free per pick.
//! - [`proxy`]: the data plane: workers, HTTP proxying, upstream pools, L4 (TCP, TLS
//!   passthrough, PROXY protocol).
//! - [`tls`]: TLS termination of `https` listeners: certificates by SNI, reloads, redirects.
//! - [`admin`]: `/metrics`, `/healthz`, `/api/services`.
//! - [`metrics`]: metric names and the Prometheus recorder.
//! - [`server`]: starting and stopping a whole instance.
#![forbid(unsafe_code)]

pub mod admin;
pub mod balance;
pub mod config;
pub mod discovery;
pub mod health;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod state;
pub mod tls;
