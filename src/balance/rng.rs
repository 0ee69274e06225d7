//! Per-thread pseudo-random numbers for the selectors (data plane).
//!
//! A wyrand generator lives in a thread-local `Cell<u64>`: no lock, no allocation, no shared
//! cache line between workers. Each thread is seeded once from the standard library's
//! per-process random hasher keys mixed with a global counter, so workers do not walk the same
//! sequence in lockstep (which would make P2C herd every worker onto the same endpoints).
//!
//! Invariants: these numbers steer load only; they are not for anything security-relevant.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A fresh seed per thread: random per process, distinct per thread.
fn seed() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    let n = THREADS.fetch_add(1, Relaxed);
    RandomState::new().hash_one(n)
}

/// A wyrand generator state, copied out of the thread-local for the length of one pick so a
/// pick pays for one thread-local access however many numbers it draws.
#[derive(Debug)]
pub(crate) struct Wyrand(u64);

impl Wyrand {
    /// The next 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    }

    /// A uniform number in `0..n`; `n == 0` gives 0.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        reduce(self.next_u64(), n)
    }
}

/// Runs `f` with this thread's generator, then stores the advanced state back.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&mut Wyrand) -> R) -> R {
    STATE.with(|s| {
        let mut rng = Wyrand(s.get());
        let out = f(&mut rng);
        s.set(rng.0);
        out
    })
}

/// A uniform number in `0..n` (Lemire's multiply-shift; no division). `n == 0` gives 0.
#[inline]
pub(crate) fn below(n: usize) -> usize {
    with(|r| r.below(n))
}

/// Maps 64 uniform bits onto `0..n` without division.
#[inline]
pub(crate) fn reduce(bits: u64, n: usize) -> usize {
    // The result is < n, and n is a usize, so the narrowing cast cannot truncate.
    ((u128::from(bits) * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            let i = below(7);
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&c| c > 700), "{seen:?}");
        assert_eq!(below(0), 0);
    }

    #[test]
    fn threads_get_different_sequences() {
        let here: Vec<u64> = (0..4).map(|_| with(Wyrand::next_u64)).collect();
        let there =
            std::thread::spawn(|| (0..4).map(|_| with(Wyrand::next_u64)).collect::<Vec<u64>>())
                .join()
                .expect("the spawned thread does not panic");
        assert_ne!(here, there);
    }
}
