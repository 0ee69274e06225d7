//! The Docker provider (control plane): containers → endpoints.
//!
//! `facts` is what the engine tells us about one container, `labels` turns those facts into
//! an endpoint or a rejection with its reason, `network` picks the address to send to. All
//! three are pure (no engine calls), so they are tested without Docker.

pub mod facts;
pub mod labels;
pub mod network;
