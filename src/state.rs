//! Routing state (control plane builds, data plane reads).
//!
//! # Layout
//! - [`retry_budget`]: retries as a bounded share of requests, per service.
//! - [`route`]: host then longest-path-prefix route tables.
//! - [`snapshot`]: the immutable routing state the data plane reads.
//! - [`reconciler`]: applies provider updates and publishes snapshots.

pub mod rate_limiter;
pub mod reconciler;
pub mod retry_budget;
pub mod route;
pub mod snapshot;
