//! The response body of a logged request (data plane): counts the bytes sent and hands the
//! record to the writer when the body ends, fails, or is dropped.
//!
//! Only a logged request's body is wrapped; the others go out as they are
//! ([`ServedBody::Left`](http_body_util::Either)), so the access log costs them nothing. A
//! body dropped before its end (the client went away, or the connection was cut) is still
//! logged, with the bytes sent so far and `error: client_closed`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Either;

use super::record::Record;
use super::AccessLog;
use crate::proxy::body::BodyWatch;
use crate::proxy::error::ProxyBody;

/// Every response body berth sends: as it is, or counted for the access log.
pub type ServedBody = Either<ProxyBody, LoggedBody>;

/// A logged request's response body.
#[derive(Debug)]
pub struct LoggedBody {
    inner: ProxyBody,
    bytes: u64,
    /// Until the record is handed to the writer.
    open: Option<Open>,
}

/// What completes a record at the body's end.
#[derive(Debug)]
pub(super) struct Open {
    pub(super) record: Box<Record>,
    /// When the request arrived.
    pub(super) start: Instant,
    /// The request body's watch, for its byte count (`None`: the request had no body).
    pub(super) request_body: Option<Arc<BodyWatch>>,
    pub(super) log: Arc<AccessLog>,
}

impl LoggedBody {
    pub(super) fn new(inner: ProxyBody, open: Open) -> Self {
        Self {
            inner,
            bytes: 0,
            open: Some(open),
        }
    }

    /// Completes the record and hands it to the writer (once).
    fn finish(&mut self, completed: bool, error: Option<&'static str>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let mut record = open.record;
        record.duration = open.start.elapsed();
        record.bytes_out = self.bytes;
        record.bytes_in = open.request_body.map_or(0, |w| w.bytes());
        if record.error.is_none() {
            record.error = match completed {
                true => error,
                false => error.or(Some("client_closed")),
            };
        }
        open.log.write(record);
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = <ProxyBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
                if self.inner.is_end_stream() {
                    self.finish(true, None);
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish(false, Some("upstream_body")),
            Poll::Ready(None) => self.finish(true, None),
            Poll::Pending => {}
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

impl Drop for LoggedBody {
    fn drop(&mut self) {
        let completed = self.inner.is_end_stream();
        self.finish(completed, None);
    }
}
