//! Sticky sessions by cookie (data plane).
//!
//! A request to a sticky service whose cookie names a routable endpoint goes there, ahead
//! of the balancer, still counted in flight and within `limits.max_in_flight` (a full
//! endpoint passes the request to another with room, as any pick would; the cookie stays).
//! A retry goes elsewhere as usual. A request without a valid cookie for a routable
//! endpoint (none, unknown, or its endpoint drained, excluded or gone) is balanced, and its
//! response sets a cookie naming the endpoint that answered: the client fails over.
//!
//! The cookie is berth's alone: [`strip`] takes it out of the request's `Cookie` headers
//! before the request is forwarded (other cookies kept, in order; a header left empty is
//! dropped), as HAProxy's `cookie … indirect` does, so backends never see or log it.
//!
//! Cost: a service that is not sticky pays one `Option` test per request; a sticky one a
//! scan of its `Cookie` headers and a binary search (`model::sticky::StickyIndex`).

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response};

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

/// Takes the service's sticky cookie out of the request's `Cookie` headers (a service that
/// is not sticky: nothing to do). Other cookies stay, in order; a header with nothing left
/// is removed.
pub fn strip(service: &Service, headers: &mut HeaderMap) {
    let Some(sticky) = service.spec.sticky.as_ref() else {
        return;
    };
    let name = sticky.cookie.as_str();
    // The common case, a request without the cookie, leaves the headers as they are.
    let carries = headers.get_all(COOKIE).iter().any(|h| {
        h.to_str()
            .is_ok_and(|h| pairs(h).any(|p| is_named(p, name)))
    });
    if !carries {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| without(h, name))
        .collect();
    headers.remove(COOKIE);
    for value in kept {
        headers.append(COOKIE, value);
    }
}

/// `header` without the cookies called `name`; `None` when nothing is left. A header that is
/// not text is kept as it is (it cannot carry the cookie berth looks for).
fn without(header: &HeaderValue, name: &str) -> Option<HeaderValue> {
    let Ok(text) = header.to_str() else {
        return Some(header.clone());
    };
    if !pairs(text).any(|p| is_named(p, name)) {
        return Some(header.clone());
    }
    let rest: Vec<&str> = pairs(text).filter(|p| !is_named(p, name)).collect();
    if rest.is_empty() {
        return None;
    }
    // The kept pairs come from a valid header value, joined with `; `: still valid.
    HeaderValue::from_str(&rest.join("; ")).ok()
}

/// The `name=value` pairs of one `Cookie` header, trimmed, empty ones left out.
fn pairs(header: &str) -> impl Iterator<Item = &str> {
    header.split(';').map(str::trim).filter(|p| !p.is_empty())
}

fn is_named(pair: &str, name: &str) -> bool {
    pair.split_once('=').is_some_and(|(n, _)| n.trim() == name)
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
        .flat_map(pairs)
        .filter_map(|pair| pair.split_once('='))
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

    #[test]
    fn the_named_cookie_is_taken_out_and_the_others_kept_in_order() {
        let header = |v: &'static str| HeaderValue::from_static(v);
        let cut = |v: &'static str| without(&header(v), "berth_app");
        assert_eq!(cut("a=1; berth_app=00ff; b=2"), Some(header("a=1; b=2")));
        assert_eq!(cut("berth_app=00ff;a=1"), Some(header("a=1")));
        assert_eq!(cut(" berth_app=00ff ; berth_app=x"), None);
        assert_eq!(cut("berth_apps=1; a=1"), Some(header("berth_apps=1; a=1")));
        assert_eq!(cut("x=berth_app=1"), Some(header("x=berth_app=1")));
    }
}
