//! A rate limit on warnings and errors, so hostile traffic cannot flood the log (both
//! planes).
//!
//! Each log statement (its callsite: one place in berth or a library, e.g. h2's "remotely
//! reset streams reached limit", logged once per abusive connection) may write [`BURST`]
//! events at once and then one per [`REFILL`]; events over that are dropped and counted in
//! `berth_log_suppressed_total{target}`, so the metric still sees every one. Info and more
//! verbose events, which operators choose to turn on, are never limited.
//! Invariant: the lock is held for a map lookup only; nothing is logged while holding it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

use super::LOG_SUPPRESSED_TOTAL;

/// Events a callsite may write at once.
pub const BURST: u32 = 10;
/// Then one more each this often.
pub const REFILL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    refilled: Instant,
}

/// A per-layer filter: warnings and errors pass at [`BURST`], then one per [`REFILL`], per
/// callsite.
#[derive(Debug, Default)]
pub struct WarnLimit {
    buckets: Mutex<HashMap<Identifier, Bucket>>,
}

impl WarnLimit {
    /// True when an event of `callsite` may be written now.
    fn admit(&self, callsite: Identifier, now: Instant) -> bool {
        // A poisoned lock only means a panic elsewhere mid-update; the map is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(callsite).or_insert(Bucket {
            tokens: BURST,
            refilled: now,
        });
        let earned = now.duration_since(bucket.refilled).as_nanos() / REFILL.as_nanos();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            bucket.tokens = bucket.tokens.saturating_add(earned).min(BURST);
            bucket.refilled = now;
        }
        match bucket.tokens {
            0 => false,
            _ => {
                bucket.tokens -= 1;
                true
            }
        }
    }
}

/// Warnings and errors are the limited kind (tracing orders `ERROR` lowest).
fn limited(meta: &Metadata<'_>) -> bool {
    meta.is_event() && *meta.level() <= Level::WARN
}

impl<S> Filter<S> for WarnLimit {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        if !limited(meta) || self.admit(meta.callsite(), Instant::now()) {
            return true;
        }
        metrics::counter!(LOG_SUPPRESSED_TOTAL, "target" => meta.target().to_owned()).increment(1);
        false
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        // Limited callsites are asked about every event; the others always pass.
        match limited(meta) {
            true => Interest::sometimes(),
            false => Interest::always(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    use super::*;

    /// Collects what the fmt layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("unpoisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines(captured: &Captured, needle: &str) -> usize {
        let text = captured.0.lock().expect("unpoisoned");
        String::from_utf8_lossy(&text).matches(needle).count()
    }

    #[test]
    fn a_flood_of_one_warning_is_cut_to_the_burst_and_others_pass() {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(captured.clone())
            .with_filter(WarnLimit::default());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..1000 {
                tracing::warn!(i, "flooded warning");
            }
            tracing::warn!("another warning");
            for i in 0..50 {
                tracing::info!(i, "info line");
            }
        });
        assert_eq!(lines(&captured, "flooded warning"), BURST as usize);
        assert_eq!(lines(&captured, "another warning"), 1, "its own budget");
        assert_eq!(lines(&captured, "info line"), 50, "info is never limited");
    }

    #[test]
    fn the_budget_refills_over_time() {
        let limit = WarnLimit::default();
        let site = tracing::callsite::Identifier(&SITE);
        let start = Instant::now();
        let admitted = (0..20).filter(|_| limit.admit(site.clone(), start)).count();
        assert_eq!(admitted, BURST as usize);
        assert!(!limit.admit(site.clone(), start + REFILL / 2));
        assert!(limit.admit(site.clone(), start + REFILL));
        assert!(!limit.admit(site.clone(), start + REFILL));
        let later = start + REFILL * 100;
        let refilled = (0..20).filter(|_| limit.admit(site.clone(), later)).count();
        assert_eq!(refilled, BURST as usize, "never more than the burst");
    }

    struct Site;
    impl tracing::Callsite for Site {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("the limiter only keys by identity")
        }
    }
    static SITE: Site = Site;
}
