//! What every client connection knows, L4 or HTTP (data plane): the listener it came in
//! on, its client, and the snapshots it routes by.
//!
//! HTTP connections wrap it in `http::ConnContext`, which adds what only requests need
//! (`X-Forwarded-*` values, the timeout watchdog's activity); an L4 connection carries
//! nothing more than this.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::proxy::access_log::AccessLog;
use crate::state::snapshot::Snapshot;

/// One accepted connection's identity.
#[derive(Debug)]
pub struct ClientConn {
    /// Index of the listener in the snapshot.
    pub listener: usize,
    /// The client: the socket's peer, or the one its PROXY header names.
    pub peer: SocketAddr,
    pub snapshots: Arc<ArcSwap<Snapshot>>,
    /// The server's access log and trace context; `None` when both are off.
    pub access_log: Option<Arc<AccessLog>>,
}
