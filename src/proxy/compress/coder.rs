//! The streaming encoder a compressed response body runs through (data plane).
//!
//! Each upstream data frame is written into an in-memory encoder (async-compression's
//! `tokio::write` encoders over a `Vec<u8>`, which never waits) and whatever compressed
//! bytes that produced are sent on; nothing is buffered beyond the encoder's own window.
//! When the upstream has nothing more for now (its body is pending) the encoder is
//! flushed, so a slow stream reaches the client as it comes instead of waiting for the
//! encoder's buffer to fill. At the body's end the encoder's trailer is sent, then the
//! upstream's trailers, if any.
//!
//! Levels: gzip 6 (zlib's default), Brotli 4 and zstd 3 (their usual on-the-fly levels).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_compression::tokio::write::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use async_compression::Level;
use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tokio::io::AsyncWrite;
use tracing::warn;

use crate::model::compress::Encoding;

/// A polled body frame.
pub type Polled = Poll<Option<Result<Frame<Bytes>, hyper::Error>>>;

// The whole `Coder` is boxed once per compressed response, so variant sizes cost nothing.
#[allow(clippy::large_enum_variant)]
enum Enc {
    Gzip(GzipEncoder<Vec<u8>>),
    Br(BrotliEncoder<Vec<u8>>),
    Zstd(ZstdEncoder<Vec<u8>>),
}

/// What the encoder does next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading the upstream body; `true`: input written since the last flush.
    Reading(bool),
    /// The encoder is finished: the upstream trailers (if any), then the end.
    Done,
}

/// A response body's encoder and where it stands.
pub struct Coder {
    enc: Enc,
    stage: Stage,
    trailers: Option<HeaderMap>,
}

impl std::fmt::Debug for Coder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Coder")
    }
}

impl Coder {
    pub fn new(encoding: Encoding) -> Box<Self> {
        let out = Vec::new();
        let enc = match encoding {
            Encoding::Gzip => Enc::Gzip(GzipEncoder::with_quality(out, Level::Precise(6))),
            Encoding::Br => Enc::Br(BrotliEncoder::with_quality(out, Level::Precise(4))),
            Encoding::Zstd => Enc::Zstd(ZstdEncoder::with_quality(out, Level::Precise(3))),
        };
        Box::new(Self {
            enc,
            stage: Stage::Reading(false),
            trailers: None,
        })
    }

    /// True once everything, trailers included, has been sent.
    pub fn is_end_stream(&self) -> bool {
        self.stage == Stage::Done && self.trailers.is_none()
    }

    /// The next compressed frame, reading the upstream body with `source`.
    pub fn poll(
        &mut self,
        cx: &mut Context<'_>,
        mut source: impl FnMut(&mut Context<'_>) -> Polled,
    ) -> Polled {
        loop {
            let Stage::Reading(unflushed) = self.stage else {
                return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            let frame = match source(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return self.finish(cx),
                Poll::Pending if unflushed => {
                    self.stage = Stage::Reading(false);
                    match self.step(cx, Step::Flush) {
                        Ok(Some(out)) => return data(out),
                        Ok(None) => return Poll::Pending,
                        Err(e) => return failed(&e),
                    }
                }
                Poll::Pending => return Poll::Pending,
            };
            match frame.into_data() {
                Ok(input) => {
                    self.stage = Stage::Reading(true);
                    match self.step(cx, Step::Write(&input)) {
                        Ok(Some(out)) => return data(out),
                        Ok(None) => continue,
                        Err(e) => return failed(&e),
                    }
                }
                Err(frame) => {
                    self.trailers = frame.into_trailers().ok();
                    return self.finish(cx);
                }
            }
        }
    }

    /// Ends the encoding: its last bytes.
    fn finish(&mut self, cx: &mut Context<'_>) -> Polled {
        self.stage = Stage::Done;
        match self.step(cx, Step::Shutdown) {
            Ok(Some(out)) => data(out),
            Ok(None) => Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t)))),
            Err(e) => failed(&e),
        }
    }

    /// Feeds the encoder and takes what it produced (`None`: nothing yet).
    fn step(&mut self, cx: &mut Context<'_>, step: Step<'_>) -> io::Result<Option<Bytes>> {
        match &mut self.enc {
            Enc::Gzip(e) => run(e, cx, step),
            Enc::Br(e) => run(e, cx, step),
            Enc::Zstd(e) => run(e, cx, step),
        }
    }
}

/// One operation on the encoder.
#[derive(Clone, Copy)]
enum Step<'a> {
    Write(&'a [u8]),
    Flush,
    Shutdown,
}

/// An encoder over a `Vec<u8>` (never pending), and the bytes it has produced.
trait Encoder: AsyncWrite + Unpin {
    fn output(&mut self) -> &mut Vec<u8>;
}

macro_rules! encoder {
    ($($t:ident),*) => {$(
        impl Encoder for $t<Vec<u8>> {
            fn output(&mut self) -> &mut Vec<u8> {
                self.get_mut()
            }
        }
    )*};
}
encoder!(GzipEncoder, BrotliEncoder, ZstdEncoder);

fn run<E: Encoder>(e: &mut E, cx: &mut Context<'_>, step: Step<'_>) -> io::Result<Option<Bytes>> {
    match step {
        Step::Write(mut input) => {
            while !input.is_empty() {
                let n = ready(Pin::new(&mut *e).poll_write(cx, input))?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                input = input.get(n..).unwrap_or_default();
            }
        }
        Step::Flush => ready(Pin::new(&mut *e).poll_flush(cx))?,
        Step::Shutdown => ready(Pin::new(&mut *e).poll_shutdown(cx))?,
    }
    let out = std::mem::take(e.output());
    Ok((!out.is_empty()).then(|| Bytes::from(out)))
}

/// The result of an encoder call that cannot wait (it writes to memory).
fn ready<T>(p: Poll<io::Result<T>>) -> io::Result<T> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::Error::other("encoder pending")),
    }
}

fn data(out: Bytes) -> Polled {
    Poll::Ready(Some(Ok(Frame::data(out))))
}

/// An encoder that failed (in memory: never seen). The body ends there; the client's
/// decoder sees a truncated stream (gzip's CRC, Brotli's and zstd's framing catch it).
#[cold]
fn failed(e: &io::Error) -> Polled {
    warn!(error = %e, "response compression failed; body cut short");
    Poll::Ready(None)
}
