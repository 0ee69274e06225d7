//! `# HELP` texts: every metric of [`super`] described once, when the recorder is installed.

use metrics::{describe_counter, describe_gauge, describe_histogram};

use super::*;

/// Gives every metric its `# HELP` text (once, when the recorder is installed).
pub(super) fn describe() {
    describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests answered, by listener, service and status code."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        "Time from a request's arrival to its response head, by service."
    );
    describe_counter!(
        UPSTREAM_REQUESTS_TOTAL,
        "Requests sent to an endpoint, by service, endpoint and status code."
    );
    describe_counter!(
        UPSTREAM_CONNECT_ERRORS_TOTAL,
        "Failed connections to endpoints, by service."
    );
    describe_counter!(
        RETRIES_TOTAL,
        "Requests retried on another endpoint, by service."
    );
    describe_counter!(
        CIRCUIT_OPEN_TOTAL,
        "Requests refused by circuit breaking, by service and reason."
    );
    describe_gauge!(
        ENDPOINTS,
        "Endpoints of a service, by state (routable, excluded)."
    );
    describe_gauge!(CONNECTIONS_ACTIVE, "Client connections open, by listener.");
    describe_counter!(
        CONNECTIONS_CLOSED_TOTAL,
        "Client connections berth closed, by reason."
    );
    describe_counter!(
        ACCESS_LOG_DROPPED_TOTAL,
        "Access log lines dropped because the writer was behind."
    );
    describe_counter!(CONFIG_RELOADS_TOTAL, "Config reloads, by result.");
    describe_counter!(
        SNAPSHOT_BUILDS_TOTAL,
        "Routing snapshots built and published."
    );
    describe_counter!(
        ROUTE_CONFLICTS_TOTAL,
        "Routes claimed by two services (the first listed keeps it)."
    );
    describe_counter!(
        DOCKER_REJECTED_TOTAL,
        "Containers rejected for their labels."
    );
    describe_gauge!(DOCKER_REJECTED, "Containers rejected now.");
    describe_counter!(
        DOCKER_EVENTS_TOTAL,
        "Docker engine events handled, by action."
    );
    describe_counter!(
        SWARM_REJECTED_TOTAL,
        "Swarm services rejected for their labels."
    );
    describe_gauge!(SWARM_REJECTED, "Swarm services rejected now.");
    describe_counter!(
        SWARM_EVENTS_TOTAL,
        "Swarm events handled, by type and action."
    );
    describe_counter!(
        SWARM_READS_TOTAL,
        "Swarm state reads, by scope (service, all)."
    );
    describe_counter!(
        HEALTH_CHECKS_TOTAL,
        "Active health checks, by service and result."
    );
    describe_gauge!(
        ENDPOINT_HEALTHY,
        "1 when an endpoint passes its active check, by service and endpoint."
    );
    describe_counter!(
        EJECTIONS_TOTAL,
        "Endpoints ejected by outlier detection, by service."
    );
    describe_counter!(PANIC_MODE_TOTAL, "Times a service entered panic mode.");
    describe_gauge!(PANIC_MODE, "1 while a service routes in panic mode.");
    describe_histogram!(
        DISCOVERY_CONVERGENCE_SECONDS,
        "Time from an engine event (or a Swarm task start) to the snapshot routing it."
    );
    describe_counter!(
        TLS_HANDSHAKES_TOTAL,
        "TLS handshakes completed, by listener and version."
    );
    describe_counter!(
        TLS_HANDSHAKE_ERRORS_TOTAL,
        "TLS handshakes failed, by listener and reason."
    );
    describe_counter!(
        TLS_RELOADS_TOTAL,
        "Certificate reloads, by listener and result."
    );
    describe_counter!(
        REDIRECTS_TOTAL,
        "Requests answered with a redirect: by a listener's `redirect:` (rule `listener`, service empty) or a service's `redirect_scheme` or `redirect_regex` (rule and service)."
    );
    describe_counter!(
        TCP_CONNECTIONS_TOTAL,
        "L4 connections ended, by listener, service and result."
    );
    describe_counter!(
        TCP_BYTES_TOTAL,
        "Bytes copied by L4 services, by service and direction."
    );
    describe_counter!(
        PROXY_PROTOCOL_ERRORS_TOTAL,
        "Connections closed for a bad or missing PROXY header, by listener and reason."
    );
    describe_counter!(
        CLIENT_BODY_ERRORS_TOTAL,
        "Request bodies the client broke or did not finish in time, by service and reason."
    );
    describe_counter!(
        BAD_REQUESTS_TOTAL,
        "Requests refused with 400 for their target, by listener and reason."
    );
    describe_counter!(
        LOG_SUPPRESSED_TOTAL,
        "Warnings and errors dropped by the log rate limit, by target."
    );
    describe_counter!(
        CONNECTIONS_REFUSED_TOTAL,
        "Connections refused by a connection limit, by listener and reason."
    );
    describe_counter!(
        ACCEPT_ERRORS_TOTAL,
        "Failed accepts (e.g. out of file descriptors), by listener."
    );
    describe_counter!(
        ACME_ORDERS_TOTAL,
        "ACME certificate orders, by result (issued, failed)."
    );
    describe_gauge!(
        CERTIFICATE_EXPIRY_SECONDS,
        "When a served certificate expires (Unix time), by name and source (acme, file)."
    );
    describe_counter!(
        POLICY_DENIED_TOTAL,
        "Requests or connections a service's policy refused, by service, policy and reason."
    );
    describe_histogram!(
        ENDPOINT_REQUEST_DURATION_SECONDS,
        "Time from a request's arrival to the response head of the endpoint that answered it, by service and endpoint."
    );
    describe_gauge!(
        ENDPOINT_IN_FLIGHT,
        "Requests an endpoint is serving now, by service and endpoint (set at each scrape)."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which berth is running."
    );
}
