//! The kept head of a request that may be sent again (data plane).
//!
//! An idempotent request without a body can be replayed on another endpoint when its
//! connection fails before a response. hyper consumes the request it sends, so its head is
//! copied first. The copy is the price of every such request, so it is made cheap: the URI,
//! header names and values are copied as bytes into one buffer taken from a per-worker free
//! list (no allocation in steady state, and no reference counts to take and drop on the
//! request's shared read buffer). Only a replay (rare) parses them back into a request.

use std::cell::RefCell;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body::Body;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;

use crate::proxy::pool::RequestBody;

/// Buffers kept for reuse per worker thread.
const FREE_BUFFERS: usize = 256;

/// The bytes of a head: the URI, then each header's name and value back to back.
#[derive(Default)]
struct Head {
    data: Vec<u8>,
    /// End of the URI in `data`.
    uri_end: usize,
    /// Per header: end of its name, end of its value.
    spans: Vec<(usize, usize)>,
}

thread_local! {
    static FREE: RefCell<Vec<Head>> = const { RefCell::new(Vec::new()) };
}

/// The head of an idempotent request without a body.
pub struct Replay {
    method: Method,
    head: Head,
}

impl Replay {
    /// A copy of `req`'s head when it may be replayed: idempotent, no body, not an
    /// `Upgrade`, and the service retries.
    #[inline]
    pub fn of(req: &Request<Incoming>, upgrade: bool, retries: u8) -> Option<Self> {
        let replayable =
            retries > 0 && !upgrade && req.method().is_idempotent() && req.body().is_end_stream();
        replayable.then(|| Self::copy(req.method(), req.uri(), req.headers()))
    }

    fn copy(method: &Method, uri: &Uri, headers: &HeaderMap) -> Self {
        let mut head = FREE.with(|f| f.borrow_mut().pop()).unwrap_or_default();
        if let Some(scheme) = uri.scheme_str() {
            head.data.extend_from_slice(scheme.as_bytes());
            head.data.extend_from_slice(b"://");
        }
        if let Some(authority) = uri.authority() {
            head.data.extend_from_slice(authority.as_str().as_bytes());
        }
        if let Some(path) = uri.path_and_query() {
            head.data.extend_from_slice(path.as_str().as_bytes());
        }
        head.uri_end = head.data.len();
        for (name, value) in headers {
            head.data.extend_from_slice(name.as_str().as_bytes());
            let name_end = head.data.len();
            head.data.extend_from_slice(value.as_bytes());
            head.spans.push((name_end, head.data.len()));
        }
        Self {
            method: method.clone(),
            head,
        }
    }

    /// A new request with the kept head and an empty body.
    pub fn request(&self) -> Request<RequestBody> {
        let mut req = Request::new(Either::Right(Either::Right(Empty::new())));
        *req.method_mut() = self.method.clone();
        let head = &self.head;
        // Invariant: the bytes were copied from a valid URI and valid header names and
        // values, so they parse back; a failure would only drop that part.
        if let Ok(uri) = Uri::try_from(&head.data[..head.uri_end]) {
            *req.uri_mut() = uri;
        }
        let mut headers = HeaderMap::with_capacity(head.spans.len());
        let mut start = head.uri_end;
        for &(name_end, value_end) in &head.spans {
            let name = HeaderName::from_bytes(&head.data[start..name_end]);
            let value = HeaderValue::from_bytes(&head.data[name_end..value_end]);
            if let (Ok(name), Ok(value)) = (name, value) {
                headers.append(name, value);
            }
            start = value_end;
        }
        *req.headers_mut() = headers;
        req
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let mut head = std::mem::take(&mut self.head);
        head.data.clear();
        head.spans.clear();
        FREE.with(|f| {
            let mut free = f.borrow_mut();
            if free.len() < FREE_BUFFERS {
                free.push(head);
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
        let uri: Uri = "http://h.example/p?q=1".parse().expect("uri");
        let kept = Replay::copy(&Method::PUT, &uri, &head);
        let req = kept.request();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(req.uri(), "http://h.example/p?q=1");
        assert_eq!(req.headers(), &head);
        drop(kept);
        assert_eq!(
            FREE.with(|f| f.borrow().len()),
            1,
            "the buffer is kept for reuse"
        );
    }
}
