//! Routing state (control plane builds, data plane reads).
//!
//! # Layout
//! - [`endpoint`]: per-endpoint atomics that outlive snapshots.
//! - [`outlier`]: passive outlier detection (ejection of failing endpoints).
//! - [`retry_budget`]: retries as a bounded share of requests, per service.
//! - [`route`]: host then longest-path-prefix route tables.
//! - [`snapshot`]: the immutable routing state the data plane reads.
//! - [`queue`]: circuit breaking: in-flight limits and the per-service queue.
//! - [`reconciler`]: applies provider updates and publishes snapshots.

pub mod endpoint;
pub mod outlier;
pub mod queue;
pub mod reconciler;
pub mod retry_budget;
pub mod route;
pub mod snapshot;
