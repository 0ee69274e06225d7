//! Per-endpoint state that outlives snapshots (control plane writes, data plane reads).
//!
//! An [`Endpoint`] is keyed by its [`EndpointKey`] (provider identity + address). The
//! reconciler keeps one `Arc<Endpoint>` per key for as long as the key exists, and every
//! snapshot it builds shares those `Arc`s, so counters, latency estimates and lifecycle flags
//! survive rebuilds and config reloads.
//!
//! Invariants: every field is an atomic or immutable; nothing here takes a lock or allocates
//! on the request path. Counters are advisory (relaxed ordering): a lost update skews a
//! selector for one pick, never correctness.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::model::{Availability, EndpointKey, Health, HealthStatus};

pub mod outlier;
pub mod queue;

use outlier::OutlierState;
use queue::Queue;

/// Decay time constant of the peak-EWMA latency estimate.
const EWMA_TAU: Duration = Duration::from_secs(10);
/// An unused endpoint's estimate halves every `EWMA_HALF_LIFE` (decay at read, so an endpoint
/// that was slow once is probed again later instead of starved forever).
const EWMA_HALF_LIFE_NS: u64 = 5_000_000_000;
/// Cost of an endpoint with no estimate yet but requests pending (Finagle's rule): it is
/// probed while idle, and not flooded before its first answer.
const EWMA_PENALTY: u64 = u64::MAX >> 16;

/// Live state of one backend endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Unique for the life of the process; never reused, unlike the `Arc`'s address.
    id: u64,
    key: EndpointKey,
    /// `ip:port`, the bounded label value used in metrics and the admin API.
    label: Arc<str>,
    weight: AtomicU32,
    in_flight: AtomicU32,
    /// Peak-EWMA latency estimate in nanoseconds.
    ewma_ns: AtomicU64,
    /// Nanoseconds since [`epoch`] of the last EWMA update.
    ewma_stamp: AtomicU64,
    /// Exclusion bits (`EXCLUDED_*`); routable exactly when zero, so a pick costs one load.
    excluded: AtomicU8,
    /// Where the endpoint comes from, for the admin API (never read on the hot path).
    origin: Mutex<Arc<str>>,
    /// The active check's last results, for the admin API (written by the checker, never
    /// read on the hot path); `None` without an active check.
    health: Mutex<Option<HealthStatus>>,
    /// Passive outlier detection's counters and ejection (`endpoint::outlier`).
    outlier: OutlierState,
    /// Slow start: when (on the [`now_ns`] clock) the endpoint last became routable as new or
    /// recovered; 0 once its ramp is over (`balance::ramp_pick`).
    ramp_since_ns: AtomicU64,
    /// Woken when the endpoint starts draining (provider or admin) or is removed: L4
    /// connections to it then end after the service's `drain` grace (`proxy::tcp`).
    closing: tokio::sync::Notify,
}

/// Why an endpoint is excluded, one bit each; the first set bit in this order is the reason
/// shown.
const EXCLUDED_REMOVED: u8 = 1;
const EXCLUDED_DRAINING: u8 = 1 << 1;
const EXCLUDED_PAUSED: u8 = 1 << 2;
const EXCLUDED_UNHEALTHY: u8 = 1 << 3;
const EXCLUDED_HEALTH_STARTING: u8 = 1 << 4;
/// Owned by the active checker (`health::checker`); the only bit panic mode ignores.
const EXCLUDED_ACTIVE: u8 = 1 << 5;
/// Owned by passive outlier detection (`endpoint::outlier`); panic mode does not ignore it (the
/// ejection cap keeps at least one endpoint of a service un-ejected).
const EXCLUDED_EJECTED: u8 = 1 << 6;
/// Set and cleared through the admin API only (`POST .../drain`, `.../undrain`).
const EXCLUDED_ADMIN: u8 = 1 << 7;
/// Bits owned by the provider's view of the endpoint (replaced on every upsert).
const PROVIDER_BITS: u8 = EXCLUDED_PAUSED | EXCLUDED_UNHEALTHY | EXCLUDED_HEALTH_STARTING;
const REASONS: [(u8, &str); 8] = [
    (EXCLUDED_REMOVED, "removed"),
    (EXCLUDED_DRAINING, "draining"),
    (EXCLUDED_ADMIN, "drained by admin"),
    (EXCLUDED_PAUSED, "paused"),
    (EXCLUDED_UNHEALTHY, "docker health: unhealthy"),
    (EXCLUDED_HEALTH_STARTING, "docker health: starting"),
    (EXCLUDED_ACTIVE, "active check: failing"),
    (EXCLUDED_EJECTED, "ejected"),
];

/// The reason [`Endpoint::exclusion_reason`] gives for an outlier ejection.
pub const EJECTED_REASON: &str = "ejected";

/// Process-wide monotonic origin for the timestamps stored in atomics.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the process-wide epoch (the clock of every timestamp in an atomic).
pub fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `at` on the clock of [`now_ns`], for a caller that already read the time.
#[inline]
pub fn ns_at(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

impl Endpoint {
    /// A fresh endpoint: routable, idle, weight as given (clamped to at least 1).
    pub fn new(key: EndpointKey, weight: u32) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let label: Arc<str> = key.addr.to_string().into();
        Self {
            id: NEXT_ID.fetch_add(1, Relaxed),
            key,
            label,
            weight: AtomicU32::new(weight.max(1)),
            in_flight: AtomicU32::new(0),
            ewma_ns: AtomicU64::new(0),
            ewma_stamp: AtomicU64::new(now_ns()),
            excluded: AtomicU8::new(0),
            origin: Mutex::new(Arc::from("")),
            health: Mutex::new(None),
            outlier: OutlierState::default(),
            ramp_since_ns: AtomicU64::new(now_ns().max(1)),
            closing: tokio::sync::Notify::new(),
        }
    }

    /// When the endpoint's slow start began; 0 when it is not ramping up.
    #[inline]
    pub fn ramp_since_ns(&self) -> u64 {
        self.ramp_since_ns.load(Relaxed)
    }

    /// Starts the slow start over from `at_ns` (a recovery), or ends it with 0.
    pub fn set_ramp_since_ns(&self, at_ns: u64) {
        self.ramp_since_ns.store(at_ns, Relaxed);
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn key(&self) -> &EndpointKey {
        &self.key
    }

    pub fn addr(&self) -> SocketAddr {
        self.key.addr
    }

    /// `ip:port`, for metrics labels and the admin API.
    pub fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// Where the endpoint comes from (provider's description).
    pub fn origin(&self) -> Arc<str> {
        // A poisoned lock still holds a valid `Arc`.
        Arc::clone(&self.origin.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_origin(&self, origin: &Arc<str>) {
        let mut current = self.origin.lock().unwrap_or_else(|p| p.into_inner());
        if **current != **origin {
            *current = Arc::clone(origin);
        }
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }

    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight.max(1), Relaxed);
    }

    /// Requests currently being proxied to this endpoint.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Marks one request as started; the guard ends it when dropped.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight {
            endpoint: Arc::clone(self),
            queue: None,
        }
    }

    /// Starts a request only while fewer than `limit` are in flight (circuit breaking); the
    /// guard gives the slot back to `queue`'s waiters when dropped.
    pub fn try_begin_request(self: &Arc<Self>, limit: u32, queue: &Arc<Queue>) -> Option<InFlight> {
        self.in_flight
            .fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1))
            .ok()?;
        Some(InFlight {
            endpoint: Arc::clone(self),
            queue: Some(Arc::clone(queue)),
        })
    }

    /// Current peak-EWMA latency estimate in nanoseconds, decayed to now; 0 when unknown.
    pub fn latency_ns(&self) -> u64 {
        self.decayed(now_ns())
    }

    fn decayed(&self, now: u64) -> u64 {
        let estimate = self.ewma_ns.load(Relaxed);
        if estimate == 0 {
            return 0;
        }
        let halvings = now.saturating_sub(self.ewma_stamp.load(Relaxed)) / EWMA_HALF_LIFE_NS;
        estimate.checked_shr(halvings as u32).unwrap_or(0).max(1)
    }

    /// Folds one observed latency into the peak-EWMA estimate: a sample above the estimate
    /// replaces it at once (peak), a lower one moves it towards the sample with time
    /// constant `EWMA_TAU`.
    pub fn observe_latency(&self, rtt: Duration) {
        self.observe_latency_at(rtt, Instant::now());
    }

    /// [`Self::observe_latency`] with the clock already read by the caller (`now`).
    pub fn observe_latency_at(&self, rtt: Duration, now: Instant) {
        let rtt_ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX).max(1);
        let now = ns_at(now);
        let old = self.decayed(now);
        let last = self.ewma_stamp.swap(now, Relaxed);
        let next = if rtt_ns > old {
            rtt_ns
        } else {
            let elapsed = now.saturating_sub(last) as f64;
            let w = (-elapsed / EWMA_TAU.as_nanos() as f64).exp();
            (old as f64 * w + rtt_ns as f64 * (1.0 - w)) as u64
        };
        self.ewma_ns.store(next.max(1), Relaxed);
    }

    /// The latency `peak_ewma` charges: the estimate; for an endpoint without one, 0 while
    /// idle (so it is probed) and `EWMA_PENALTY` once a request is pending (so it is not
    /// flooded before its first answer).
    #[inline]
    pub fn cost_latency_ns(&self) -> u64 {
        match self.latency_ns() {
            0 if self.in_flight() == 0 => 0,
            0 => EWMA_PENALTY,
            latency => latency,
        }
    }

    /// Selector cost for `peak_ewma` at weight 1: charged latency × (in-flight + 1).
    pub fn ewma_cost(&self) -> u64 {
        self.cost_latency_ns()
            .saturating_mul(u64::from(self.in_flight()) + 1)
    }

    /// No new picks; in-flight requests finish; pooled connections close.
    pub fn drain(&self) {
        self.excluded.fetch_or(EXCLUDED_DRAINING, Relaxed);
        self.closing.notify_waiters();
    }

    /// Sets or clears the admin API's drain; true when that changed it. Like a drain: no new
    /// picks, pooled connections close after their current request; unlike one, undone by
    /// `false`.
    pub fn set_admin_drain(&self, drained: bool) -> bool {
        let old = if drained {
            let old = self.excluded.fetch_or(EXCLUDED_ADMIN, Relaxed);
            self.closing.notify_waiters();
            old
        } else {
            self.excluded.fetch_and(!EXCLUDED_ADMIN, Relaxed)
        };
        (old & EXCLUDED_ADMIN != 0) != drained
    }

    pub fn is_draining(&self) -> bool {
        self.excluded.load(Relaxed) & EXCLUDED_DRAINING != 0
    }

    /// Set when the endpoint leaves every snapshot; pools drop its connections.
    pub fn mark_removed(&self) {
        self.excluded.fetch_or(EXCLUDED_REMOVED, Relaxed);
        self.closing.notify_waiters();
    }

    /// Resolves once the endpoint is draining (by the provider or the admin API) or removed;
    /// at once if it already is.
    pub async fn closing(&self) {
        let notified = self.closing.notified();
        tokio::pin!(notified);
        // Registered before the check, so a drain between the two is not missed.
        notified.as_mut().enable();
        let closing = EXCLUDED_DRAINING | EXCLUDED_REMOVED | EXCLUDED_ADMIN;
        if self.excluded.load(Relaxed) & closing != 0 {
            return;
        }
        notified.await;
    }

    pub fn is_removed(&self) -> bool {
        self.excluded.load(Relaxed) & EXCLUDED_REMOVED != 0
    }

    /// Replaces what the provider says about the endpoint (pause, container health).
    pub fn set_availability(&self, availability: Availability) {
        let mut bits = 0;
        if availability.paused {
            bits |= EXCLUDED_PAUSED;
        }
        bits |= match availability.health {
            Health::None | Health::Healthy => 0,
            Health::Starting => EXCLUDED_HEALTH_STARTING,
            Health::Unhealthy => EXCLUDED_UNHEALTHY,
        };
        let old = self
            .excluded
            .fetch_update(Relaxed, Relaxed, |old| Some(old & !PROVIDER_BITS | bits))
            .unwrap_or_else(|old| old);
        let sick = EXCLUDED_UNHEALTHY | EXCLUDED_HEALTH_STARTING;
        if old & sick != 0 && bits & sick == 0 {
            // Docker health recovered: ramp up again.
            self.set_ramp_since_ns(now_ns().max(1));
        }
    }

    /// Sets or clears the active check's exclusion; true when that changed it.
    pub fn set_active_failing(&self, failing: bool) -> bool {
        let old = if failing {
            self.excluded.fetch_or(EXCLUDED_ACTIVE, Relaxed)
        } else {
            self.excluded.fetch_and(!EXCLUDED_ACTIVE, Relaxed)
        };
        let changed = (old & EXCLUDED_ACTIVE != 0) != failing;
        if changed && !failing {
            // The active check passes again: ramp up again.
            self.set_ramp_since_ns(now_ns().max(1));
        }
        changed
    }

    /// True when the active check holds the endpoint out of rotation.
    pub fn is_active_failing(&self) -> bool {
        self.excluded.load(Relaxed) & EXCLUDED_ACTIVE != 0
    }

    /// True when nothing but the active check excludes the endpoint: panic mode may pick it.
    #[inline]
    pub fn is_routable_ignoring_active(&self) -> bool {
        self.excluded.load(Relaxed) & !EXCLUDED_ACTIVE == 0
    }

    /// The active check's last results; `None` without an active check.
    pub fn health_status(&self) -> Option<HealthStatus> {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_health_status(&self, status: Option<HealthStatus>) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    /// Passive outlier detection's state of this endpoint.
    #[inline]
    pub fn outlier(&self) -> &OutlierState {
        &self.outlier
    }

    /// Sets or clears the outlier ejection's exclusion (only `endpoint::outlier` calls this).
    pub(crate) fn set_ejected(&self, ejected: bool) {
        if ejected {
            self.excluded.fetch_or(EXCLUDED_EJECTED, Relaxed);
        } else {
            self.excluded.fetch_and(!EXCLUDED_EJECTED, Relaxed);
        }
    }

    /// True when outlier detection holds the endpoint out of rotation.
    pub fn is_ejected(&self) -> bool {
        self.excluded.load(Relaxed) & EXCLUDED_EJECTED != 0
    }

    /// True when a selector may pick this endpoint now.
    #[inline]
    pub fn is_routable(&self) -> bool {
        self.excluded.load(Relaxed) == 0
    }

    /// Why the endpoint is not routable, for the admin API; `None` when it is.
    pub fn exclusion_reason(&self) -> Option<&'static str> {
        let bits = self.excluded.load(Relaxed);
        REASONS
            .iter()
            .find(|(bit, _)| bits & bit != 0)
            .map(|(_, reason)| *reason)
    }
}

/// An in-flight request on an endpoint; decrements the counter when dropped (and, under a
/// limit, wakes a request waiting for the slot).
#[derive(Debug)]
pub struct InFlight {
    endpoint: Arc<Endpoint>,
    queue: Option<Arc<Queue>>,
}

impl InFlight {
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint.in_flight.fetch_sub(1, Relaxed);
        if let Some(queue) = &self.queue {
            queue.release();
        }
    }
}

#[cfg(test)]
mod tests;
