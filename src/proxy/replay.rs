//! The kept head of a request that may be sent again (data plane).
//!
//! An idempotent request without a body can be replayed on another endpoint when its
//! connection fails before a response. hyper consumes the request it sends, so its head is
//! copied first: the method, the URI and the header list. The copy is the price of every such
//! request, so it is kept small: the headers go into a plain list (no hash index) taken from a
//! per-worker free list, so in steady state copying them allocates nothing; each name and
//! value is a reference-counted `Bytes` clone. Only a replay (rare) builds a `HeaderMap`.

use std::cell::RefCell;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body::Body;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;

use crate::proxy::pool::RequestBody;

/// Header lists kept for reuse per worker thread.
const FREE_LISTS: usize = 256;

type Headers = Vec<(HeaderName, HeaderValue)>;

thread_local! {
    static FREE: RefCell<Vec<Headers>> = const { RefCell::new(Vec::new()) };
}

/// The head of an idempotent request without a body.
pub struct Replay {
    method: Method,
    uri: Uri,
    headers: Headers,
}

impl Replay {
    /// A copy of `req`'s head when it may be replayed: idempotent, no body, not an
    /// `Upgrade`, and the service retries.
    #[inline]
    pub fn of(req: &Request<Incoming>, upgrade: bool, retries: u8) -> Option<Self> {
        let replayable =
            retries > 0 && !upgrade && req.method().is_idempotent() && req.body().is_end_stream();
        replayable.then(|| Self::copy(req))
    }

    fn copy(req: &Request<Incoming>) -> Self {
        let mut headers = FREE.with(|f| f.borrow_mut().pop()).unwrap_or_default();
        headers.extend(
            req.headers()
                .iter()
                .map(|(name, value)| (name.clone(), value.clone())),
        );
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers,
        }
    }

    /// A new request with the kept head and an empty body.
    pub fn request(&self) -> Request<RequestBody> {
        let mut req = Request::new(Either::Right(Empty::new()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        *req.headers_mut() = headers;
        req
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let mut headers = std::mem::take(&mut self.headers);
        headers.clear();
        FREE.with(|f| {
            let mut free = f.borrow_mut();
            if free.len() < FREE_LISTS {
                free.push(headers);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_keeps_method_uri_and_every_header_in_order() {
        let mut head = HeaderMap::new();
        head.append("x-a", HeaderValue::from_static("1"));
        head.append("x-a", HeaderValue::from_static("2"));
        head.append("host", HeaderValue::from_static("h"));
        let kept = Replay {
            method: Method::PUT,
            uri: "/p?q=1".parse().expect("uri"),
            headers: head.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
        };
        let req = kept.request();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(req.uri(), "/p?q=1");
        assert_eq!(req.headers(), &head);
        drop(kept);
        assert_eq!(
            FREE.with(|f| f.borrow().len()),
            1,
            "the list is kept for reuse"
        );
    }
}
