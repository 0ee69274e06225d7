//! A static service's policies (control plane, load time): `allow`, `rate_limit`,
//! `in_flight`, `auth.basic` and `auth.forward`, checked with the rules labels use
//! (`model::policy`); every problem is recorded with its field path.

use std::path::Path;

use super::raw;
use super::validate::Problems;
use crate::model::policy::basic::{self, read_users_file};
use crate::model::policy::rate::rate_key;
use crate::model::policy::{
    Allow, BasicAuth, ForwardAuth, Policies, RateKey, RateLimit, IN_FLIGHT_ZERO,
};

/// The raw policy settings of a service: `allow`, `auth`, `rate_limit`, `in_flight`.
pub(super) type Raw = (
    Option<raw::Allow>,
    Option<raw::Auth>,
    Option<raw::RateLimit>,
    Option<raw::InFlight>,
);

/// The policies of the service at `path`; relative files start at `base`.
pub(super) fn policies(p: &mut Problems, path: &str, raw: Raw, base: &Path) -> Policies {
    let (allow_raw, auth, rate, in_flight) = raw;
    let (basic, forward) = auth.map_or((None, None), |a| (a.basic, a.forward));
    Policies {
        allow: allow_raw.and_then(|a| allow(p, path, a)),
        basic_auth: basic.and_then(|b| basic_auth(p, path, b, base)),
        forward_auth: forward.and_then(|f| forward_auth(p, path, f)),
        rate_limit: rate.and_then(|r| rate_limit(p, path, r)),
        in_flight_per_client: in_flight.and_then(|f| {
            if f.per_client == 0 {
                p.add(format!("{path}.in_flight.per_client"), IN_FLIGHT_ZERO);
            }
            (f.per_client > 0).then_some(f.per_client)
        }),
    }
}

fn allow(p: &mut Problems, path: &str, raw: raw::Allow) -> Option<Allow> {
    let ips = raw.ips.into_iter().map(|n| n.0).collect();
    Allow::new(ips, raw.forwarded_depth.unwrap_or(0))
        .map_err(|e| p.add(format!("{path}.allow.{}", e.field()), e.to_string()))
        .ok()
}

fn forward_auth(p: &mut Problems, path: &str, raw: raw::ForwardAuth) -> Option<ForwardAuth> {
    ForwardAuth::new(
        &raw.url,
        &raw.response_headers.unwrap_or_default(),
        &raw.request_headers.unwrap_or_default(),
        raw.timeout.map(|t| t.0),
        raw.failure_status,
    )
    .map_err(|(field, e)| p.add(format!("{path}.auth.forward.{field}"), e))
    .ok()
}

fn rate_limit(p: &mut Problems, path: &str, raw: raw::RateLimit) -> Option<RateLimit> {
    let at = format!("{path}.rate_limit");
    let by = match raw.by.as_deref().map(rate_key).transpose() {
        Ok(by) => by.unwrap_or(RateKey::Ip),
        Err(e) => {
            p.add(format!("{at}.by"), e);
            return None;
        }
    };
    RateLimit::new(raw.average, raw.period.map(|s| s.0), raw.burst, by)
        .map_err(|(field, e)| p.add(format!("{at}.{field}"), e))
        .ok()
}

/// `auth.basic`: users from `users_file` (relative to the config's directory) and `users`.
fn basic_auth(p: &mut Problems, path: &str, raw: raw::BasicAuth, base: &Path) -> Option<BasicAuth> {
    let at = format!("{path}.auth.basic");
    let mut users = Vec::new();
    if let Some(file) = &raw.users_file {
        let file = base.join(file);
        match read_users_file(&file) {
            Ok(found) => users.extend(found),
            Err(e) => p.add(format!("{at}.users_file"), e),
        }
    }
    for (i, line) in raw.users.unwrap_or_default().iter().enumerate() {
        match basic::user(line) {
            Ok(u) => users.push(u),
            Err(e) => p.add(format!("{at}.users[{i}]"), e),
        }
    }
    BasicAuth::new(
        users,
        raw.realm.as_deref(),
        raw.remove_header.unwrap_or(false),
    )
    .map_err(|e| p.add(at, e))
    .ok()
}
