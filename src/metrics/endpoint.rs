//! Per-endpoint series: the handles one endpoint's requests bump, and the bound on how many
//! endpoint addresses get series of their own.
//!
//! 10,000 containers must not make 10,000 × (codes + buckets) series: the first
//! [`ENDPOINT_SERIES_CAP`] endpoints (across services) get `endpoint="<address>"`, later ones
//! share their service's `endpoint="other"`. An endpoint keeps the label it got while it
//! exists, so a series never changes meaning between scrapes.

use std::collections::HashMap;

use metrics::{Gauge, Histogram};

use super::{
    label, StatusCounters, ENDPOINT_IN_FLIGHT, ENDPOINT_REQUEST_DURATION_SECONDS,
    UPSTREAM_REQUESTS_TOTAL,
};

/// Endpoint addresses with series of their own, over all services.
pub const ENDPOINT_SERIES_CAP: usize = 1000;
/// The `endpoint` label of the endpoints past the cap.
pub const OTHER: &str = "other";

/// The metric handles of one endpoint of one service, resolved off the hot path; cloning
/// shares them.
#[derive(Clone, Debug)]
pub struct EndpointSeries {
    /// `upstream_requests_total{service,endpoint,code}`.
    pub upstream: StatusCounters,
    /// `endpoint_request_duration_seconds{service,endpoint}`.
    pub duration: Histogram,
    /// `endpoint_in_flight{service,endpoint}`, set at each scrape ([`set_in_flight`]).
    in_flight: Gauge,
    /// False when the endpoint shares its service's `other` series.
    own: bool,
}

impl EndpointSeries {
    fn new(service: &str, endpoint: &str, own: bool) -> Self {
        let labels = vec![
            label("service", service.to_owned()),
            label("endpoint", endpoint.to_owned()),
        ];
        Self {
            upstream: StatusCounters::new(UPSTREAM_REQUESTS_TOTAL, labels.clone()),
            duration: metrics::histogram!(ENDPOINT_REQUEST_DURATION_SECONDS, labels.clone()),
            in_flight: metrics::gauge!(ENDPOINT_IN_FLIGHT, labels),
            own,
        }
    }
}

/// Sets the in-flight gauges of one service's endpoints (a scrape): `counts` in the same
/// order as `series`; the endpoints past the cap add up in `other`.
pub fn set_in_flight(series: &[EndpointSeries], counts: impl Iterator<Item = u32>) {
    let mut other: Option<(&Gauge, f64)> = None;
    for (s, count) in series.iter().zip(counts) {
        match s.own {
            true => s.in_flight.set(f64::from(count)),
            false => other.get_or_insert((&s.in_flight, 0.0)).1 += f64::from(count),
        }
    }
    if let Some((gauge, sum)) = other {
        gauge.set(sum);
    }
}

/// The series handed out, by service then address, with the round each was last asked for.
/// Nested so that a lookup by `&str` allocates nothing: every rebuild asks for every
/// endpoint's series.
#[derive(Debug, Default)]
pub(super) struct Assigned {
    entries: HashMap<String, HashMap<String, (EndpointSeries, u64)>>,
    /// Entries with series of their own.
    own: usize,
}

impl Assigned {
    /// The series of `address` in `service`: the ones it had, else its own while under the
    /// cap, else the service's `other`.
    pub(super) fn get(&mut self, service: &str, address: &str, round: u64) -> EndpointSeries {
        let found = self
            .entries
            .get_mut(service)
            .and_then(|s| s.get_mut(address));
        if let Some(entry) = found {
            entry.1 = round;
            return entry.0.clone();
        }
        let own = self.own < ENDPOINT_SERIES_CAP;
        let series = EndpointSeries::new(service, if own { address } else { OTHER }, own);
        self.own += usize::from(own);
        (self.entries.entry(service.to_owned()).or_default())
            .insert(address.to_owned(), (series.clone(), round));
        series
    }

    /// Forgets the endpoints not asked for in `round` (gone), freeing their place under the
    /// cap; their in-flight gauge drops to 0 (an `other` one is summed again at the next
    /// scrape), so a gone endpoint does not show requests forever.
    pub(super) fn sweep(&mut self, round: u64) {
        self.entries.retain(|_, addresses| {
            addresses.retain(|_, (series, used)| {
                let keep = *used == round;
                if !keep {
                    series.in_flight.set(0.0);
                }
                keep
            });
            !addresses.is_empty()
        });
        self.own = (self.entries.values().flat_map(|a| a.values()))
            .filter(|(s, _)| s.own)
            .count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_past_the_cap_share_other_and_keep_their_label() {
        let mut a = Assigned::default();
        for i in 0..ENDPOINT_SERIES_CAP {
            assert!(a.get("s", &format!("10.0.0.1:{i}"), 0).own);
        }
        let late = a.get("t", "10.0.0.2:80", 0);
        assert!(!late.own, "past the cap: other");
        // Asked again in a later round: the same answer, not a new own series.
        a.sweep(0);
        assert!(!a.get("t", "10.0.0.2:80", 1).own);
        assert!(a.get("s", "10.0.0.1:0", 1).own);
        // The others are gone after this round: room again for a new endpoint.
        a.sweep(1);
        assert!(a.get("u", "10.0.0.3:80", 2).own);
    }

    #[test]
    fn in_flight_of_endpoints_past_the_cap_adds_up() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let mut a = Assigned {
                own: ENDPOINT_SERIES_CAP - 1,
                ..Assigned::default()
            };
            let series = ["1.1.1.1:1", "1.1.1.1:2", "1.1.1.1:3"].map(|e| a.get("s", e, 0));
            set_in_flight(&series, [2, 3, 4].into_iter());
        });
        let text = handle.render();
        for line in [
            r#"berth_endpoint_in_flight{service="s",endpoint="1.1.1.1:1"} 2"#,
            r#"berth_endpoint_in_flight{service="s",endpoint="other"} 7"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("1.1.1.1:2"), "{text}");
    }
}
