//! Routing state (control plane builds, data plane reads).
//!
//! # Layout
//! - [`endpoint`]: per-endpoint atomics that outlive snapshots.
pub mod endpoint;
pub mod route;
