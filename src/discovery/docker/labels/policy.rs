//! The policy labels (control plane): `allow.ips` (comma-separated IPs and CIDRs) and
//! `allow.forwarded_depth`; `auth.basic.users` (comma-separated htpasswd lines),
//! `auth.basic.users_file` (an htpasswd file in berth's filesystem, the only I/O here),
//! `auth.basic.realm` and `auth.basic.remove_header`. Read with the config file's rules
//! `rate_limit.average`, `.period`, `.burst` and `.by`; `auth.forward.url`,
//! `.response_headers`, `.request_headers` (comma-separated), `.timeout`, `.failure_status`;
//! `in_flight.per_client`. Read with the config file's rules
//! ([`Allow::new`], [`BasicAuth::new`], [`RateLimit::new`]); a setting without the one that turns its policy on
//! is a problem. Every problem is recorded in `labels`, which rejects the container.

use std::path::Path;

use super::reader::Labels;
use crate::model::policy::basic::{self, read_users_file};
use crate::model::policy::rate::rate_key;
use crate::model::policy::{
    Allow, BasicAuth, ForwardAuth, Policies, RateKey, RateLimit, MAX_FORWARDED_DEPTH,
};
use crate::model::value::{boolean, int_in, ip_nets, list, positive_duration};

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 16] = [
    "allow.ips",
    "allow.forwarded_depth",
    "auth.basic.users",
    "auth.basic.users_file",
    "auth.basic.realm",
    "auth.basic.remove_header",
    "rate_limit.average",
    "rate_limit.period",
    "rate_limit.burst",
    "rate_limit.by",
    "auth.forward.url",
    "auth.forward.response_headers",
    "auth.forward.request_headers",
    "auth.forward.timeout",
    "auth.forward.failure_status",
    "in_flight.per_client",
];

/// The labels' policies (problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>) -> Policies {
    Policies {
        allow: allow(labels),
        basic_auth: basic_auth(labels),
        rate_limit: rate_limit(labels),
        forward_auth: forward_auth(labels),
        in_flight_per_client: labels.parse(SUFFIXES[15], int_in(1, u32::MAX)),
    }
}

fn forward_auth(labels: &mut Labels<'_>) -> Option<ForwardAuth> {
    let [.., url_key, response_key, request_key, timeout_key, status_key, _] = SUFFIXES;
    let url = labels.parse(url_key, |v| Ok::<_, String>(v.trim().to_owned()));
    let response = labels.parse(response_key, list);
    let request = labels.parse(request_key, list);
    let timeout = labels.parse(timeout_key, positive_duration);
    let status = labels.parse(status_key, int_in(401, 503));
    if !labels.has(url_key) {
        labels.orphans(
            &[response_key, request_key, timeout_key, status_key],
            &[url_key],
        );
        return None;
    }
    let status = status.map(|s| u16::try_from(s).unwrap_or(u16::MAX));
    let checked = ForwardAuth::new(
        &url?,
        &response.unwrap_or_default(),
        &request.unwrap_or_default(),
        timeout,
        status,
    );
    checked
        .map_err(|(field, e)| {
            let key = labels.key(&format!("auth.forward.{field}"));
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}

fn rate_limit(labels: &mut Labels<'_>) -> Option<RateLimit> {
    let [_, _, _, _, _, _, average_key, period_key, burst_key, by_key, ..] = SUFFIXES;
    let average = labels.parse(average_key, int_in(1, u32::MAX));
    let period = labels.parse(period_key, positive_duration);
    let burst = labels.parse(burst_key, int_in(1, u32::MAX));
    let by = labels.parse(by_key, rate_key);
    if !labels.has(average_key) {
        labels.orphans(&[period_key, burst_key, by_key], &[average_key]);
        return None;
    }
    let bad = |key: &str, parsed: bool| labels.has(key) && !parsed;
    if bad(period_key, period.is_some())
        || bad(burst_key, burst.is_some())
        || bad(by_key, by.is_some())
    {
        return None;
    }
    RateLimit::new(average?, period, burst, by.unwrap_or(RateKey::Ip))
        .map_err(|(field, e)| {
            let key = labels.key(&format!("rate_limit.{field}"));
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}

fn basic_auth(labels: &mut Labels<'_>) -> Option<BasicAuth> {
    let [_, _, users_key, file_key, realm_key, remove_key, ..] = SUFFIXES;
    let lines = labels.parse(users_key, list);
    let file = labels.parse(file_key, |v| read_users_file(Path::new(v.trim())));
    let realm = labels.parse(realm_key, |v| Ok::<_, String>(v.to_owned()));
    let remove_header = labels.parse(remove_key, boolean);
    if !labels.has(users_key) && !labels.has(file_key) {
        labels.orphans(&[realm_key, remove_key], &[users_key, file_key]);
        return None;
    }
    let mut users = file.unwrap_or_default();
    for line in lines.unwrap_or_default() {
        match basic::user(&line) {
            Ok(u) => users.push(u),
            Err(e) => {
                let key = labels.key(users_key);
                labels.problem(format!("label {key}: `{}...`: {e}", prefix_of(&line)));
                return None;
            }
        }
    }
    BasicAuth::new(users, realm.as_deref(), remove_header.unwrap_or(false))
        .map_err(|e| {
            let key = labels.key(users_key);
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}

/// The user name of an htpasswd line, for a message that must not show the hash.
fn prefix_of(line: &str) -> &str {
    line.split(':').next().unwrap_or_default()
}

fn allow(labels: &mut Labels<'_>) -> Option<Allow> {
    let [ips_key, depth_key, ..] = SUFFIXES;
    let ips = labels.parse(ips_key, ip_nets);
    let depth = labels.parse(depth_key, int_in(0, u32::from(MAX_FORWARDED_DEPTH)));
    if !labels.has(ips_key) {
        labels.orphans(&[depth_key], &[ips_key]);
        return None;
    }
    let allow = Allow::new(ips?, depth.unwrap_or(0));
    allow
        .map_err(|e| {
            let key = labels.key(&format!("allow.{}", e.field()));
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}
