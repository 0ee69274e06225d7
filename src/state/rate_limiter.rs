//! The rate limiter of one service, and its clients' in-flight counts (data plane state that outlives snapshots): a token
//! bucket per client, as the generic cell rate algorithm (GCRA) keeps it — one atomic
//! "theoretical arrival time" per client, advanced by `interval` per request and checked
//! against `burst`, with a compare-and-swap and no lock.
//!
//! Memory is bounded whatever the clients: a fixed table of [`SLOTS`] slots (1 MiB), a
//! client's slot chosen by a keyed hash of it. A slot whose bucket is full again (idle) is
//! taken over by the next client hashing there; two busy clients on one slot share a
//! bucket, which can only make the limit stricter for them, never looser. A flood from
//! millions of addresses therefore costs no memory, and legitimate clients keep their
//! buckets unless they collide with a busy one.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::policy::RateLimit;

/// Slots per limited service.
pub const SLOTS: usize = 1 << 16;

#[derive(Debug, Default)]
struct Slot {
    /// The hash of the client using the slot.
    tag: AtomicU64,
    /// Nanoseconds since `epoch` when the bucket is full again.
    tat: AtomicU64,
}

/// The buckets of one service's clients.
#[derive(Debug)]
pub struct RateLimiter {
    slots: Box<[Slot]>,
    epoch: Instant,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            epoch: Instant::now(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl RateLimiter {
    /// Takes a token for `client` under `limit` at `now`; `Err` with the time until the
    /// next one when the client is over its limit.
    pub fn check(
        &self,
        client: impl Hash,
        limit: &RateLimit,
        now: Instant,
    ) -> Result<(), Duration> {
        let key = self.hasher.hash_one(client);
        let slot = &self.slots[(key as usize) & (SLOTS - 1)];
        let now_ns = nanos(now.saturating_duration_since(self.epoch));
        let interval = nanos(limit.interval).max(1);
        let tolerance = interval.saturating_mul(u64::from(limit.burst) - 1);
        if slot.tag.load(Ordering::Relaxed) != key && slot.tat.load(Ordering::Relaxed) <= now_ns {
            // An idle bucket is full: taking it over gives the new client a full bucket.
            slot.tag.store(key, Ordering::Relaxed);
        }
        let mut tat = slot.tat.load(Ordering::Acquire);
        loop {
            let start = tat.max(now_ns);
            if start - now_ns > tolerance {
                return Err(Duration::from_nanos(start - now_ns - tolerance));
            }
            let next = start.saturating_add(interval);
            match slot
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }
}

/// Requests in flight per client of one service (`in_flight.per_client`), in a fixed table
/// like [`RateLimiter`]'s: two clients sharing a slot share the cap (stricter, never looser).
#[derive(Debug)]
pub struct ClientCounts {
    slots: Box<[AtomicU32]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for ClientCounts {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// One request of a client in flight; dropping it ends the count.
#[derive(Debug)]
pub struct ClientSlot {
    counts: Arc<ClientCounts>,
    index: usize,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.counts.slots[self.index].fetch_sub(1, Ordering::AcqRel);
    }
}

impl ClientCounts {
    /// Counts a request of `client`, unless it already has `cap` in flight.
    pub fn enter(self: &Arc<Self>, client: impl Hash, cap: u32) -> Option<ClientSlot> {
        let index = (self.hasher.hash_one(client) as usize) & (SLOTS - 1);
        let slot = &self.slots[index];
        let mut now = slot.load(Ordering::Acquire);
        loop {
            if now >= cap {
                return None;
            }
            match slot.compare_exchange_weak(now, now + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    return Some(ClientSlot {
                        counts: Arc::clone(self),
                        index,
                    })
                }
                Err(seen) => now = seen,
            }
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::RateKey;

    fn limit(average: u32, burst: u32) -> RateLimit {
        RateLimit::new(
            average,
            Some(Duration::from_secs(1)),
            Some(burst),
            RateKey::Ip,
        )
        .expect("valid")
    }

    #[test]
    fn a_burst_passes_then_one_token_per_interval() {
        let r = RateLimiter::default();
        let l = limit(10, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.check("a", &l, t0), Ok(()));
        }
        let wait = r.check("a", &l, t0).expect_err("over the burst");
        assert_eq!(wait, Duration::from_millis(100));
        assert_eq!(
            r.check("b", &l, t0),
            Ok(()),
            "another client has its own bucket"
        );
        assert!(r.check("a", &l, t0 + Duration::from_millis(99)).is_err());
        assert_eq!(r.check("a", &l, t0 + Duration::from_millis(100)), Ok(()));
    }

    #[test]
    fn the_long_run_rate_is_the_average() {
        let r = RateLimiter::default();
        let l = limit(50, 5);
        let t0 = Instant::now();
        let passed = (0..10_000)
            .filter(|i| r.check("a", &l, t0 + Duration::from_millis(*i)).is_ok())
            .count();
        // 10 s at 50/s, plus the first burst.
        assert_eq!(passed, 500 + 5 - 1);
    }

    #[test]
    fn a_client_gets_its_cap_and_a_slot_back_when_a_request_ends() {
        let counts = Arc::new(ClientCounts::default());
        let a1 = counts.enter("a", 2).expect("first");
        let _a2 = counts.enter("a", 2).expect("second");
        assert!(
            counts.enter("a", 2).is_none(),
            "the third waits for one to end"
        );
        assert!(
            counts.enter("b", 2).is_some(),
            "another client has its own count"
        );
        drop(a1);
        assert!(counts.enter("a", 2).is_some());
    }

    #[test]
    fn a_million_clients_cost_no_memory_and_leave_others_their_bucket() {
        let r = RateLimiter::default();
        let l = limit(1, 1);
        let t0 = Instant::now();
        assert_eq!(r.check("me", &l, t0), Ok(()));
        for i in 0..1_000_000u32 {
            let _ = r.check(i, &l, t0 + Duration::from_micros(u64::from(i)));
        }
        assert_eq!(r.slots.len(), SLOTS, "the table never grows");
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            r.check("me", &l, later),
            Ok(()),
            "a full bucket again after the flood"
        );
    }
}
