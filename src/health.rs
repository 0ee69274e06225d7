//! Active health checks (control plane): the tasks that run them.
//!
//! What a check is ([`HealthCheck`](crate::model::HealthCheck)) lives in `model`; this module
//! runs checks.
//!
//! Submodules: `probe` (one check against one address), `checker` (the per-endpoint task and
//! its rise/fall state machine).
//!
//! Invariants: checks never run on the data plane; their result lives on the
//! `Arc<Endpoint>` (one exclusion bit, read live by selectors, plus counters for the admin
//! API), so it survives every snapshot rebuild and config reload. A brand-new endpoint with an
//! active check starts *routable* (like Envoy and HAProxy) and leaves the rotation after its
//! first `fall` consecutive failures; a container with a Docker `HEALTHCHECK` is already held
//! back by that until Docker says `healthy`. A known endpoint keeps its state, also when its
//! check settings change (the checker restarts with fresh counters but the same up/down).

pub mod checker;
pub mod probe;

pub use checker::{Checker, Notify};
pub use probe::{probe, ProbeError};
