//! A service's access policies applied to one HTTP request (data plane), in a fixed order:
//! the IP allow-list (403), the rate limit and the in-flight cap per client (429 with
//! `Retry-After`), Basic authentication
//! (401 with the realm's challenge), then forward authentication (the auth service's own
//! answer, or 503). The first refusal answers the request;
//! it is counted in `berth_policy_denied_total`. The client address is worked out once per
//! request of a service with policies.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use ipnet::IpNet;

use crate::metrics::policy_denied;
use crate::model::policy::{self, RateKey, RateLimit};
use crate::proxy::auth;
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::forward_auth::{self, Asking};
use crate::proxy::headers::X_FORWARDED_FOR;
use crate::proxy::target;
use crate::state::rate_limiter::ClientSlot;
use crate::state::snapshot::Service;

/// `Ok` when every policy of `service` lets the request through (its headers edited as
/// they ask), with the client's in-flight count to hold until the response ends; else
/// berth's answer. `peer` is the connection's client and `proto` its scheme
/// (`http`, `https`), `trusted` its listener's `trusted_ips`.
pub async fn guard(
    service: &Service,
    (peer, proto): (IpAddr, &'static str),
    trusted: &[IpNet],
    req: &mut Request<Incoming>,
) -> Result<Option<ClientSlot>, Response<ProxyBody>> {
    let spec = &service.spec;
    let policies = &spec.policies;
    let depth = policies.allow.as_ref().map_or(0, |a| a.forwarded_depth);
    let client = client(peer, trusted, req, depth);
    if let Some(allow) = &policies.allow {
        if !allow.allows(client) {
            policy_denied(&spec.name, "allow", "ip");
            return Err(ProxyError::Forbidden.into_response());
        }
    }
    if let Some(limit) = &policies.rate_limit {
        if let Err(wait) = rate(service, limit, client, req) {
            policy_denied(&spec.name, "rate_limit", "rate");
            return Err(too_many(wait));
        }
    }
    let held = match policies.in_flight_per_client {
        Some(cap) => {
            let counts = service
                .shared
                .client_in_flight
                .get_or_init(Default::default);
            let slot = counts.enter(client, cap);
            if slot.is_none() {
                policy_denied(&spec.name, "in_flight", "per_client");
                return Err(too_many(Duration::from_secs(1)));
            }
            slot
        }
        None => None,
    };
    if let Some(basic) = &policies.basic_auth {
        if let Err(why) = auth::check(basic, &spec.name, req.headers_mut()).await {
            policy_denied(&spec.name, "basic_auth", why.as_str());
            let mut response = ProxyError::Unauthorized.into_response();
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, basic.challenge.clone());
            return Err(response);
        }
    }
    if let Some(forward) = &policies.forward_auth {
        let host = target::host(req)
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned();
        let asking = Asking {
            client,
            proto,
            host: &host,
        };
        if let Err(refused) = forward_auth::check(forward, req, asking).await {
            policy_denied(&spec.name, "forward_auth", refused.reason);
            return Err(refused.response);
        }
    }
    Ok(held)
}

/// 429 with `Retry-After` (whole seconds, at least 1).
fn too_many(wait: Duration) -> Response<ProxyBody> {
    let mut response = ProxyError::RateLimited.into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, retry_after(wait));
    response
}

/// The request's client (see `model::policy::client_ip`).
fn client(peer: IpAddr, trusted: &[IpNet], req: &Request<Incoming>, depth: u8) -> IpAddr {
    let forwarded = req
        .headers()
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok());
    policy::client_ip(peer, trusted, forwarded, depth)
}

/// A token from the client's bucket, or the wait for the next one.
fn rate(
    service: &Service,
    limit: &RateLimit,
    client: IpAddr,
    req: &Request<Incoming>,
) -> Result<(), Duration> {
    let limiter = service.shared.rate.get_or_init(Default::default);
    let now = Instant::now();
    match &limit.by {
        RateKey::Ip => limiter.check(client, limit, now),
        RateKey::Service => limiter.check((), limit, now),
        RateKey::Header(name) => match req.headers().get(name) {
            Some(value) => limiter.check(value.as_bytes(), limit, now),
            None => limiter.check(client, limit, now),
        },
    }
}

/// Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
fn retry_after(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}
