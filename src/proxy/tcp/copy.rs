//! Copying bytes both ways between two TCP sockets (data plane, one L4 connection).
//!
//! Each direction waits for its source to be readable, then reads into a buffer borrowed from
//! a per-thread pool and writes it all to the other side. The buffer goes back to the pool as
//! soon as the source has nothing more to read, so an idle connection holds no buffer: ten
//! thousand idle connections cost their sockets and a task each, not 2 × 64 KiB each.
//!
//! Half-close: when one side ends its sending (EOF), berth shuts down the write half of the
//! other side and keeps copying the opposite direction until it ends too. Invariant: the
//! copy ends when both directions reached EOF, or at the first error in either. Each chunk
//! moved spends one unit of the task's cooperative budget, so a bulk transfer yields to the
//! worker's other connections.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use metrics::Counter;
use socket2::SockRef;
use tokio::net::TcpStream;

use crate::state::endpoint::now_ns;

/// Bytes read per system call: large enough for loopback bulk transfer at memory speed.
pub const BUFFER_SIZE: usize = 64 * 1024;
/// Free buffers kept per worker thread; more are freed.
const POOL_CAP: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer lent by the thread's pool; returned on drop.
struct Buffer(Box<[u8]>);

impl Buffer {
    fn take() -> Self {
        let reused = POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten();
        Self(reused.unwrap_or_else(|| vec![0; BUFFER_SIZE].into_boxed_slice()))
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        // During thread teardown the pool may be gone: the buffer is then just freed.
        let _ = POOL.try_with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < POOL_CAP {
                pool.push(buf);
            }
        });
    }
}

/// One direction of a connection: where bytes come from and go, and what counts them.
pub struct Direction<'a> {
    pub from: &'a TcpStream,
    pub to: &'a TcpStream,
    /// Bytes moved this way (`berth_tcp_bytes_total{service,direction}`).
    pub bytes: &'a Counter,
}

/// Copies both ways until both directions end (`Ok`) or one fails; `activity` is set to
/// [`now_ns`] after every read, for the idle timeout.
pub async fn both_ways(
    up: Direction<'_>,
    down: Direction<'_>,
    activity: &AtomicU64,
) -> io::Result<()> {
    tokio::try_join!(one_way(up, activity), one_way(down, activity))?;
    Ok(())
}

async fn one_way(d: Direction<'_>, activity: &AtomicU64) -> io::Result<()> {
    let mut buf: Option<Buffer> = None;
    loop {
        d.from.readable().await?;
        let b = buf.get_or_insert_with(Buffer::take);
        match d.from.try_read(&mut b.0) {
            Ok(0) => {
                // The peer may already be gone; its own direction reports that.
                let _ = SockRef::from(d.to).shutdown(Shutdown::Write);
                return Ok(());
            }
            Ok(n) => {
                activity.store(now_ns(), Relaxed);
                write_all(d.to, &b.0[..n]).await?;
                d.bytes.increment(n as u64);
                // Readiness calls spend no task budget: without this, a transfer that never
                // blocks would keep the worker from every other connection on it.
                tokio::task::coop::consume_budget().await;
            }
            // Drained for now: give the buffer back while waiting.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf = None,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(to: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes bytes read before the copy started (a peeked ClientHello, a PROXY header).
pub async fn send(to: &TcpStream, data: &[u8]) -> io::Result<()> {
    write_all(to, data).await
}
