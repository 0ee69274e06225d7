//! From the file as written to a valid [`Config`] (control plane, load time).
//!
//! Fills in every default (docs/ARCHITECTURE.md, "Configuration") and checks the rules that
//! span fields (listeners in `listener`, services in `service`): listener references, clashing
//! addresses, routes two services claim, empty backend lists, host patterns and path prefixes.
//! Invariants: every problem is collected (an operator fixes the whole file in one pass, not
//! one error per run); each names the field path it is about (positions are added afterwards by
//! `locate`); a `Config` is returned only when there is no problem at all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::acme::acme;
use super::error::Problem;
use super::health::health;
use super::listener::listeners;
use super::raw;
use super::service::{check_route_clashes, services};
use super::{Admin, Config, Connections, Defaults, Engine, Listener, StaticService, Swarm};
use crate::model::{BudgetSettings, Limits, Outlier, Resilience, Timeouts};

/// Most worker threads a file may ask for.
const MAX_WORKERS: usize = 1024;

/// Checks `raw` and builds the typed configuration, or returns every problem found; relative
/// certificate and CA paths are resolved against `base`, the config file's directory.
pub fn validate(raw: raw::Config, base: &Path) -> Result<Config, Vec<Problem>> {
    let mut p = Problems::default();
    let listeners = listeners(&mut p, raw.listeners, base, raw.acme.is_some());
    let admin = super::admin::admin(&mut p, raw.admin, base);
    check_address_clashes(&mut p, &listeners, &admin);
    let docker = engine(&mut p, "docker", raw.docker, true);
    let swarm = swarm(&mut p, raw.swarm);
    let connections = raw
        .connections
        .map_or_else(Default::default, |c| Connections {
            max: c.max.map(|m| m.0 as usize),
            per_client: c.per_client.map(|m| m.0 as usize),
        });
    let defaults = defaults(&mut p, raw.defaults);
    let services = services(&mut p, raw.services, &listeners, &defaults, base);
    check_route_clashes(&mut p, &services, &listeners);
    if raw.acme.is_none() {
        check_acme_opt_in(&mut p, &services);
    }
    let log = super::logging::log(&mut p, raw.log, base);
    let workers = workers(&mut p, raw.workers);
    let acme = raw.acme.map(|a| acme(&mut p, a, &listeners, base));
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(Config {
        listeners,
        admin,
        docker,
        swarm,
        acme,
        connections,
        defaults,
        services,
        log,
        workers,
    })
}

/// A service asking for ACME certificates in a file without an `acme:` section.
fn check_acme_opt_in(p: &mut Problems, services: &BTreeMap<String, StaticService>) {
    for name in services.iter().filter(|(_, s)| s.spec.acme).map(|(n, _)| n) {
        p.add(
            format!("services.{name}.tls.acme"),
            "needs a top-level `acme:` section (at least `agree_tos: true`) to order \
             certificates; add it, or remove `acme: true`",
        );
    }
}

/// Problems found so far.
#[derive(Default)]
pub(super) struct Problems(Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Two sockets on one port clash when their IPs are equal or one is the wildcard of the
/// other's family (it already covers every address). Port 0 (pick any) never clashes.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    let same_family = a.is_ipv4() == b.is_ipv4();
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip()
            || (same_family && (a.ip().is_unspecified() || b.ip().is_unspecified())))
}

fn check_address_clashes(p: &mut Problems, listeners: &BTreeMap<String, Listener>, admin: &Admin) {
    let mut taken: Vec<(String, String, SocketAddr)> = Vec::new();
    let sites = listeners
        .values()
        .map(|l| {
            (
                format!("listener `{}`", l.name),
                format!("listeners.{}.address", l.name),
                l.address,
            )
        })
        .chain([(
            "the admin listener".to_owned(),
            "admin.address".to_owned(),
            admin.address,
        )]);
    for (what, path, addr) in sites {
        if let Some((other, other_path, other_addr)) =
            taken.iter().find(|(_, _, t)| overlaps(*t, addr))
        {
            let how = if *other_addr == addr {
                "is also the address of".to_owned()
            } else {
                format!("overlaps {other_addr}, the address of")
            };
            p.add(
                &path,
                format!(
                    "address {addr} {how} {other} ({other_path}); \
                     give {what} another port or IP"
                ),
            );
        }
        taken.push((what, path, addr));
    }
}

const DOCKER_SCHEMES: [&str; 5] = ["unix://", "tcp://", "http://", "https://", "npipe://"];

/// `swarm:`: off unless enabled; re-read everything every 10 s unless told otherwise.
fn swarm(p: &mut Problems, raw: Option<raw::Swarm>) -> Swarm {
    let (engine_fields, refresh) = match raw {
        Some(s) => (
            Some(raw::Docker {
                enabled: s.enabled,
                endpoint: s.endpoint,
                exposed_by_default: s.exposed_by_default,
                network: s.network,
                label_prefix: s.label_prefix,
            }),
            s.refresh,
        ),
        None => (None, None),
    };
    Swarm {
        engine: engine(p, "swarm", engine_fields, false),
        refresh: positive_span(p, "swarm.refresh", refresh).unwrap_or(SWARM_REFRESH),
    }
}

/// How often the Swarm provider re-reads everything when `swarm.refresh` is absent.
const SWARM_REFRESH: Duration = Duration::from_secs(10);

/// The `docker:` or `swarm:` section (`section`), enabled by default when `enabled`.
fn engine(p: &mut Problems, section: &str, raw: Option<raw::Docker>, enabled: bool) -> Engine {
    let raw = raw.unwrap_or(raw::Docker {
        enabled: None,
        endpoint: None,
        exposed_by_default: None,
        network: None,
        label_prefix: None,
    });
    if let Some(endpoint) = &raw.endpoint {
        if !DOCKER_SCHEMES.iter().any(|s| endpoint.starts_with(s)) {
            p.add(
                format!("{section}.endpoint"),
                format!(
                    "invalid Docker endpoint `{endpoint}`: expected unix:///var/run/docker.sock, \
                     tcp://HOST:PORT, http(s)://HOST:PORT or null for DOCKER_HOST"
                ),
            );
        }
    }
    if raw.network.as_deref().is_some_and(|n| n.trim().is_empty()) {
        p.add(
            format!("{section}.network"),
            "network is empty: name a Docker network or use null",
        );
    }
    let label_prefix = raw.label_prefix.unwrap_or_else(|| "berth".into());
    let prefix_ok = !label_prefix.is_empty()
        && !label_prefix.starts_with('.')
        && !label_prefix.ends_with('.')
        && label_prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !prefix_ok {
        p.add(
            format!("{section}.label_prefix"),
            format!(
                "invalid label prefix `{label_prefix}`: expected lowercase letters, digits, \
                 `.`, `-` or `_` without a trailing dot, like `berth` (labels are then berth.enable, ...)"
            ),
        );
    }
    Engine {
        enabled: raw.enabled.unwrap_or(enabled),
        endpoint: raw.endpoint,
        exposed_by_default: raw.exposed_by_default.unwrap_or(false),
        network: raw.network,
        label_prefix,
    }
}

pub(super) fn positive(
    p: &mut Problems,
    path: &str,
    d: Option<raw::Span>,
    default: Duration,
) -> Duration {
    let d = d.map_or(default, |s| s.0);
    if d.is_zero() {
        p.add(
            path,
            "a timeout of 0 would fail every request: use a positive duration like 2s",
        );
    }
    d
}

fn defaults(p: &mut Problems, raw: Option<raw::Defaults>) -> Defaults {
    let raw = raw.unwrap_or_default();
    let d = Defaults::default();
    Defaults {
        balance: raw.balance.map_or(d.balance, |b| b.0),
        retries: raw.retries.map_or(d.retries, |r| r.0),
        drain: raw.drain.map_or(d.drain, |d| d.0),
        timeouts: timeouts(p, raw.timeouts, d.timeouts),
        health: health(p, "defaults.health", raw.health, None),
        outlier: outlier(p, "defaults.outlier", raw.outlier, &d.outlier),
        retry_budget: retry_budget(p, raw.retry_budget),
        limits: limits(raw.limits, &d.limits),
        slow_start: raw.slow_start.map_or(d.slow_start, |s| s.0),
        keep_route: raw.keep_route.map_or(d.keep_route, |s| s.0),
    }
}

/// `defaults.timeouts`: each one given must be positive; absent ones keep `t`'s.
fn timeouts(p: &mut Problems, raw: Option<raw::Timeouts>, mut t: Timeouts) -> Timeouts {
    let raw = raw.unwrap_or_default();
    for (name, slot) in t.by_name() {
        let value = raw.spans.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        *slot = positive(p, &format!("defaults.timeouts.{name}"), value, *slot);
    }
    if let Some(rate) = raw.body_min_rate {
        t.body_min_rate = rate.0;
    }
    t
}

/// A service's (or the defaults') failure policy: each block over `base`, field by field.
pub(super) fn resilience(
    p: &mut Problems,
    path: &str,
    (o, l, s): (Option<raw::Outlier>, Option<raw::Limits>, Option<raw::Span>),
    base: &Resilience,
) -> Resilience {
    Resilience {
        outlier: outlier(p, &format!("{path}.outlier"), o, &base.outlier),
        limits: limits(l, &base.limits),
        slow_start: s.map_or(base.slow_start, |s| s.0),
    }
}

/// `limits:`: absent fields take `base`'s.
fn limits(raw: Option<raw::Limits>, base: &Limits) -> Limits {
    let Some(raw) = raw else { return *base };
    Limits {
        max_in_flight: raw.max_in_flight.unwrap_or(base.max_in_flight),
        max_pending: raw.max_pending.unwrap_or(base.max_pending),
    }
}

/// An `outlier:` block at `path`: absent fields take `base`'s.
fn outlier(p: &mut Problems, path: &str, raw: Option<raw::Outlier>, base: &Outlier) -> Outlier {
    let d = *base;
    let Some(raw) = raw else { return d };
    let base_ejection = positive_span(p, &format!("{path}.base_ejection"), raw.base_ejection)
        .unwrap_or(d.base_ejection);
    let max_ejection = positive_span(p, &format!("{path}.max_ejection"), raw.max_ejection)
        .unwrap_or(d.max_ejection.max(base_ejection));
    if max_ejection < base_ejection {
        p.add(
            format!("{path}.max_ejection"),
            format!(
                "max_ejection {max_ejection:?} is shorter than base_ejection {base_ejection:?}: use at least the base"
            ),
        );
    }
    let max_ejected_percent = match raw.max_ejected_percent {
        None => d.max_ejected_percent,
        Some(pct) => percentage(p, &format!("{path}.max_ejected_percent"), pct)
            .unwrap_or(d.max_ejected_percent),
    };
    Outlier {
        consecutive_failures: raw.consecutive_failures.unwrap_or(d.consecutive_failures),
        base_ejection,
        max_ejection,
        max_ejected_percent,
        gateway_errors_only: raw.gateway_errors_only.unwrap_or(d.gateway_errors_only),
    }
}

/// `defaults.retry_budget`: absent fields take `BudgetSettings::default()`.
fn retry_budget(p: &mut Problems, raw: Option<raw::RetryBudget>) -> BudgetSettings {
    let d = BudgetSettings::default();
    let Some(raw) = raw else { return d };
    let percent = match raw.percent {
        None => d.percent,
        Some(pct) => percentage(p, "defaults.retry_budget.percent", pct).unwrap_or(d.percent),
    };
    let window = match raw.window {
        Some(w) if w.0.is_zero() => {
            p.add(
                "defaults.retry_budget.window",
                "a window of 0 would count nothing: use a positive duration like 10s",
            );
            d.window
        }
        Some(w) => w.0,
        None => d.window,
    };
    BudgetSettings {
        percent,
        min_retries: raw.min_retries.unwrap_or(d.min_retries),
        window,
    }
}

/// A whole percentage (0..=100) at `path`; `None` (reported) otherwise.
fn percentage(p: &mut Problems, path: &str, pct: u32) -> Option<u8> {
    let valid = u8::try_from(pct).ok().filter(|p| *p <= 100);
    if valid.is_none() {
        p.add(
            path,
            format!("{pct} is not a percentage: expected a whole number from 0 to 100"),
        );
    }
    valid
}

/// A duration that must be positive; `None` when absent (or zero, reported).
fn positive_span(p: &mut Problems, path: &str, d: Option<raw::Span>) -> Option<Duration> {
    let d = d?.0;
    if d.is_zero() {
        p.add(
            path,
            "an ejection of 0 would not eject: use a positive duration like 30s",
        );
        return None;
    }
    Some(d)
}

fn workers(p: &mut Problems, raw: Option<usize>) -> usize {
    match raw.unwrap_or(0) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n if n > MAX_WORKERS => {
            p.add(
                "workers",
                format!("workers {n} is too many: expected 0 (one per core) up to {MAX_WORKERS}"),
            );
            n
        }
        n => n,
    }
}

#[cfg(test)]
mod tests;
