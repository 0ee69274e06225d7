//! The minimum request-body data rate (`defaults.timeouts.body_min_rate`), data plane.
//!
//! Only the time berth spends waiting for the client counts: a body berth is not reading
//! (its upstream is slow to take it, or not connected yet) is not the client's delay. A
//! [`Pace`] samples that with a timer ticking every quarter of the grace (10 ms to 1 s)
//! while the body waits: a tick that finds the body still waiting since the last one counts
//! as waited. Past the grace, a body whose bytes fall short of the rate times the time
//! waited is too slow. Cost per frame read: one store; per wait: a timer poll; per tick:
//! a clock read and a few integer operations.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::model::MinRate;

/// Shortest and longest sampling tick.
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_TICK: Duration = Duration::from_secs(1);

/// One request body's pace.
#[derive(Debug)]
pub struct Pace {
    rate: MinRate,
    tick: Duration,
    /// Time counted as spent waiting for the client.
    waited: Duration,
    /// The body's last poll found nothing to read: it has been waiting since.
    waiting: bool,
    /// Set at the first wait (a body that never waits costs no timer).
    timer: Option<Pin<Box<Sleep>>>,
}

impl Pace {
    pub fn new(rate: MinRate) -> Self {
        Self {
            rate,
            tick: (rate.grace / 4).clamp(MIN_TICK, MAX_TICK),
            waited: Duration::ZERO,
            waiting: false,
            timer: None,
        }
    }

    /// A frame was read.
    #[inline]
    pub fn data(&mut self) {
        self.waiting = false;
    }

    /// The body waits for the client, `bytes` read so far; false when it is too slow.
    pub fn wait(&mut self, cx: &mut Context<'_>, bytes: u64) -> bool {
        let tick = self.tick;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(tick)));
        if timer.as_mut().poll(cx).is_ready() {
            // A tick that fired while the body was read (or not polled) is not counted.
            if self.waiting {
                self.waited += tick;
            }
            timer.as_mut().reset(Instant::now() + tick);
            // Registers this task for the next tick (not yet due: pending).
            let _ = timer.as_mut().poll(cx);
            if self.too_slow(bytes) {
                return false;
            }
        }
        self.waiting = true;
        true
    }

    /// Past the grace, fewer bytes than the rate times the time waited.
    fn too_slow(&self, bytes: u64) -> bool {
        if self.waited < self.rate.grace {
            return false;
        }
        let owed = u128::from(self.rate.per_second) * self.waited.as_millis() / 1000;
        u128::from(bytes) < owed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Poll;

    fn pace(per_second: u64, grace_ms: u64) -> Pace {
        Pace::new(MinRate {
            per_second,
            grace: Duration::from_millis(grace_ms),
        })
    }

    /// Waits for the client for `ms`, polled as a body is (on each wake-up); false once the
    /// pace says too slow.
    async fn waits(p: &mut Pace, ms: u64, bytes: u64) -> bool {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut slow = false;
        let _ = tokio::time::timeout_at(
            until,
            poll_fn(|cx| match p.wait(cx, bytes) {
                true => Poll::<()>::Pending,
                false => {
                    slow = true;
                    Poll::Ready(())
                }
            }),
        )
        .await;
        !slow
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_below_the_rate_is_too_slow_after_the_grace() {
        let mut p = pace(1000, 1000);
        // 10 bytes a second against 1000: within the grace, then not.
        assert!(waits(&mut p, 900, 10).await);
        assert!(!waits(&mut p, 2000, 10).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_rate_is_not() {
        let mut p = pace(1000, 1000);
        let mut bytes = 0;
        for _ in 0..20 {
            bytes += 600;
            assert!(waits(&mut p, 500, bytes).await);
            p.data();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn time_not_spent_waiting_is_not_counted() {
        let mut p = pace(1000, 1000);
        assert!(waits(&mut p, 400, 1000).await);
        // Read, then not polled for 10 s (the upstream is slow to take the body).
        p.data();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(waits(&mut p, 400, 1000).await);
        assert!(p.waited <= Duration::from_secs(1), "{:?}", p.waited);
    }
}
