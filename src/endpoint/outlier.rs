//! Passive outlier detection (data plane records outcomes, control plane un-ejects).
//!
//! Envoy's consecutive-failure detection, simplified. Every upstream outcome of a request is
//! recorded on the endpoint ([`ServiceOutlier::observe`]): a failure adds one to the
//! endpoint's consecutive-failure counter, a success resets it. Failures are gateway errors
//! (connect errors, 502, 503, 504) and, unless `gateway_errors_only`, every other 5xx.
//! When the counter reaches `consecutive_failures`, the endpoint is **ejected**: an exclusion
//! bit (reason `ejected`) for `base_ejection × times_ejected`, at most `max_ejection`.
//!
//! - **Cap**: a service never has more than [`ejection_cap`] endpoints ejected at once:
//!   `max_ejected_percent` of its endpoints rounded down, but at least one (Envoy's rule)
//!   and never all of them (so ejection alone never empties a service); a service with one
//!   endpoint is never ejected (there is nothing to fail over to). The cap is enforced by a
//!   per-service atomic count that is reserved *before* an endpoint is claimed and released
//!   *after* it is un-ejected, so the count is never below the number of ejected endpoints.
//!   A snapshot rebuild recounts it from the endpoints' state (the `Arc<Endpoint>`s and
//!   their ejections survive rebuilds).
//! - **Return**: the reconciler sweeps the current snapshot every [`SWEEP_EVERY`]
//!   ([`sweep`]) and clears expired ejections; the endpoint comes back with its
//!   consecutive counter at zero.
//! - **Not yet an outlier**: until an endpoint's first successful answer (a container whose
//!   process is not listening yet), its ejections are based on at most [`UNPROVEN_BASE`]
//!   instead of `base_ejection`, so it is tried again soon.
//! - **Decay**: each `base_ejection` that passes without an ejection after the endpoint
//!   returned takes one off its `times_ejected`, so a long-healthy endpoint is ejected for
//!   `base_ejection` again.
//! - **Panic mode** ignores active checks only, not ejections: because of the cap an
//!   ejection never takes out a service's last endpoint; when the others are out for their
//!   active check, panic mode routes to those, never to an ejected one.
//!
//! Hot-path cost: a success is one relaxed load (and a store only after a failure); a
//! failure is one `fetch_add`; an ejection (cold) a few compare-and-swaps. No lock, no
//! allocation.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use tracing::info;

use crate::endpoint::{now_ns, Endpoint};
use crate::metrics as m;
use crate::model::Outlier;

/// How often the reconciler returns endpoints whose ejection is over.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// `until_ns` while an ejection is being set up (never expires).
const CLAIMED: u64 = u64::MAX;

/// Flag in `consecutive` until the endpoint's first successful answer: an endpoint that has
/// never answered (a container whose process is not listening yet) is not yet an outlier.
const UNPROVEN: u32 = 1 << 31;

/// Base ejection of an endpoint that has never answered: it is retried soon, not after
/// `base_ejection` (the length still grows with each ejection).
const UNPROVEN_BASE: Duration = Duration::from_secs(1);

/// Ejections since start, all services: the reconciler refreshes gauges when it moves.
static EJECTIONS: AtomicU64 = AtomicU64::new(0);

/// Number of ejections since the process started (all services).
pub fn ejections() -> u64 {
    EJECTIONS.load(Relaxed)
}

/// Per-endpoint outlier state, atomics only; lives on the `Arc<Endpoint>`.
#[derive(Debug)]
pub struct OutlierState {
    /// Failures in a row, plus [`UNPROVEN`] until the first success.
    consecutive: AtomicU32,
    times_ejected: AtomicU32,
    /// 0: not ejected; [`CLAIMED`]: being ejected; else when it ends (`now_ns` clock).
    until_ns: AtomicU64,
    /// When `times_ejected` last changed or the endpoint returned (`now_ns` clock).
    decay_stamp: AtomicU64,
}

impl Default for OutlierState {
    fn default() -> Self {
        Self {
            consecutive: AtomicU32::new(UNPROVEN),
            times_ejected: AtomicU32::new(0),
            until_ns: AtomicU64::new(0),
            decay_stamp: AtomicU64::new(0),
        }
    }
}

impl OutlierState {
    /// Failures in a row since the last success or return.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Relaxed) & !UNPROVEN
    }

    /// True until the endpoint's first successful answer.
    pub fn unproven(&self) -> bool {
        self.consecutive.load(Relaxed) & UNPROVEN != 0
    }

    /// Ejections counted towards the next one's length (decays over time).
    pub fn times_ejected(&self) -> u32 {
        self.times_ejected.load(Relaxed)
    }

    /// When the current ejection ends (`now_ns` clock); `None` when not ejected.
    pub fn ejected_until_ns(&self) -> Option<u64> {
        match self.until_ns.load(Relaxed) {
            0 => None,
            until => Some(until),
        }
    }
}

/// Most endpoints of a service with `endpoints` endpoints that may be ejected at once.
pub fn ejection_cap(endpoints: usize, max_ejected_percent: u8) -> u32 {
    if endpoints < 2 || max_ejected_percent == 0 {
        return 0;
    }
    let by_percent = endpoints * usize::from(max_ejected_percent.min(100)) / 100;
    u32::try_from(by_percent.clamp(1, endpoints - 1)).unwrap_or(u32::MAX)
}

/// True when `status` (an upstream response's, or 502 for a connect error) is a failure.
#[inline]
fn is_failure(settings: &Outlier, status: u16) -> bool {
    match status {
        502..=504 => true,
        500..=599 => !settings.gateway_errors_only,
        _ => false,
    }
}

/// A service's outlier detection: its settings, cap and count of ejected endpoints.
#[derive(Debug)]
pub struct ServiceOutlier {
    settings: Outlier,
    name: Arc<str>,
    cap: u32,
    /// Reserved ejection slots; never below the number of ejected endpoints.
    ejected: AtomicU32,
    /// `berth_ejections_total{service}`.
    ejections: Counter,
}

impl ServiceOutlier {
    /// Detection for a service of `endpoints` (counting those already ejected).
    pub fn new(settings: Outlier, name: &Arc<str>, endpoints: &[Arc<Endpoint>]) -> Self {
        let ejected = endpoints
            .iter()
            .filter(|e| e.outlier().until_ns.load(Relaxed) != 0)
            .count();
        Self {
            settings,
            name: Arc::clone(name),
            cap: ejection_cap(endpoints.len(), settings.max_ejected_percent),
            ejected: AtomicU32::new(u32::try_from(ejected).unwrap_or(u32::MAX)),
            ejections: metrics::counter!(m::EJECTIONS_TOTAL, "service" => name.to_string()),
        }
    }

    /// Replaces the settings (at build time, before the service is published).
    pub fn set_settings(&mut self, settings: Outlier, endpoints: usize) {
        self.settings = settings;
        self.cap = ejection_cap(endpoints, settings.max_ejected_percent);
    }

    pub fn settings(&self) -> &Outlier {
        &self.settings
    }

    /// Most endpoints that may be ejected at once.
    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Ejection slots in use (the number of ejected endpoints, or briefly one more).
    pub fn ejected(&self) -> u32 {
        self.ejected.load(Relaxed)
    }

    /// Records one upstream outcome of `endpoint`: a response's status, or 502 for a
    /// connect error or a reset. Ejects the endpoint when it reaches the threshold.
    #[inline]
    pub fn observe(&self, endpoint: &Endpoint, status: u16) {
        if self.settings.consecutive_failures == 0 {
            return;
        }
        let state = endpoint.outlier();
        if !is_failure(&self.settings, status) {
            if state.consecutive.load(Relaxed) != 0 {
                state.consecutive.store(0, Relaxed);
            }
            return;
        }
        let failures = state.consecutive.fetch_add(1, Relaxed).saturating_add(1) & !UNPROVEN;
        if failures >= self.settings.consecutive_failures {
            self.try_eject(endpoint, now_ns());
        }
    }

    /// Ejects `endpoint` at `now` (`now_ns` clock) unless it already is or the service is
    /// at its cap; true when it did.
    #[cold]
    pub fn try_eject(&self, endpoint: &Endpoint, now: u64) -> bool {
        let state = endpoint.outlier();
        if state.until_ns.load(Relaxed) != 0 {
            return false;
        }
        let cap = self.cap;
        if self
            .ejected
            .fetch_update(Relaxed, Relaxed, |n| (n < cap).then_some(n + 1))
            .is_err()
        {
            return false;
        }
        if state
            .until_ns
            .compare_exchange(0, CLAIMED, Relaxed, Relaxed)
            .is_err()
        {
            self.ejected.fetch_sub(1, Relaxed);
            return false;
        }
        let times = state.times_ejected.fetch_add(1, Relaxed).saturating_add(1);
        let unproven = state.unproven();
        let base = match unproven {
            true => self.settings.base_ejection.min(UNPROVEN_BASE),
            false => self.settings.base_ejection,
        };
        let length = base.saturating_mul(times).min(self.settings.max_ejection);
        let length_ns = u64::try_from(length.as_nanos()).unwrap_or(u64::MAX);
        state
            .until_ns
            .store(now.saturating_add(length_ns).min(CLAIMED - 1), Relaxed);
        state.decay_stamp.store(now, Relaxed);
        state.consecutive.fetch_and(UNPROVEN, Relaxed);
        endpoint.set_ejected(true);
        self.ejections.increment(1);
        EJECTIONS.fetch_add(1, Relaxed);
        info!(
            service = %self.name,
            endpoint = %endpoint.label(),
            failures = self.settings.consecutive_failures,
            times,
            unproven,
            seconds = length.as_secs_f64(),
            "ejected: consecutive failures"
        );
        true
    }

    /// Returns `endpoints` whose ejection is over at `now` and decays ejection counts;
    /// true when an endpoint returned. Called by one task (the reconciler).
    pub fn sweep(&self, endpoints: &[Arc<Endpoint>], now: u64) -> bool {
        let base_ns = u64::try_from(self.settings.base_ejection.as_nanos()).unwrap_or(u64::MAX);
        let mut returned = false;
        for endpoint in endpoints {
            let state = endpoint.outlier();
            match state.until_ns.load(Relaxed) {
                0 => {
                    let times = state.times_ejected.load(Relaxed);
                    let since = now.saturating_sub(state.decay_stamp.load(Relaxed));
                    if times > 0 && since >= base_ns {
                        state.times_ejected.store(times - 1, Relaxed);
                        state.decay_stamp.store(now, Relaxed);
                    }
                }
                until if until != CLAIMED && now >= until => {
                    // Bit first, then the slot: the count never drops below the ejected.
                    endpoint.set_ejected(false);
                    state.consecutive.fetch_and(UNPROVEN, Relaxed);
                    state.decay_stamp.store(now, Relaxed);
                    state.until_ns.store(0, Relaxed);
                    let _ = self
                        .ejected
                        .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
                    info!(service = %self.name, endpoint = %endpoint.label(), "ejection over");
                    returned = true;
                }
                _ => {}
            }
        }
        returned
    }
}

#[cfg(test)]
mod tests;
