//! The in-process integration tests, linked as one binary: berth started from YAML in this
//! process in front of in-process backends (HTTP/1.1, h2, gRPC, TCP, TLS, PROXY protocol),
//! the `berth` binary's command line, config errors, and property tests of the selectors and
//! the retry budget. Each suite is a module; `cargo test --test proxy tcp::` runs one.
//!
//! The suites share one process, so its process-wide state too: the Prometheus recorder (a
//! test that asserts a counter's exact value names a listener or service no other test
//! counts on), the temp directories named after a tag and the process id (tags are unique),
//! and the CPU (see [`common::exclusive`]).

mod common;
mod tls_common;
#[path = "../support/wait.rs"]
mod wait;

mod abuse;
mod access_log;
mod admin_api;
mod admin_drain;
mod allow;
mod basic_auth;
mod cli;
mod client_faults;
mod compress;
mod config_errors;
mod connection_limits;
mod dashboard;
mod endpoint_metrics;
mod faults;
mod forward_auth;
mod grpc;
mod health;
mod hostile_targets;
mod hsts;
mod in_flight;
mod limits;
mod metrics_help;
mod outlier;
mod prometheus;
mod proxy_protocol;
mod proxy_routing;
mod proxy_streams;
mod rate_limit;
mod reconciler_coalescing;
mod reload;
mod retries;
mod retry_budget_props;
mod selector_props;
mod shape_body;
mod shape_cors;
mod shape_headers;
mod shape_rewrite;
mod slow_clients;
mod slow_start;
mod sticky;
mod tcp;
mod timeouts;
mod tls;
mod tls_passthrough;
mod upstream_tls;
