//! Circuit breaking (data plane): per-endpoint in-flight limits and a per-service queue.
//!
//! HAProxy's `maxconn` + `maxqueue`, Envoy's `max_requests` + `max_pending_requests`: with
//! `limits.max_in_flight` set, an endpoint already serving that many requests is not given
//! another; when every endpoint of a service is full, a request **waits** in the service's
//! [`Queue`] for a slot, at most `limits.max_pending` of them and each at most the queue
//! timeout. Beyond either, the client gets a fast 503 with the reason and
//! `berth_circuit_open_total{service,reason}` counts it.
//!
//! A slot is taken with a compare-and-swap on the endpoint's in-flight count (so concurrent
//! workers cannot overshoot the limit) and given back when the request's [`InFlight`] guard
//! drops, which wakes one waiter. Waiters are woken in arrival order (`tokio::sync::Notify`),
//! and a waiter re-checks for room after registering, so no release is lost.
//!
//! [`InFlight`]: crate::endpoint::InFlight

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a request was refused by the circuit breaker (`reason` label, admin API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every endpoint was full and `max_pending` requests were already waiting.
    MaxPending,
    /// The request waited the whole queue timeout without a slot.
    QueueTimeout,
}

impl Refusal {
    /// Index of the reason's counter in a service's `circuit_open`.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxPending => "max_pending",
            Self::QueueTimeout => "queue_timeout",
        }
    }
}

/// A service's waiting requests; outlives snapshots (`ServiceShared`).
#[derive(Debug, Default)]
pub struct Queue {
    waiting: AtomicU32,
    freed: Notify,
}

impl Queue {
    /// Requests waiting now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Relaxed)
    }

    /// A slot was given back: wake one waiter, if any.
    #[inline]
    pub fn release(&self) {
        if self.waiting.load(Relaxed) > 0 {
            self.freed.notify_one();
        }
    }

    /// Waits until `try_take` succeeds, as one of at most `max_pending` waiters and until
    /// `deadline`. `try_take` is tried again after every release (and once up front after
    /// joining the queue, so a release between the caller's last try and now is not lost).
    pub async fn wait_for<T>(
        &self,
        max_pending: u32,
        deadline: Instant,
        mut try_take: impl FnMut() -> Option<T>,
    ) -> Result<T, Refusal> {
        if self
            .waiting
            .fetch_update(Relaxed, Relaxed, |w| (w < max_pending).then_some(w + 1))
            .is_err()
        {
            return Err(Refusal::MaxPending);
        }
        let _leave = Leave(&self.waiting);
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(taken) = try_take() {
                return Ok(taken);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                // A slot may have been freed for us as the timer fired: pass the wake on.
                self.release();
                return Err(Refusal::QueueTimeout);
            }
        }
    }
}

/// Leaves the queue when dropped (on success, refusal or a cancelled request).
struct Leave<'a>(&'a AtomicU32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn full_queue_refuses_at_once() {
        let q = Queue::default();
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = q.wait_for(0, deadline, || None::<()>).await;
        assert_eq!(got, Err(Refusal::MaxPending));
        assert_eq!(q.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_until_the_deadline() {
        let q = Queue::default();
        let deadline = Instant::now() + Duration::from_millis(50);
        let got = q.wait_for(1, deadline, || None::<()>).await;
        assert_eq!(got, Err(Refusal::QueueTimeout));
        assert_eq!(q.waiting(), 0);
    }

    #[tokio::test]
    async fn a_release_wakes_a_waiter() {
        let q = Arc::new(Queue::default());
        let room = Arc::new(AtomicBool::new(false));
        let (q2, room2) = (Arc::clone(&q), Arc::clone(&room));
        let waiter = tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            q2.wait_for(4, deadline, || room2.swap(false, Relaxed).then_some(7))
                .await
        });
        while q.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        room.store(true, Relaxed);
        q.release();
        assert_eq!(waiter.await.expect("waiter"), Ok(7));
        assert_eq!(q.waiting(), 0);
    }
}
