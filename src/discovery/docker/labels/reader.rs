//! Reading one container's labels under the prefix (control plane, pure).
//!
//! [`Labels`] holds the container's `<prefix>.*` labels by suffix (`weight`, `http.path`),
//! with values trimmed, and records every problem it meets as an operator-facing reason that
//! names the label, its value and what would be valid. Value parsers below are plain
//! `fn(&str) -> Result<T, String>`. Invariant: nothing here panics on any input.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::rules::{check_host, check_path, suggest};

/// A container's labels under one prefix, and the problems found reading them.
pub(super) struct Labels<'a> {
    prefix: &'a str,
    values: BTreeMap<&'a str, &'a str>,
    problems: Vec<String>,
}

impl<'a> Labels<'a> {
    /// The labels of `all` whose key is `<prefix>.<suffix>`, by suffix, values trimmed.
    pub(super) fn new(prefix: &'a str, all: &'a BTreeMap<String, String>) -> Self {
        let values = all
            .iter()
            .filter_map(|(key, value)| {
                let suffix = key.strip_prefix(prefix)?.strip_prefix('.')?;
                Some((suffix, value.trim()))
            })
            .collect();
        Self {
            prefix,
            values,
            problems: Vec::new(),
        }
    }

    /// The prefix, without the dot (`berth`).
    pub(super) fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The full key of a suffix: `berth.weight`.
    pub(super) fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// Every suffix present, sorted.
    pub(super) fn suffixes(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.values.keys().copied()
    }

    /// Whether the label is present (whatever its value).
    pub(super) fn has(&self, suffix: &str) -> bool {
        self.values.contains_key(suffix)
    }

    /// The trimmed value, if present.
    pub(super) fn raw(&self, suffix: &str) -> Option<&'a str> {
        self.values.get(suffix).copied()
    }

    /// The parsed value of a present label; `None` if absent or invalid (the problem is
    /// recorded, naming the label and its value).
    pub(super) fn parse<T>(
        &mut self,
        suffix: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.raw(suffix)?;
        if value.is_empty() {
            let msg = format!(
                "label {} is empty: give it a value or remove it",
                self.key(suffix)
            );
            self.problems.push(msg);
            return None;
        }
        parse(value)
            .map_err(|why| self.problem(format!("label {}={value}: {why}", self.key(suffix))))
            .ok()
    }

    /// Records a problem (already phrased for the operator).
    pub(super) fn problem(&mut self, msg: String) {
        self.problems.push(msg);
    }

    /// How many problems are recorded so far.
    pub(super) fn problem_count(&self) -> usize {
        self.problems.len()
    }

    /// Every problem recorded, in the order found.
    pub(super) fn into_problems(self) -> Vec<String> {
        self.problems
    }
}

/// `true` or `false`, any case.
pub(super) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// A whole number in `lo..=hi`.
pub(super) fn int_in(lo: u32, hi: u32) -> impl Fn(&str) -> Result<u32, String> {
    move |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| match hi {
                u32::MAX => format!("expected an integer {lo} or more"),
                _ => format!("expected an integer {lo}..={hi}"),
            })
    }
}

/// A container port, 1..=65535.
pub(super) fn port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| "expected a port 1..=65535".to_owned())
}

/// A duration with a unit, like `500ms`, `30s`, `2m` (the config file's rule).
pub(super) fn duration(s: &str) -> Result<Duration, String> {
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("a unit is required, like {s}s or {s}ms"));
    }
    humantime::parse_duration(s)
        .map_err(|_| "expected a duration with a unit like 500ms, 30s, 2m".to_owned())
}

/// A duration that must not be zero (a zero timeout or interval would fail or spin).
pub(super) fn positive_duration(s: &str) -> Result<Duration, String> {
    duration(s).and_then(|d| {
        (!d.is_zero())
            .then_some(d)
            .ok_or_else(|| "must be longer than 0, like 500ms or 30s".to_owned())
    })
}

/// A comma-separated list: items trimmed, duplicates dropped (first kept), empty items
/// rejected.
pub(super) fn list(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("empty entry in the comma-separated list: remove the extra comma".into());
        }
        if !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

/// Comma-separated host patterns, normalised by the config file's rule (lowercase, `*.`
/// wildcards), duplicates dropped.
pub(super) fn hosts(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for host in list(s)? {
        // The config's wording names its `hosts` field; here the label is the field.
        let host = check_host(&host).map_err(|e| e.replace("omit `hosts`", "omit the label"))?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

/// A route path prefix: the config file's rule, and no control characters (the route
/// table refuses them).
pub(super) fn path_prefix(s: &str) -> Result<String, String> {
    if let Some(why) = check_path(s) {
        return Err(why);
    }
    no_control(s)?;
    Ok(s.to_owned())
}

/// A request path for a health check: starts with `/`, may carry a query, no spaces,
/// control characters or fragment.
pub(super) fn request_path(s: &str) -> Result<String, String> {
    let plain = !s.contains('#') && !s.contains(char::is_whitespace);
    if !s.starts_with('/') || !plain {
        return Err(
            "expected a request path starting with `/`, without spaces or `#`, like /healthz"
                .to_owned(),
        );
    }
    no_control(s)?;
    Ok(s.to_owned())
}

fn no_control(s: &str) -> Result<(), String> {
    match s.chars().any(char::is_control) {
        true => Err("control characters are not allowed in a path".to_owned()),
        false => Ok(()),
    }
}

/// How a problem names a kind of listener.
pub(super) struct ListenerKind {
    /// `an http listener`
    pub one: &'static str,
    /// `http listeners`
    pub many: &'static str,
    /// The reason when no listener of the kind exists.
    pub none: &'static str,
}

/// The comma-separated listener names of `value`, each one of `known` (with a "did you mean"
/// and the list of valid names when one is not).
pub(super) fn listener_names(
    value: &str,
    known: &[&str],
    kind: &ListenerKind,
) -> Result<Vec<String>, String> {
    let names = list(value)?;
    let bad: Vec<String> = names
        .iter()
        .filter(|n| !known.contains(&n.as_str()))
        .map(|n| match suggest(n, known) {
            Some(near) => format!("`{n}` is not {} (did you mean `{near}`?)", kind.one),
            None => format!("`{n}` is not {}", kind.one),
        })
        .collect();
    if bad.is_empty() {
        return Ok(names);
    }
    let valid = match known.is_empty() {
        true => kind.none.to_owned(),
        false => format!("{}: {}", kind.many, known.join(", ")),
    };
    Err(format!("{}; {valid}", bad.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_trimmed_and_scoped_to_the_prefix() {
        let all = BTreeMap::from([
            ("berth.weight".to_owned(), "  3 ".to_owned()),
            ("berthx.weight".to_owned(), "9".to_owned()),
            ("berth".to_owned(), "true".to_owned()),
            ("other.weight".to_owned(), "9".to_owned()),
        ]);
        let l = Labels::new("berth", &all);
        assert_eq!(l.suffixes().collect::<Vec<_>>(), ["weight"]);
        assert_eq!(l.raw("weight"), Some("3"));
    }

    #[test]
    fn parsers() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert!(boolean("yes").is_err());
        assert_eq!(int_in(1, 1000)("1000"), Ok(1000));
        assert_eq!(int_in(1, 5)("-1"), Err("expected an integer 1..=5".into()));
        assert_eq!(
            int_in(1, u32::MAX)("0"),
            Err("expected an integer 1 or more".into())
        );
        assert_eq!(port("65535"), Ok(65535));
        assert!(port("0").is_err() && port("65536").is_err() && port("+").is_err());
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert!(duration("30").unwrap_err().contains("like 30s or 30ms"));
        assert!(positive_duration("0ms")
            .unwrap_err()
            .contains("longer than 0"));
        assert_eq!(list("a, b,a"), Ok(vec!["a".into(), "b".into()]));
        assert!(list("a,,b").unwrap_err().contains("extra comma"));
        assert_eq!(
            hosts("A.com,a.com, *.B.com"),
            Ok(vec!["a.com".into(), "*.b.com".into()])
        );
        assert!(path_prefix("/a\u{1}b").unwrap_err().contains("control"));
        assert!(request_path("/h?x=1").is_ok());
        assert!(request_path("h").is_err() && request_path("/a#b").is_err());
        assert!(request_path("/a\u{7f}").is_err());
    }
}
