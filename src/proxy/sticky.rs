//! Sticky sessions by cookie (data plane).
//!
//! A request to a sticky service whose cookie names a routable endpoint goes there, ahead
//! of the balancer, still counted in flight and within `limits.max_in_flight` (a full
//! endpoint passes the request to another with room, as any pick would; the cookie stays).
//! A retry goes elsewhere as usual. A request without a valid cookie for a routable
//! endpoint (none, unknown, or its endpoint drained, excluded or gone) is balanced, and its
//! response sets a cookie naming the endpoint that answered: the client fails over.
//!
//! Cost: a service that is not sticky pays one `Option` test per request; a sticky one a
//! scan of its `Cookie` headers and a binary search (`model::sticky::StickyIndex`).

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, Response};

use crate::proxy::error::{ProxyBody, ProxyError};
use crate::state::snapshot::Service;

/// What the request of a sticky service carried.
#[derive(Clone, Copy, Debug)]
pub struct Stuck {
    /// The routable endpoint its cookie names; `None`: a cookie is to be set.
    pub index: Option<usize>,
}

/// The request's sticky state; `None` when the service is not sticky.
#[inline]
pub fn lookup(service: &Service, headers: &HeaderMap) -> Option<Stuck> {
    let index = service.sticky.as_ref()?;
    let name = &service.spec.sticky.as_ref()?.cookie;
    let found = cookie_value(headers, name)
        .and_then(|v| index.find(v))
        .filter(|i| service.endpoints.get(*i).is_some_and(|e| e.is_routable()));
    Some(Stuck { index: found })
}

/// The endpoint to try first.
#[inline]
pub fn prefer(stuck: Option<Stuck>) -> Option<usize> {
    stuck?.index
}

/// The answer from endpoint `index`, with a cookie naming it when the request had no valid
/// one.
#[inline]
pub fn answer(
    service: &Service,
    stuck: Option<Stuck>,
    index: usize,
    answer: Result<Response<ProxyBody>, ProxyError>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let Some(Stuck { index: None }) = stuck else {
        return answer;
    };
    answer.map(|mut response| {
        if let Some(cookie) = service.sticky.as_ref().and_then(|s| s.cookie(index)) {
            response.headers_mut().append(SET_COOKIE, cookie.clone());
        }
        response
    })
}

/// The value of the first cookie called `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_named_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; berth_app=00ff"));
        h.append(COOKIE, HeaderValue::from_static("berth_app=later"));
        assert_eq!(cookie_value(&h, "berth_app"), Some("00ff"));
        assert_eq!(cookie_value(&h, "berth"), None);
        assert_eq!(cookie_value(&HeaderMap::new(), "a"), None);
    }
}
