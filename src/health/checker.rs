//! The per-endpoint checker task and its rise/fall state machine (control plane).
//!
//! One task per endpoint with an active check, spawned on the control-plane runtime by the
//! reconciler, which keeps its [`Checker`] handle per endpoint key: the same task runs across
//! snapshot rebuilds and reloads while the check is unchanged; a changed check restarts it
//! (fresh counters, same up/down state); dropping the handle stops it. A service's upstream
//! TLS (for `https` endpoints) is handed to the running task in place ([`Checker::set_tls`]).
//!
//! The task waits a random jitter in `[0, interval)`, then checks every `interval`. `rise`
//! consecutive passes make an unhealthy endpoint healthy, `fall` consecutive failures make a
//! healthy one unhealthy. A flip sets or clears the endpoint's exclusion bit (selectors read
//! it live, so it takes effect at once) and wakes the reconciler ([`Notify`]) so gauges,
//! panic flags and the admin API are refreshed; nothing is rebuilt.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use metrics::{Counter, Gauge};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::probe::{probe, ProbeError};
use crate::endpoint::Endpoint;
use crate::metrics as m;
use crate::model::{HealthCheck, HealthStatus, UpstreamTls};

/// Wakes the reconciler after a health flip (lossy: a full channel means a refresh is
/// already pending, and a refresh reads live state).
pub type Notify = mpsc::Sender<()>;

/// Consecutive-result counting: the rise/fall rule, pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    rise: u32,
    fall: u32,
    healthy: bool,
    passes: u32,
    failures: u32,
}

impl Tracker {
    pub fn new(check: &HealthCheck, healthy: bool) -> Self {
        Self {
            rise: check.rise.max(1),
            fall: check.fall.max(1),
            healthy,
            passes: 0,
            failures: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Counts one result; `Some(new state)` when it flips the endpoint.
    pub fn record(&mut self, pass: bool) -> Option<bool> {
        if pass {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
        }
        let flip = match self.healthy {
            true => !pass && self.failures >= self.fall,
            false => pass && self.passes >= self.rise,
        };
        if flip {
            self.healthy = !self.healthy;
            return Some(self.healthy);
        }
        None
    }
}

/// Handle on a running checker task; dropping it stops the task.
#[derive(Debug)]
pub struct Checker {
    service: Arc<str>,
    check: HealthCheck,
    /// The service's upstream TLS, read by each probe: swapped in place when the service's
    /// settings are rebuilt (a reload re-reads the CA file), never a restart.
    tls: Arc<ArcSwapOption<UpstreamTls>>,
    task: JoinHandle<()>,
}

impl Checker {
    /// Starts checking `endpoint` (of `service`, whose `https` endpoints take `tls`) on the
    /// current runtime. The endpoint keeps its current up/down state; counters start at zero.
    pub fn spawn(
        endpoint: Arc<Endpoint>,
        service: Arc<str>,
        check: HealthCheck,
        tls: Option<&UpstreamTls>,
        notify: Notify,
    ) -> Self {
        let addr = endpoint.addr();
        let probe_check = check.clone();
        let tls = Arc::new(ArcSwapOption::from(tls.cloned().map(Arc::new)));
        let probe_tls = Arc::clone(&tls);
        let run = run(
            endpoint,
            Arc::clone(&service),
            check.clone(),
            notify,
            move || {
                let check = probe_check.clone();
                let tls = probe_tls.load_full();
                async move { probe(addr, &check, tls.as_deref()).await }
            },
        );
        Self {
            service,
            check,
            tls,
            task: tokio::spawn(run),
        }
    }

    /// True when this checker runs `check` for `service`: keep it.
    pub fn runs(&self, service: &str, check: &HealthCheck) -> bool {
        *self.service == *service && self.check == *check
    }

    /// The service's upstream TLS for the next probes, when it was rebuilt.
    pub fn set_tls(&self, tls: Option<&UpstreamTls>) {
        let same = match (self.tls.load().as_deref(), tls) {
            (None, None) => true,
            // The client configuration is built once per read of the settings.
            (Some(old), Some(new)) => Arc::ptr_eq(&old.http1, &new.http1),
            _ => false,
        };
        if !same {
            self.tls.store(tls.cloned().map(Arc::new));
        }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A random delay in `[0, interval)`.
fn jitter(interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(RandomState::new().hash_one(nanos) % nanos)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The checker loop; `check_once` runs one probe (a parameter so tests can script results).
pub(crate) async fn run<F, Fut>(
    endpoint: Arc<Endpoint>,
    service: Arc<str>,
    check: HealthCheck,
    notify: Notify,
    mut check_once: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProbeError>>,
{
    let name = service.to_string();
    let passes: Counter =
        metrics::counter!(m::HEALTH_CHECKS_TOTAL, "service" => name.clone(), "result" => "pass");
    let failures: Counter =
        metrics::counter!(m::HEALTH_CHECKS_TOTAL, "service" => name.clone(), "result" => "fail");
    let gauge: Gauge = metrics::gauge!(m::ENDPOINT_HEALTHY, "service" => name,
        "endpoint" => endpoint.label().to_string());
    let mut tracker = Tracker::new(&check, !endpoint.is_active_failing());
    let mut status = HealthStatus {
        check: check.to_string(),
        healthy: tracker.healthy(),
        consecutive_passes: 0,
        consecutive_failures: 0,
        last_result: None,
        last_check_unix_ms: None,
    };
    endpoint.set_health_status(Some(status.clone()));
    gauge.set(f64::from(u8::from(tracker.healthy())));
    tokio::time::sleep(jitter(check.interval)).await;
    let mut ticker = tokio::time::interval(check.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let result = check_once().await;
        let pass = result.is_ok();
        match &result {
            Ok(()) => {
                passes.increment(1);
                status.consecutive_passes = status.consecutive_passes.saturating_add(1);
                status.consecutive_failures = 0;
            }
            Err(_) => {
                failures.increment(1);
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                status.consecutive_passes = 0;
            }
        }
        status.last_result = Some(match &result {
            Ok(()) => "pass".to_owned(),
            Err(e) => e.to_string(),
        });
        status.last_check_unix_ms = Some(unix_ms());
        if let Some(healthy) = tracker.record(pass) {
            endpoint.set_active_failing(!healthy);
            gauge.set(f64::from(u8::from(healthy)));
            match &result {
                Ok(()) => info!(service = %service, endpoint = %endpoint.label(),
                    passes = status.consecutive_passes, "active check: healthy again"),
                Err(e) => warn!(service = %service, endpoint = %endpoint.label(),
                    failures = status.consecutive_failures, "active check: unhealthy ({e})"),
            }
            // Full means a refresh is already pending; closed means shutting down.
            let _ = notify.try_send(());
        }
        status.healthy = tracker.healthy();
        endpoint.set_health_status(Some(status.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::model::EndpointKey;

    fn check(rise: u32, fall: u32) -> HealthCheck {
        HealthCheck {
            rise,
            fall,
            ..HealthCheck::new(None, Duration::from_millis(100))
        }
    }

    #[test]
    fn tracker_rises_and_falls() {
        let mut t = Tracker::new(&check(2, 3), true);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a pass resets the failure run");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(false));
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(true));
        assert!(t.healthy());
    }

    #[tokio::test(start_paused = true)]
    async fn task_flips_the_endpoint_after_fall_then_rise() {
        let key = EndpointKey {
            source: "t".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        let endpoint = Arc::new(Endpoint::new(key, 1));
        // 3 failures, then passes.
        let script = Arc::new(Mutex::new(VecDeque::from([
            false, false, false, true, true, true,
        ])));
        let (tx, mut rx) = mpsc::channel(4);
        let s = Arc::clone(&script);
        let task = tokio::spawn(run(
            Arc::clone(&endpoint),
            "svc".into(),
            check(2, 3),
            tx,
            move || {
                let pass = s.lock().unwrap().pop_front().unwrap_or(true);
                async move {
                    match pass {
                        true => Ok(()),
                        false => Err(ProbeError::ConnectRefused),
                    }
                }
            },
        ));
        let start = tokio::time::Instant::now();
        rx.recv().await.expect("a flip to unhealthy");
        assert!(!endpoint.is_routable());
        assert_eq!(endpoint.exclusion_reason(), Some("active check: failing"));
        // Jitter < 100ms (timers round up to the millisecond), then checks at +0, +100, +200.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took <= Duration::from_millis(301),
            "{took:?}"
        );
        let status = endpoint.health_status().unwrap();
        assert!(!status.healthy);
        assert_eq!(status.consecutive_failures, 3);
        assert_eq!(status.last_result.as_deref(), Some("connect refused"));
        rx.recv().await.expect("a flip back to healthy");
        assert!(endpoint.is_routable());
        let back = start.elapsed().as_millis();
        assert!((400..=501).contains(&back), "{back}");
        task.abort();
    }

    #[test]
    fn jitter_is_below_the_interval() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(10)) < Duration::from_millis(10));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
