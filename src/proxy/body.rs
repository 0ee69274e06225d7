//! The response body streamed from an upstream (data plane).
//!
//! [`UpstreamBody`] passes frames through untouched (nothing is buffered) and, when the last
//! frame has been read, returns the upstream connection to its pool and ends the endpoint's
//! in-flight count. A body dropped before its end drops the connection instead: its state is
//! unknown, so it is never reused.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::endpoint::InFlight;
use crate::proxy::pool::{self, Sender};

/// What to release once the body has been read to its end.
#[derive(Debug)]
pub struct Exchange {
    pub sender: Sender,
    pub in_flight: InFlight,
    /// When the request started: the connection's idle clock counts from here (a little
    /// early, which errs on the safe side, and saves a clock read per request).
    pub since: std::time::Instant,
}

/// An upstream response body on its way to the client.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    exchange: Option<Exchange>,
}

impl UpstreamBody {
    /// Wraps `inner`; `exchange` (if any) is released at the body's end.
    pub fn new(inner: Incoming, exchange: Option<Exchange>) -> Self {
        let mut body = Self { inner, exchange };
        if body.inner.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some(exchange) = self.exchange.take() {
            pool::checkin(
                exchange.in_flight.endpoint(),
                exchange.sender,
                exchange.since,
            );
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.release(),
            Poll::Ready(Some(Err(_))) => self.exchange = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
