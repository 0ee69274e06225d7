//! Copying bytes both ways between two TCP sockets (data plane, one L4 connection).
//!
//! Each direction waits for its source to be readable, then reads into a buffer borrowed from
//! a per-thread pool and writes it all to the other side. The buffer goes back to the pool as
//! soon as the source has nothing more to read, so an idle connection holds no buffer: ten
//! thousand idle connections cost their sockets and a task each, not 2 × 64 KiB each.
//!
//! Buffers come in two sizes. A direction reads into a [`BUFFER_SIZE`] one until a read
//! brings that much (the source had at least that much queued: a bulk transfer that berth is
//! behind on); from then on it reads into a [`BULK_BUFFER_SIZE`] one, until a read brings less
//! than [`BUFFER_SIZE`] again. Interactive traffic never borrows a bulk buffer. A bulk stream
//! moves up to 16 times as much per system call, and the kernel wakes the peers on either side
//! far less often: on loopback that halves berth's CPU per GB (`benches/tcp.sh`). The cost: a
//! bulk direction holds 1 MiB while data flows (and while its writes wait), not 64 KiB; once
//! idle, either holds nothing.
//!
//! Half-close: when one side ends its sending (EOF), berth shuts down the write half of the
//! other side and keeps copying the opposite direction until it ends too. Invariant: the
//! copy ends when both directions reached EOF, or at the first error in either. Every 64 KiB
//! moved spends one unit of the task's cooperative budget, so a bulk transfer yields to the
//! worker's other connections.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use metrics::Counter;
use socket2::SockRef;
use tokio::net::TcpStream;

use crate::endpoint::now_ns;

/// Bytes read per system call while the data comes in small amounts (the usual case).
pub const BUFFER_SIZE: usize = 64 * 1024;
/// Bytes read per system call in a bulk transfer (a read filled a [`BUFFER_SIZE`] buffer).
pub const BULK_BUFFER_SIZE: usize = 1024 * 1024;
/// Free buffers of each size kept per worker thread (4 MiB and 8 MiB); more are freed.
const POOL_CAP: usize = 64;
const BULK_POOL_CAP: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
    static BULK_POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer lent by the thread's pool of its size; returned on drop.
struct Buffer(Box<[u8]>);

impl Buffer {
    fn take(bulk: bool) -> Self {
        let (pool, size) = if bulk {
            (&BULK_POOL, BULK_BUFFER_SIZE)
        } else {
            (&POOL, BUFFER_SIZE)
        };
        let reused = pool.try_with(|p| p.borrow_mut().pop()).ok().flatten();
        Self(reused.unwrap_or_else(|| vec![0; size].into_boxed_slice()))
    }

    fn is_bulk(&self) -> bool {
        self.0.len() == BULK_BUFFER_SIZE
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let (pool, cap) = if buf.len() == BULK_BUFFER_SIZE {
            (&BULK_POOL, BULK_POOL_CAP)
        } else {
            (&POOL, POOL_CAP)
        };
        // During thread teardown the pool may be gone: the buffer is then just freed.
        let _ = pool.try_with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < cap {
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
    // Whether the last read brought a small buffer's worth or more (see the module doc).
    let mut bulk = false;
    loop {
        d.from.readable().await?;
        let b = buf.get_or_insert_with(|| Buffer::take(bulk));
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
                bulk = n >= BUFFER_SIZE;
                if bulk && !b.is_bulk() {
                    *b = Buffer::take(true);
                }
                // Readiness calls spend no task budget: without this, a transfer that never
                // blocks would keep the worker from every other connection on it. One unit
                // per 64 KiB moved: a task yields after at most 8 MiB (tokio's budget is 128).
                for _ in 0..n.div_ceil(BUFFER_SIZE) {
                    tokio::task::coop::consume_budget().await;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (b, _) = l.accept().await.expect("accept");
        (a, b)
    }

    fn pooled() -> (usize, usize) {
        (
            POOL.with(|p| p.borrow().len()),
            BULK_POOL.with(|p| p.borrow().len()),
        )
    }

    /// Runs `talk(client, server)` with `client` relayed to `server` by [`both_ways`] (on this
    /// thread, so its buffers go back to this thread's pools) until both sides close.
    async fn relayed<F, Fut>(talk: F)
    where
        F: FnOnce(TcpStream, TcpStream) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let (client, near) = pair().await;
        let (far, server) = pair().await;
        let bytes = Counter::noop();
        let activity = AtomicU64::new(0);
        let up = Direction {
            from: &near,
            to: &far,
            bytes: &bytes,
        };
        let down = Direction {
            from: &far,
            to: &near,
            bytes: &bytes,
        };
        let (copied, ()) = tokio::join!(both_ways(up, down, &activity), talk(client, server));
        copied.expect("relay");
    }

    #[tokio::test]
    async fn small_exchanges_never_borrow_a_bulk_buffer() {
        relayed(|mut client, mut server| async move {
            let mut answer = [0u8; 100];
            for _ in 0..100 {
                client.write_all(&[7; 100]).await.expect("write");
                server.read_exact(&mut answer).await.expect("read");
                server.write_all(&answer).await.expect("echo");
                client.read_exact(&mut answer).await.expect("read echo");
            }
            drop(client);
            assert_eq!(server.read(&mut answer).await.expect("eof"), 0);
        })
        .await;
        let (small, bulk) = pooled();
        assert!(small >= 1, "small buffers were used and returned");
        assert_eq!(bulk, 0, "no bulk buffer was taken");
    }

    #[tokio::test]
    async fn a_bulk_stream_moves_to_bulk_buffers_intact_and_returns_them() {
        const LEN: usize = 8 * BULK_BUFFER_SIZE;
        relayed(|mut client, mut server| async move {
            let sent: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            let send = async {
                client.write_all(&sent).await.expect("write");
                client.shutdown().await.expect("shutdown");
            };
            let mut got = Vec::with_capacity(LEN);
            let receive = server.read_to_end(&mut got);
            let ((), received) = tokio::join!(send, receive);
            assert_eq!(received.expect("read"), LEN);
            assert!(got == sent, "the bytes arrive intact and in order");
        })
        .await;
        let (_, bulk) = pooled();
        assert_eq!(bulk, 1, "one bulk buffer was taken and returned");
    }
}
