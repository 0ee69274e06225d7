//! A service's access policies applied to one HTTP request (data plane), in a fixed order:
//! the IP allow-list (403), then Basic authentication (401 with the realm's challenge). The
//! first refusal answers the request; it is counted in `berth_policy_denied_total`.

use std::net::IpAddr;

use http::header::WWW_AUTHENTICATE;
use http::{Request, Response};
use hyper::body::Incoming;
use ipnet::IpNet;

use crate::metrics::policy_denied;
use crate::model::policy;
use crate::model::ServiceSpec;
use crate::proxy::auth;
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::headers::X_FORWARDED_FOR;

/// `Ok` when every policy of `spec` lets the request through (its headers edited as they
/// ask); else berth's answer. `peer` is the connection's client, `trusted` its listener's
/// `trusted_ips`.
pub async fn guard(
    spec: &ServiceSpec,
    peer: IpAddr,
    trusted: &[IpNet],
    req: &mut Request<Incoming>,
) -> Result<(), Response<ProxyBody>> {
    let policies = &spec.policies;
    if let Some(allow) = &policies.allow {
        let forwarded = req
            .headers()
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let client = policy::client_ip(peer, trusted, forwarded, allow.forwarded_depth);
        if !allow.allows(client) {
            policy_denied(&spec.name, "allow", "ip");
            return Err(ProxyError::Forbidden.into_response());
        }
    }
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
    Ok(())
}
