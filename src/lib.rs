//! berth: a container-aware L4/L7 load balancer.
//!
//! # Layout
//! Layers, lowest first: a module imports only modules listed before it, never one after
//! it (`tests/layers.rs` fails on such an upward `crate::` path). `docs/ARCHITECTURE.md`
//! explains the shape and the rule.
//! 1. [`model`]: the vocabulary — service and endpoint specs, every setting, `Update`, and
//!    the value parsers the file and the labels share. Imports nothing else of berth.
//! 2. [`metrics`]: metric names and the Prometheus recorder.
//! 3. [`config`]: the YAML file, raw serde layer then typed and validated.
//! 4. [`tls`]: TLS termination of `https` listeners (certificates by SNI, reloads, ACME
//!    certificates and challenge answers) and the upstream TLS handshake.
//! 5. [`discovery`]: providers (static services, Docker) sending `Update`s to the reconciler.
//! 6. [`endpoint`]: per-endpoint live state that outlives snapshots: counters, in-flight
//!    limits and queue, outlier state.
//! 7. [`health`]: active health checks: probes and per-endpoint checker tasks.
//! 8. [`balance`]: one selector per algorithm, lock-free and allocation-free per pick.
//! 9. [`state`]: route tables, snapshots, retry budgets and the reconciler that builds them.
//! 10. [`acme`]: automatic HTTPS: certificates ordered, stored and renewed for the names
//!     served; issued certificates and challenge answers go to `tls::acme`.
//! 11. [`proxy`]: the data plane: workers, HTTP proxying, upstream pools, L4 (TCP, TLS
//!     passthrough, PROXY protocol), the https redirect.
//! 12. [`admin`]: `/metrics`, `/healthz`, `/api/services`, `/api/certificates`.
//! 13. [`server`]: starting and stopping a whole instance.
#![forbid(unsafe_code)]

pub mod model;

pub mod metrics;

pub mod config;

pub mod tls;

pub mod discovery;

pub mod endpoint;

pub mod health;

pub mod balance;

pub mod state;

pub mod acme;

pub mod proxy;

pub mod admin;

pub mod server;
