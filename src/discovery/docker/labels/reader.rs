//! Reading one container's labels under the prefix (control plane, pure).
//!
//! [`Labels`] holds the container's `<prefix>.*` labels by suffix (`weight`, `http.path`),
//! with values trimmed, and records every problem it meets as an operator-facing reason that
//! names the label, its value and what would be valid. Values are parsed by
//! `model::value`, the parsers the config file uses too. Invariant: nothing here panics on any input.

use crate::model::rules::suggest;
use crate::model::value::list;
use std::collections::BTreeMap;

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

    /// Records the labels of `suffixes` that are set without one of `needed`, the label that
    /// turns their setting on.
    pub(super) fn orphans(&mut self, suffixes: &[&str], needed: &[&str]) {
        let set: Vec<String> = suffixes
            .iter()
            .filter(|s| self.has(s))
            .map(|s| self.key(s))
            .collect();
        if set.is_empty() {
            return;
        }
        let needed: Vec<String> = needed.iter().map(|n| self.key(n)).collect();
        let msg = format!(
            "{} {} no effect without {}: set that, or remove {}",
            if set.len() == 1 { "label" } else { "labels" },
            set.join(" and ") + if set.len() == 1 { " has" } else { " have" },
            needed.join(" or "),
            if set.len() == 1 { "it" } else { "them" },
        );
        self.problem(msg);
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
}
