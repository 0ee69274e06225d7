//! Client connection timeouts (data plane): idle keep-alive and slow request heads.
//!
//! hyper's own header-read timer also runs while a keep-alive connection waits for its next
//! request, which would cap `idle` at `header_read`; berth keeps the two apart. A
//! [`Tracked`] stream counts I/O and notices bytes arriving while no request is in flight
//! (a request head being read); [`watchdog`] wakes every quarter of the shorter timeout and
//! decides. Costs per request: two atomic updates; per read or write: one atomic add (and
//! on HTTP/2 reads, the frame headers crossed and one relaxed store).
//!
//! A new connection owes its first request head within `header_read`, like any head: a
//! client that connects and sends nothing is closed then, not after `idle`. HTTP/2
//! connections (their preface seen) have no request head to time; `idle` is counted as
//! Envoy does: time with no request in flight, whatever bytes arrive, so frames that never
//! complete a request (a trickled HEADERS, pings) cannot keep a connection open past `idle`.
//!
//! An HTTP/2 connection also owes each frame within `header_read`, a stream in flight or
//! not: h2 only surfaces whole header blocks, and a partial frame stalls all of the
//! connection's reads, so a HEADERS frame trickled beside a long request would otherwise
//! hold the connection forever. [`Frames`] follows the frame boundaries of what is read (the
//! 9-byte frame headers, payloads skipped) and [`Activity`] publishes whether the bytes read
//! so far stop inside a frame or a header block, and how many have been completed; the
//! watchdog closes a connection that stays inside the same one for `header_read`. No GOAWAY
//! is possible mid-frame: the connection is closed. (hyper and h2 have no frame deadline:
//! `keep_alive_interval`/`keep_alive_timeout` time pings, and
//! `max_pending_accept_reset_streams`/`max_local_error_reset_streams` bound reset floods.)

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

mod frames;

use frames::Frames;

/// The HTTP/2 connection preface's first bytes.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
/// Shortest watchdog period.
const MIN_TICK: Duration = Duration::from_millis(10);

/// What the watchdog knows about one connection.
#[derive(Debug)]
pub struct Activity {
    io: AtomicU64,
    in_flight: AtomicU32,
    head_pending: AtomicBool,
    first_read_done: AtomicBool,
    h2: AtomicBool,
    /// HTTP/2: frames (and header blocks) completed, shifted left once, with the low bit
    /// set while the bytes read so far stop inside one ([`Frames::published`]).
    frames: AtomicU64,
}

impl Default for Activity {
    /// A new connection: its first request head is pending.
    fn default() -> Self {
        Self {
            io: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            head_pending: AtomicBool::new(true),
            first_read_done: AtomicBool::new(false),
            h2: AtomicBool::new(false),
            frames: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// A request head was parsed and is being served.
    #[inline]
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
        self.head_pending.store(false, Relaxed);
    }

    /// The request's response head was produced.
    #[inline]
    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// Notes a read of `bytes`; true when they open an HTTP/2 connection (its preface).
    fn on_read(&self, bytes: &[u8]) -> bool {
        self.io.fetch_add(1, Relaxed);
        let mut h2_began = false;
        if !self.first_read_done.swap(true, Relaxed) && bytes.starts_with(H2_PREFACE) {
            self.h2.store(true, Relaxed);
            self.head_pending.store(false, Relaxed);
            h2_began = true;
        }
        if self.in_flight.load(Relaxed) == 0 && !self.h2.load(Relaxed) {
            self.head_pending.store(true, Relaxed);
        }
        h2_began
    }
}

/// Why the watchdog ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No I/O and no request for `idle`: close gracefully.
    Idle,
    /// A request head took longer than `header_read`: close at once.
    HeadTimeout,
}

impl Expiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::HeadTimeout => "header_timeout",
        }
    }
}

/// Resolves when the connection has been idle for `idle`, or a request head (an HTTP/2
/// frame or header block) has been arriving for longer than `header_read`.
pub async fn watchdog(activity: &Activity, idle: Duration, header_read: Duration) -> Expiry {
    let tick = (idle.min(header_read) / 4).max(MIN_TICK);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    let (mut last_io, mut quiet, mut heading) =
        (activity.io.load(Relaxed), Duration::ZERO, Duration::ZERO);
    let (mut last_frames, mut framing) = (activity.frames.load(Relaxed), Duration::ZERO);
    loop {
        interval.tick().await;
        heading = if activity.head_pending.load(Relaxed) {
            heading + tick
        } else {
            Duration::ZERO
        };
        // Inside the same frame since the last tick: no frame completed, none begun.
        let frames = activity.frames.load(Relaxed);
        framing = if frames & 1 == 1 && frames == last_frames {
            framing + tick
        } else {
            Duration::ZERO
        };
        last_frames = frames;
        if heading >= header_read || framing >= header_read {
            return Expiry::HeadTimeout;
        }
        let io = activity.io.load(Relaxed);
        let serving = activity.in_flight.load(Relaxed) > 0;
        let busy = serving || (io != last_io && !activity.h2.load(Relaxed));
        last_io = io;
        quiet = if busy { Duration::ZERO } else { quiet + tick };
        if quiet >= idle {
            return Expiry::Idle;
        }
    }
}

/// A client stream that reports its I/O to an [`Activity`].
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    /// An HTTP/2 connection's frame boundaries (`None`: not HTTP/2).
    frames: Option<Frames>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            frames: None,
        }
    }

    fn on_read(&mut self, bytes: &[u8]) {
        if self.activity.on_read(bytes) {
            self.frames = Some(Frames::default());
        }
        if let Some(frames) = &mut self.frames {
            frames.read(bytes);
            self.activity.frames.store(frames.published(), Relaxed);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let this = &mut *self;
            this.on_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io.fetch_add(1, Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io.fetch_add(1, Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection that has served one request and waits for the next.
    fn kept_alive() -> Activity {
        let a = Activity::default();
        a.on_read(b"GET / HTTP/1.1\r\n\r\n");
        a.request_started();
        a.request_finished();
        a
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connection_expires_after_idle() {
        let a = kept_alive();
        let started = tokio::time::Instant::now();
        let e = watchdog(&a, Duration::from_secs(8), Duration::from_secs(2)).await;
        assert_eq!(e, Expiry::Idle);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(8) && waited <= Duration::from_secs(9),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_owes_its_first_head_within_header_read() {
        let a = Activity::default();
        let started = tokio::time::Instant::now();
        let e = watchdog(&a, Duration::from_secs(90), Duration::from_secs(2)).await;
        assert_eq!(e, Expiry::HeadTimeout);
        assert!(started.elapsed() <= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn h2_frames_without_a_request_do_not_keep_it_open() {
        let a = Arc::new(Activity::default());
        a.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let trickle = Arc::clone(&a);
        // A byte of a HEADERS frame every 500 ms, never a whole request.
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                trickle.on_read(b"\x00");
            }
        });
        let started = tokio::time::Instant::now();
        let dog = watchdog(&a, Duration::from_secs(6), Duration::from_secs(1));
        let e = tokio::time::timeout(Duration::from_secs(60), dog).await;
        assert_eq!(e.expect("closed within idle"), Expiry::Idle);
        assert!(started.elapsed() <= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_head_expires_after_header_read() {
        let a = Activity::default();
        a.on_read(b"GET / HT");
        let e = watchdog(&a, Duration::from_secs(90), Duration::from_secs(2)).await;
        assert_eq!(e, Expiry::HeadTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn request_in_flight_is_not_idle() {
        let a = Arc::new(Activity::default());
        a.on_read(b"GET / HTTP/1.1\r\n\r\n");
        a.request_started();
        let dog = tokio::time::timeout(
            Duration::from_secs(30),
            watchdog(&a, Duration::from_secs(4), Duration::from_secs(2)),
        );
        assert!(
            dog.await.is_err(),
            "a slow request is the request timeout's business"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn h2_preface_is_not_a_slow_head() {
        let a = Activity::default();
        a.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let e = watchdog(&a, Duration::from_secs(6), Duration::from_secs(1)).await;
        assert_eq!(e, Expiry::Idle);
    }

    /// An HTTP/2 connection read through [`Tracked`] by a task of its own, with one long
    /// request in flight; `opening` is sent after the preface, then `each` every 500 ms.
    fn h2_with_a_long_request(opening: Vec<u8>, each: Vec<u8>) -> Arc<Activity> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let a = Arc::new(Activity::default());
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut tracked = Tracked::new(server, Arc::clone(&a));
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while matches!(tracked.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        a.request_started();
        tokio::spawn(async move {
            let mut first = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            first.extend(opening);
            client.write_all(&first).await.expect("duplex");
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                client.write_all(&each).await.expect("duplex");
            }
        });
        a
    }

    #[tokio::test(start_paused = true)]
    async fn an_h2_frame_trickled_beside_a_request_in_flight_expires_after_header_read() {
        // A HEADERS frame announcing 100 bytes, sent a byte at a time.
        let a = h2_with_a_long_request(vec![0, 0, 100, 0x1, 0x4, 0, 0, 0, 3], vec![0x82]);
        let dog = watchdog(&a, Duration::from_secs(6), Duration::from_secs(1));
        let e = tokio::time::timeout(Duration::from_secs(60), dog).await;
        assert_eq!(e.expect("closed"), Expiry::HeadTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn whole_h2_frames_beside_a_request_in_flight_do_not_expire() {
        // A PING every 500 ms: each a whole frame.
        let mut ping = vec![0, 0, 8, 0x6, 0, 0, 0, 0, 0];
        ping.extend([7; 8]);
        let a = h2_with_a_long_request(Vec::new(), ping);
        let dog = watchdog(&a, Duration::from_secs(6), Duration::from_secs(1));
        let e = tokio::time::timeout(Duration::from_secs(30), dog).await;
        assert!(e.is_err(), "{e:?}");
    }
}
