//! Finding where a field path is written in the configuration text (control plane).
//!
//! Cross-field rules are checked after parsing, when positions are gone; this module finds
//! them again. Instead of scanning text (and getting flow style, quoting, comments or anchors
//! wrong) it replays the YAML parser: a serde seed walks the document along the path and,
//! on reaching the key (or the list element) the path names, fails on purpose, so the parser
//! attaches that token's exact line and column to the error. Any YAML style works: block,
//! flow on one line or many, quoted keys. If the path is not in the text (a missing field),
//! the nearest enclosing key that is gets the position.
//!
//! Invariant: locating never fails loudly; at worst it returns `None`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Marks the deliberate error that carries the position we are looking for.
const FOUND: &str = "\u{0}berth-locate-found";

/// 1-based `(line, column)` of `path` (like `services.api.backends[1].weight`) in `source`,
/// or of its nearest enclosing key present in the text.
pub fn locate(source: &str, path: &str) -> Option<(usize, usize)> {
    let mut target = path;
    while !target.is_empty() {
        if let Some(position) = find(source, target) {
            return Some(position);
        }
        target = parent(target);
    }
    None
}

/// `services.api.backends[1]` → `services.api.backends` → `services.api` → `services` → ``.
pub(super) fn parent(path: &str) -> &str {
    let cut = if path.ends_with(']') {
        path.rfind('[')
    } else {
        path.rfind('.')
    };
    cut.map_or("", |i| &path[..i])
}

/// Position of exactly `path`, if the text has it.
fn find(source: &str, path: &str) -> Option<(usize, usize)> {
    let deserializer = serde_yaml::Deserializer::from_str(source);
    match (Walk { rest: path }).deserialize(deserializer) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// Walks the value it is given along `rest`.
struct Walk<'p> {
    rest: &'p str,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(step) = map.next_key_seed(Key { rest: self.rest })? {
            match step {
                Some(rest) => map.next_value_seed(Walk { rest })?,
                None => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((index, rest)) = split_index(self.rest) else {
            return Ok(());
        };
        for _ in 0..index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        if rest.is_empty() {
            seq.next_element_seed(Here)?;
        } else {
            seq.next_element_seed(Walk { rest })?;
        }
        Ok(())
    }

    // Scalars: the path goes deeper than the text does.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// `[2].weight` → `(2, "weight")`; `[2]` → `(2, "")`.
fn split_index(rest: &str) -> Option<(usize, &str)> {
    let inner = rest.strip_prefix('[')?;
    let (index, after) = inner.split_once(']')?;
    let index = index.parse().ok()?;
    Some((index, after.strip_prefix('.').unwrap_or(after)))
}

/// Reads a map key: fails (at the key's position) when it is the path's last segment,
/// returns `Some(rest)` to descend, `None` to skip the entry.
struct Key<'p> {
    rest: &'p str,
}

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Option<&'p str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'p> Visitor<'_> for Key<'p> {
    type Value = Option<&'p str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        let Some(after) = self.rest.strip_prefix(key) else {
            return Ok(None);
        };
        if after.is_empty() {
            return Err(E::custom(FOUND));
        }
        if let Some(deeper) = after.strip_prefix('.') {
            return Ok(Some(deeper));
        }
        Ok(after.starts_with('[').then_some(after))
    }
}

/// Fails on whatever value it meets, so the parser reports that value's position.
struct Here;

impl<'de> DeserializeSeed<'de> for Here {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for Here {
    type Value = ();
    // Every `visit_*` left at its default fails with `invalid type ... expected FOUND`.
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FOUND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "\
# comment: listener
listeners:
  web:
    address: 0.0.0.0:8080
  internal:
    address: 127.0.0.1:8081
services:
  legacy:
    listener: webb
    backends:
      - 127.0.0.1:9001
      - address: 127.0.0.1:9002
        weight: 0
";

    #[test]
    fn finds_block_keys() {
        assert_eq!(locate(BLOCK, "listeners"), Some((2, 1)));
        assert_eq!(locate(BLOCK, "listeners.internal.address"), Some((6, 5)));
        assert_eq!(locate(BLOCK, "services.legacy.listener"), Some((9, 5)));
    }

    #[test]
    fn finds_list_elements_and_keys_inside_them() {
        assert_eq!(locate(BLOCK, "services.legacy.backends[0]"), Some((11, 9)));
        assert_eq!(locate(BLOCK, "services.legacy.backends[1]"), Some((12, 9)));
        assert_eq!(
            locate(BLOCK, "services.legacy.backends[1].weight"),
            Some((13, 9))
        );
    }

    #[test]
    fn finds_keys_in_flow_style() {
        let src = "listeners:\n  web: { address: \"0.0.0.0:8080\", protocol: http }\n";
        assert_eq!(locate(src, "listeners.web.protocol"), Some((2, 35)));
        let multi = "defaults: { balance: round_robin,\n            timeouts: { connect: 2s, idle: 9s } }\n";
        assert_eq!(locate(multi, "defaults.timeouts.idle"), Some((2, 38)));
    }

    #[test]
    fn finds_quoted_keys() {
        assert_eq!(
            locate("\"admin\":\n  'address': x\n", "admin.address"),
            Some((2, 3))
        );
    }

    #[test]
    fn falls_back_to_the_nearest_enclosing_key() {
        assert_eq!(locate(BLOCK, "services.legacy.path"), Some((8, 3)));
        assert_eq!(locate(BLOCK, "services.legacy.backends[7]"), Some((10, 5)));
        assert_eq!(locate(BLOCK, "services.nothere.hosts"), Some((7, 1)));
        assert_eq!(locate(BLOCK, "nothere"), None);
        assert_eq!(locate("", "services"), None);
    }

    #[test]
    fn keys_with_dots_are_matched_whole() {
        let src = "services:\n  api.v2:\n    path: /v2\n";
        assert_eq!(locate(src, "services.api.v2.path"), Some((3, 5)));
    }
}
