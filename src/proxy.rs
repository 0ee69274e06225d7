//! The data plane: client connections in, upstream connections out.
//!
//! # Layout
//! - [`listener`]: sockets, worker threads (one current-thread runtime each), shutdown.
//! - [`client`]: what every client connection knows, L4 or HTTP.
//! - [`inbound`]: what a connection says first: a PROXY header, a ClientHello's SNI.
//! - [`sni`]: the server name in a TLS ClientHello, read without terminating TLS.
//! - [`proxy_protocol`]: PROXY protocol v1 and v2 headers, sent to backends and accepted.
//! - [`conn`]: client connection idle and header-read timeouts.
//! - [`http`]: one request: route, pick, rewrite, forward, retry.
//! - [`tcp`]: one L4 connection: route (by SNI on passthrough), pick, copy both ways.
//! - [`admit`]: the endpoint of one attempt, under in-flight limits (circuit breaking).
//! - [`headers`]: hop-by-hop removal and `X-Forwarded-*`.
//! - [`h2`]: what changes in a request to an HTTP/2 upstream.
//! - [`pool`]: per-worker, per-endpoint upstream connection pools.
//! - [`connect`]: new upstream connections: TCP, TLS, HTTP/1.1 or HTTP/2 handshake.
//! - [`replay`]: the kept head of a request that may be sent again.
//! - [`uri`]: the request target sent upstream.
//! - [`body`]: the streamed upstream response body that returns its connection to the pool.
//! - [`compress`]: response compression (gzip, Brotli, zstd), negotiated per request.
//! - [`sticky`]: sticky sessions by cookie.
//! - [`access_log`]: the optional access log, written off the hot path, and W3C trace
//!   context.
//! - [`error`]: the responses a client sees when proxying fails.
//! - [`redirect`]: the `http` → `https` redirect some `http` listeners answer with.
//! - [`shape`]: a service's header edits, CORS, body limit, rewrites and redirects.

pub mod access_log;
pub mod admit;
pub mod auth;
pub mod body;
pub mod client;
pub mod compress;
pub mod conn;
pub mod connect;
pub mod error;
pub mod forward_auth;
pub mod h2;
pub mod headers;
pub mod http;
pub mod inbound;
pub mod listener;
pub mod policy;
pub mod pool;
pub mod proxy_protocol;
pub mod redirect;
pub mod replay;
pub mod shape;
pub mod sni;
pub mod sticky;
pub mod target;
pub mod tcp;
pub mod uri;
