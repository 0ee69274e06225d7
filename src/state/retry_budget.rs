//! Retry budget (data plane counts, lock-free): retries may be at most a share of requests.
//!
//! Finagle's `RetryBudget` in a sliding window: a service's requests and retries are counted
//! in [`BUCKETS`] time buckets covering `window`; a retry is allowed while the retries in
//! the window stay within `percent` of the requests in it, or below `min_retries` (so a
//! quiet service can still retry). When an outage makes every request fail, retries cannot
//! multiply the load on what is left by more than `1 + percent/100`.
//!
//! Guarantee (single writer; proven by `tests/proxy/retry_budget_props.rs`): when a retry is granted
//! at `t`, the retries granted in `(t - window + bucket, t]` are at most
//! `max(min_retries, percent × requests in (t - window, t] / 100)`; when one is refused, the
//! retries of `(t - window, t]` already reach that share of the requests of
//! `(t - window + bucket, t]`. With several workers
//! counting at once the check and the count are not one atomic step, so the bound can be
//! exceeded by the number of retries decided at the same instant; a bucket being recycled
//! can lose a concurrent count. Both only blur an advisory limit.
//!
//! Hot-path cost: counting a request is one load and one `fetch_add` (and a reset when a
//! bucket is recycled); only services with `retries > 0` count. A retry sums the buckets.

use crate::model::BudgetSettings;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Number of buckets a window is split into.
pub const BUCKETS: u64 = 10;

/// One time bucket: which bucket number it holds now, and its counts.
#[derive(Debug, Default)]
struct Bucket {
    /// Bucket number (`now / bucket_ns + 1`); 0 = never used.
    number: AtomicU64,
    requests: AtomicU32,
    retries: AtomicU32,
}

/// A service's request and retry counts over the last window; outlives snapshots.
#[derive(Debug, Default)]
pub struct RetryBudget {
    buckets: [Bucket; BUCKETS as usize],
}

impl RetryBudget {
    /// Counts one request at `now_ns` (nanoseconds on the process clock).
    #[inline]
    pub fn count_request(&self, now_ns: u64, settings: &BudgetSettings) {
        self.current(now_ns, settings)
            .requests
            .fetch_add(1, Relaxed);
    }

    /// True, and the retry counted, when the budget allows one more retry at `now_ns`.
    pub fn try_retry(&self, now_ns: u64, settings: &BudgetSettings) -> bool {
        let (requests, retries) = self.totals(now_ns, settings);
        if retries >= settings.allowed(requests) {
            return false;
        }
        self.current(now_ns, settings).retries.fetch_add(1, Relaxed);
        true
    }

    /// Requests and retries counted in the window ending at `now_ns`.
    pub fn totals(&self, now_ns: u64, settings: &BudgetSettings) -> (u64, u64) {
        let number = now_ns / settings.bucket_ns(BUCKETS) + 1;
        let oldest = number.saturating_sub(BUCKETS - 1);
        self.buckets
            .iter()
            .filter(|b| (oldest..=number).contains(&b.number.load(Relaxed)))
            .fold((0, 0), |(req, ret), b| {
                (
                    req + u64::from(b.requests.load(Relaxed)),
                    ret + u64::from(b.retries.load(Relaxed)),
                )
            })
    }

    /// The bucket for `now_ns`, emptied first when it still holds an older bucket's counts.
    #[inline]
    fn current(&self, now_ns: u64, settings: &BudgetSettings) -> &Bucket {
        let number = now_ns / settings.bucket_ns(BUCKETS) + 1;
        let bucket = &self.buckets[(number % BUCKETS) as usize];
        let held = bucket.number.load(Relaxed);
        if held != number
            && bucket
                .number
                .compare_exchange(held, number, Relaxed, Relaxed)
                .is_ok()
        {
            bucket.requests.store(0, Relaxed);
            bucket.retries.store(0, Relaxed);
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const S: u64 = 1_000_000_000;

    fn settings(percent: u8, min_retries: u32) -> BudgetSettings {
        BudgetSettings {
            percent,
            min_retries,
            window: Duration::from_secs(10),
        }
    }

    #[test]
    fn min_retries_without_traffic() {
        let (b, s) = (RetryBudget::default(), settings(20, 3));
        assert!((0..3).all(|_| b.try_retry(S, &s)));
        assert!(!b.try_retry(S, &s));
    }

    #[test]
    fn percent_of_requests() {
        let (b, s) = (RetryBudget::default(), settings(20, 0));
        (0..100).for_each(|_| b.count_request(S, &s));
        let granted = (0..100).filter(|_| b.try_retry(2 * S, &s)).count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn old_buckets_leave_the_window() {
        let (b, s) = (RetryBudget::default(), settings(20, 0));
        (0..100).for_each(|_| b.count_request(0, &s));
        assert_eq!(b.totals(9 * S, &s), (100, 0));
        assert_eq!(
            b.totals(10 * S, &s),
            (0, 0),
            "bucket 0 is out of the window"
        );
        assert!(!b.try_retry(10 * S, &s));
        // The recycled slot starts from zero.
        b.count_request(10 * S, &s);
        assert_eq!(b.totals(10 * S, &s), (1, 0));
    }
}
