//! Bodies on their way through berth (data plane), streamed, never buffered.
//!
//! [`UpstreamBody`], a response on its way to the client: when the last frame has been read,
//! it returns the upstream connection to its pool and ends the endpoint's in-flight count. A
//! body dropped before its end drops the connection instead: its state is unknown, so it is
//! never reused. Outlier detection hears of the response when its body ends: its status
//! when read to its end (or dropped by the client), a failure (502) when the upstream broke
//! it (a reset or a close before its end): the backend cut its own answer short.
//!
//! [`WatchedBody`], a request body on its way upstream: for a request that has one, it notes
//! whether the client sent it to its end or broke it (a malformed chunk, an aborted upload),
//! so that a failure the client caused is answered as the client's and never blamed on the
//! endpoint. It also counts the body's bytes, which the access log reads; with the service's
//! `max_request_body`, it fails the body (the upstream request is aborted) as soon as they
//! pass the limit. With `defaults.timeouts.body_min_rate` on, it fails a body that arrives
//! slower than that ([`pace`]). A request without a body carries no [`BodyWatch`] and costs
//! nothing more.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Either;
use hyper::body::Incoming;

use crate::endpoint::InFlight;
use crate::model::MinRate;
use crate::proxy::compress::coder::{Coder, Polled};
use crate::proxy::pool::{self, RequestBody, Sender};
use crate::state::rate_limiter::ClientSlot;
use crate::state::snapshot::Service;

mod pace;

use pace::Pace;

/// What to release once the body has been read to its end.
#[derive(Debug)]
pub struct Exchange {
    pub sender: Sender,
    pub in_flight: InFlight,
    /// When the request started: the connection's idle clock counts from here (a little
    /// early, which errs on the safe side, and saves a clock read per request).
    pub since: std::time::Instant,
    /// The service the endpoint belongs to: its outlier detection hears of a body the
    /// upstream breaks.
    pub service: Arc<Service>,
    /// The response's status, which outlier detection hears of at the body's end.
    pub status: u16,
    /// How far the client got with its request body, if it has one: a response the
    /// upstream breaks after the client broke its request is the client's doing.
    pub request_body: Option<Arc<BodyWatch>>,
}

/// An upstream response body on its way to the client.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    exchange: Option<Exchange>,
    /// The client's in-flight count (`in_flight.per_client`), held to the body's end.
    client: Option<ClientSlot>,
    /// The encoder the body runs through when the response is compressed.
    coder: Option<Box<Coder>>,
}

impl UpstreamBody {
    /// Wraps `inner`; `exchange` (if any) is released at the body's end.
    pub fn new(inner: Incoming, exchange: Option<Exchange>) -> Self {
        let mut body = Self {
            inner,
            exchange,
            client: None,
            coder: None,
        };
        if body.inner.is_end_stream() {
            body.release();
        }
        body
    }

    /// Holds `client`'s in-flight count until the body has been read or dropped.
    pub fn hold(mut self, client: ClientSlot) -> Self {
        if self.exchange.is_some() || !self.inner.is_end_stream() {
            self.client = Some(client);
        }
        self
    }

    /// The body compressed by `coder` (`proxy::compress`).
    pub fn encode(mut self, coder: Box<Coder>) -> Self {
        self.coder = Some(coder);
        self
    }

    /// The upstream's next frame, releasing what it holds at the end.
    fn poll_upstream(&mut self, cx: &mut Context<'_>) -> Polled {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match state_after(&polled, &self.inner) {
            BodyState::Done => self.release(),
            BodyState::Failed | BodyState::TooLarge | BodyState::TooSlow => self.blame(),
            BodyState::Streaming => {}
        }
        polled
    }

    /// The upstream broke the body: a failure of its endpoint (the way a reset before the
    /// head is); the connection is dropped, not reused.
    #[cold]
    fn blame(&mut self) {
        if let Some(exchange) = self.exchange.take() {
            let client_broke = exchange.request_body.as_ref().is_some_and(|b| {
                matches!(
                    b.state(),
                    BodyState::Failed | BodyState::TooLarge | BodyState::TooSlow
                )
            });
            if client_broke {
                return;
            }
            let endpoint = exchange.in_flight.endpoint();
            exchange.service.outlier.observe(endpoint, 502);
        }
    }

    /// Tells outlier detection how the exchange ended: with its response's status.
    fn observe(exchange: &Exchange) {
        let endpoint = exchange.in_flight.endpoint();
        exchange.service.outlier.observe(endpoint, exchange.status);
    }

    fn release(&mut self) {
        self.client = None;
        if let Some(exchange) = self.exchange.take() {
            Self::observe(&exchange);
            pool::checkin(
                exchange.in_flight.endpoint(),
                exchange.sender,
                exchange.since,
            );
        }
    }
}

impl Drop for UpstreamBody {
    /// A body the client dropped before its end: the endpoint answered as far as anyone
    /// knows.
    fn drop(&mut self) {
        if let Some(exchange) = &self.exchange {
            Self::observe(exchange);
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
        let Some(mut coder) = self.coder.take() else {
            return self.poll_upstream(cx);
        };
        let polled = coder.poll(cx, |cx| self.poll_upstream(cx));
        self.coder = Some(coder);
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.coder {
            None => self.inner.is_end_stream(),
            Some(coder) => coder.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.coder {
            None => self.inner.size_hint(),
            Some(_) => SizeHint::default(),
        }
    }
}

/// How far a body got: for a request body, how far the client got with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BodyState {
    /// Still arriving.
    Streaming = 0,
    /// Received to its end.
    Done = 1,
    /// Broken: malformed framing, or the connection closed mid-body.
    Failed = 2,
    /// Longer than the service's `max_request_body`: cut off.
    TooLarge = 3,
    /// Slower than `defaults.timeouts.body_min_rate`: cut off.
    TooSlow = 4,
}

/// Where `inner` stands after a poll that returned `polled`.
#[inline]
fn state_after(
    polled: &Poll<Option<Result<Frame<Bytes>, hyper::Error>>>,
    inner: &Incoming,
) -> BodyState {
    match polled {
        Poll::Ready(None) => BodyState::Done,
        Poll::Ready(Some(Ok(_))) if inner.is_end_stream() => BodyState::Done,
        Poll::Ready(Some(Err(_))) => BodyState::Failed,
        _ => BodyState::Streaming,
    }
}

/// Shared by a [`WatchedBody`] (which may be polled on the upstream connection's task) and
/// the request's forwarding code (and the access log, which reads the bytes).
#[derive(Debug)]
pub struct BodyWatch {
    state: AtomicU8,
    /// Body bytes read from the client so far.
    read: AtomicU64,
    /// The most bytes the body may have (`u64::MAX`: no limit).
    limit: u64,
}

impl BodyWatch {
    /// Body bytes read from the client so far.
    pub fn bytes(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Adds `n` bytes read (one writer, the body's poller: a load and a store, no locked
    /// instruction); false once they pass the limit.
    #[inline]
    fn read(&self, n: usize) -> bool {
        let total = self.read.load(Ordering::Relaxed).saturating_add(n as u64);
        self.read.store(total, Ordering::Relaxed);
        total <= self.limit
    }

    pub fn state(&self) -> BodyState {
        match self.state.load(Ordering::Acquire) {
            0 => BodyState::Streaming,
            1 => BodyState::Done,
            3 => BodyState::TooLarge,
            4 => BodyState::TooSlow,
            _ => BodyState::Failed,
        }
    }

    fn set(&self, state: BodyState) {
        self.state.store(state as u8, Ordering::Release);
    }
}

/// Why a request body did not reach the upstream whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Client(#[from] hyper::Error),
    #[error("the request body is over the service's max_request_body")]
    TooLarge,
    #[error("the request body arrives slower than defaults.timeouts.body_min_rate")]
    TooSlow,
}

/// A client's request body that has one, sent upstream frame by frame and watched. Boxed,
/// so that the request body type is no larger than a bare `Incoming` and a request without
/// a body (sent as the bare `Incoming`) moves no more bytes than before.
#[derive(Debug)]
pub struct WatchedBody {
    inner: Box<Incoming>,
    watch: Arc<BodyWatch>,
    /// With a minimum data rate: the body's pace (boxed, as the body is moved around).
    pace: Option<Box<Pace>>,
}

/// The client's body as sent upstream: a body-less one as it is, one with a body watched
/// (`watch` then gets the watch), cut off past `limit` bytes or when slower than `rate`.
#[inline]
pub fn request_body(
    inner: Incoming,
    watch: &mut Option<Arc<BodyWatch>>,
    limit: Option<u64>,
    rate: Option<MinRate>,
) -> RequestBody {
    if inner.is_end_stream() {
        return Either::Left(inner);
    }
    let shared = Arc::new(BodyWatch {
        state: AtomicU8::new(BodyState::Streaming as u8),
        limit: limit.unwrap_or(u64::MAX),
        read: AtomicU64::new(0),
    });
    *watch = Some(Arc::clone(&shared));
    Either::Right(Either::Left(WatchedBody {
        inner: Box::new(inner),
        watch: shared,
        pace: rate.map(|r| Box::new(Pace::new(r))),
    }))
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut *this.inner).poll_frame(cx);
        let too_slow = match (&polled, &mut this.pace) {
            (Poll::Ready(Some(Ok(frame))), pace) => {
                let len = frame.data_ref().map_or(0, Bytes::len);
                if !this.watch.read(len) {
                    this.watch.set(BodyState::TooLarge);
                    return Poll::Ready(Some(Err(BodyError::TooLarge)));
                }
                if let Some(pace) = pace {
                    pace.data();
                }
                false
            }
            (Poll::Pending, Some(pace)) => !pace.wait(cx, this.watch.bytes()),
            _ => false,
        };
        if too_slow {
            this.watch.set(BodyState::TooSlow);
            return Poll::Ready(Some(Err(BodyError::TooSlow)));
        }
        match state_after(&polled, &self.inner) {
            BodyState::Streaming => {}
            ended => self.watch.set(ended),
        }
        polled.map(|f| f.map(|r| r.map_err(BodyError::Client)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
