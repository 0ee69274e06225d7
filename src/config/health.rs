//! Validation of active health checks (control plane, load time): `defaults.health` and a
//! static service's `health:`.
//!
//! A service's `health:` fields override `defaults.health`'s one by one; the result must
//! have an `interval`, a `timeout` no longer than it (the default timeout is the interval,
//! at most 5s), and `status` only with a `path` (without one the check is a TCP connect).
//! Invariant: like the rest of `validate`, problems are recorded with their field paths.

use super::raw;
use super::validate::Problems;
use crate::model::value::request_path;
use crate::model::{default_timeout, HealthCheck, DEFAULT_FALL, DEFAULT_RISE, DEFAULT_STATUS};

/// The check at `path` (`defaults.health`, `services.api.health`): `raw` over `base`;
/// `None` when neither asks for one, or on a problem (then recorded in `p`).
pub(super) fn health(
    p: &mut Problems,
    path: &str,
    raw: Option<raw::Health>,
    base: Option<&HealthCheck>,
) -> Option<HealthCheck> {
    let Some(raw) = raw else {
        return base.cloned();
    };
    let before = p.len();
    let check_path_value = raw
        .path
        .clone()
        .or_else(|| base.and_then(|b| b.path.clone()));
    if let Some(path_value) = &raw.path {
        if let Err(msg) = request_path(path_value) {
            p.add(format!("{path}.path"), msg);
        }
    }
    let Some(interval) = raw.interval.map(|i| i.0).or(base.map(|b| b.interval)) else {
        p.add(
            path,
            "a health check needs an interval: add `interval: 10s` (or remove the block)",
        );
        return None;
    };
    if interval.is_zero() {
        p.add(
            format!("{path}.interval"),
            "an interval of 0 would check without pause: use a positive duration like 10s",
        );
    }
    let timeout = match (raw.timeout, base) {
        (Some(t), _) => {
            if t.0.is_zero() {
                p.add(
                    format!("{path}.timeout"),
                    "a timeout of 0 would fail every check: use a positive duration like 2s",
                );
            } else if t.0 > interval {
                p.add(
                    format!("{path}.timeout"),
                    format!(
                        "timeout {} is longer than the interval {}: a check must end before the next one starts",
                        humantime::format_duration(t.0),
                        humantime::format_duration(interval)
                    ),
                );
            }
            t.0
        }
        (None, Some(b)) => b.timeout.min(interval),
        (None, None) => default_timeout(interval),
    };
    if raw.status.is_some() && check_path_value.is_none() {
        p.add(
            format!("{path}.status"),
            "status needs a path: without one the check is a TCP connect, which has no status",
        );
    }
    if p.len() > before {
        return None;
    }
    Some(HealthCheck {
        path: check_path_value,
        interval,
        timeout,
        rise: raw
            .rise
            .map(|r| r.0)
            .or(base.map(|b| b.rise))
            .unwrap_or(DEFAULT_RISE),
        fall: raw
            .fall
            .map(|f| f.0)
            .or(base.map(|b| b.fall))
            .unwrap_or(DEFAULT_FALL),
        status: raw
            .status
            .map(|s| s.0)
            .or(base.map(|b| b.status))
            .unwrap_or(DEFAULT_STATUS),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{parse, ConfigError, Problem};
    use crate::model::HealthCheck;

    fn problems(src: &str) -> Vec<Problem> {
        match parse(src, "t.yaml") {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn services_override_defaults_field_by_field() {
        let src =
            "defaults:\n  health: { path: /health, interval: 10s, fall: 5, status: 200-299 }\n\
                   services:\n  a: { backends: [127.0.0.1:1] }\n  \
                   b: { path: /b, health: { interval: 1s, rise: 4 }, backends: [127.0.0.1:2] }\n";
        let c = parse(src, "t.yaml").unwrap();
        let d = c.defaults.health.clone().unwrap();
        assert_eq!(d.fall, 5);
        assert_eq!(d.timeout, Duration::from_secs(5));
        assert_eq!(c.services["a"].spec.health.as_ref(), Some(&d));
        assert_eq!(
            c.services["b"].spec.health,
            Some(HealthCheck {
                path: Some("/health".into()),
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                rise: 4,
                fall: 5,
                status: (200, 299),
            })
        );
    }

    #[test]
    fn the_path_is_a_request_target_as_the_label_reads_it() {
        let src =
            |path: &str| format!("defaults:\n  health: {{ path: \"{path}\", interval: 1s }}\n");
        let c = parse(&src("/health?full=1"), "t.yaml").expect("a query is fine");
        assert_eq!(
            c.defaults.health.unwrap().path.as_deref(),
            Some("/health?full=1")
        );
        for bad in ["/a>b", "/a\\u0007b", "health"] {
            let p = problems(&src(bad));
            assert_eq!(p[0].path, "defaults.health.path", "{bad}: {p:?}");
        }
    }

    #[test]
    fn no_health_anywhere_is_none() {
        let c = parse("services:\n  a: { backends: [127.0.0.1:1] }\n", "t.yaml").unwrap();
        assert_eq!(c.defaults.health, None);
        assert_eq!(c.services["a"].spec.health, None);
    }

    #[test]
    fn problems_name_the_field_and_position() {
        let src = "services:\n  a:\n    health: { path: /h, interval: 1s, timeout: 2s }\n    backends: [127.0.0.1:1]\n";
        let p = problems(src);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(p[0].path, "services.a.health.timeout");
        assert_eq!(p[0].line, Some(3));
        assert!(p[0].message.contains("longer than the interval"), "{p:?}");

        let p = problems("defaults:\n  health: { path: /h }\n");
        assert_eq!(p[0].path, "defaults.health");
        assert!(p[0].message.contains("needs an interval"));

        let p = problems("defaults:\n  health: { interval: 1s, status: 200 }\n");
        assert_eq!(p[0].path, "defaults.health.status");

        let p = problems("defaults:\n  health: { interval: 1s, rise: 0 }\n");
        assert!(p[0].message.contains("at least 1"), "{p:?}");
        assert_eq!(p[0].line, Some(2));

        let p = problems("defaults:\n  health: { interval: 1s, status: 700 }\n");
        assert!(p[0].message.contains("200-399"), "{p:?}");

        let p = problems("defaults:\n  health: { interval: 1s, nope: 1 }\n");
        assert!(p[0].message.contains("nope"), "{p:?}");
    }
}
