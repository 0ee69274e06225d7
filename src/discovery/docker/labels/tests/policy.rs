//! The policy labels: `allow.*`, `auth.basic.*`, `rate_limit.*`, `auth.forward.*`,
//! `in_flight.per_client`, and what an L4 container may take.

use super::*;

// ---- allow.* ----

#[test]
fn allow_labels_set_the_allow_list() {
    let s = service(
        container()
            .label("berth.allow.ips", "10.0.0.0/8, 192.0.2.7, 2001:db8::/32")
            .label("berth.allow.forwarded_depth", "2"),
    );
    let allow = s.policies.allow.expect("allow-list");
    let ips: Vec<String> = allow.ips.iter().map(ToString::to_string).collect();
    assert_eq!(ips, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    assert_eq!(allow.forwarded_depth, 2);
    assert!(service(container()).policies.allow.is_none());
}

#[test]
fn bad_allow_labels_reject_the_container_with_the_fix() {
    let reason = rejected(container().label("berth.allow.ips", "10.0.0.0/8, office"));
    assert!(
        reason.contains("invalid IP or network `office`"),
        "{reason}"
    );
    let reason = rejected(container().label("berth.allow.forwarded_depth", "1"));
    assert!(
        reason.contains("berth.allow.forwarded_depth has no effect without berth.allow.ips"),
        "{reason}"
    );
    let reason = rejected(
        container()
            .label("berth.allow.ips", "10.0.0.0/8")
            .label("berth.allow.forwarded_depth", "17"),
    );
    assert!(reason.contains("berth.allow.forwarded_depth"), "{reason}");
}

// ---- auth.basic.* ----

/// alice's password is `secret`.
const ALICE: &str = "alice:$2y$05$yhoqlRUGoumjWjkivgbRL.KlL2YTDy2DqrrrGu41yftJTanaE9jd2";

#[test]
fn basic_auth_labels_set_users_realm_and_header_removal() {
    let s = service(
        container()
            .label("berth.auth.basic.users", ALICE)
            .label("berth.auth.basic.realm", "staff")
            .label("berth.auth.basic.remove_header", "true"),
    );
    let basic = s.policies.basic_auth.expect("basic auth");
    assert_eq!(basic.users.len(), 1);
    assert_eq!((basic.realm.as_str(), basic.remove_header), ("staff", true));
}

#[test]
fn bad_basic_auth_labels_reject_the_container_without_showing_a_hash() {
    let reason = rejected(container().label("berth.auth.basic.users", "bob:$apr1$x$y"));
    assert!(
        reason.contains("`bob...`") && reason.contains("MD5"),
        "{reason}"
    );
    assert!(!reason.contains("$apr1$"), "{reason}");
    let reason = rejected(container().label("berth.auth.basic.realm", "staff"));
    assert!(
        reason.contains("berth.auth.basic.realm has no effect without berth.auth.basic.users"),
        "{reason}"
    );
    let reason =
        rejected(container().label("berth.auth.basic.users_file", "/nonexistent/htpasswd"));
    assert!(reason.contains("/nonexistent/htpasswd"), "{reason}");
    let reason = rejected(container().label("berth.auth.basic.users_file", "/dev/zero"));
    assert!(reason.contains("not a regular file"), "{reason}");
}

// ---- rate_limit.* ----

#[test]
fn rate_limit_labels_set_the_limit_and_bad_ones_reject() {
    let s = service(
        container()
            .label("berth.rate_limit.average", "100")
            .label("berth.rate_limit.period", "1m")
            .label("berth.rate_limit.by", "header:X-Api-Key"),
    );
    let rate = s.policies.rate_limit.expect("rate limit");
    assert_eq!(
        rate.to_string(),
        "100 per 60s (burst 100) by header:x-api-key"
    );
    let reason = rejected(container().label("berth.rate_limit.burst", "5"));
    assert!(
        reason.contains("berth.rate_limit.burst has no effect without berth.rate_limit.average"),
        "{reason}"
    );
    let reason = rejected(
        container()
            .label("berth.rate_limit.average", "10")
            .label("berth.rate_limit.by", "cookie:session"),
    );
    assert!(reason.contains("header:NAME"), "{reason}");
    assert!(rejected(container().label("berth.rate_limit.average", "0")).contains("average"));
}

#[test]
fn an_l4_container_takes_the_allow_list_only() {
    let l4 = service(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.allow.ips", "10.0.0.0/8"),
    );
    assert!(l4.policies.allow.is_some());
    let reason = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.rate_limit.average", "10"),
    );
    assert!(
        reason.contains("berth.rate_limit.*: applies to HTTP requests only"),
        "{reason}"
    );
}

// ---- auth.forward.* ----

#[test]
fn forward_auth_labels_set_the_auth_service_and_bad_ones_reject() {
    let s = service(
        container()
            .label("berth.auth.forward.url", "http://authelia:9091/api/verify")
            .label(
                "berth.auth.forward.response_headers",
                "Remote-User, Remote-Groups",
            )
            .label("berth.auth.forward.timeout", "2s"),
    );
    let forward = s.policies.forward_auth.expect("forward auth");
    assert_eq!(
        forward.to_string(),
        "http://authelia:9091/api/verify (copies remote-user, remote-groups)"
    );
    let reason = rejected(container().label("berth.auth.forward.url", "authelia:9091"));
    assert!(
        reason.contains("berth.auth.forward.url") && reason.contains("http://"),
        "{reason}"
    );
    let reason = rejected(container().label("berth.auth.forward.timeout", "2s"));
    assert!(
        reason.contains("no effect without berth.auth.forward.url"),
        "{reason}"
    );
    let reason = rejected(
        container()
            .label("berth.auth.forward.url", "http://a/")
            .label("berth.auth.forward.failure_status", "403"),
    );
    assert!(reason.contains("503 or 401"), "{reason}");
}

#[test]
fn in_flight_per_client_label() {
    let s = service(container().label("berth.in_flight.per_client", "4"));
    assert_eq!(s.policies.in_flight_per_client, Some(4));
    assert!(rejected(container().label("berth.in_flight.per_client", "0")).contains("in_flight"));
}
