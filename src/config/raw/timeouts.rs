//! `defaults.timeouts` as written (control plane, parse time): durations by key, and
//! `body_min_rate`, a rate among them.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{Rate, Span};

/// `defaults.timeouts`: the timeouts the file gives, each with its key (one of
/// [`crate::model::Timeouts::NAMES`]), and `body_min_rate`; an unknown or repeated key fails
/// like a field of a `deny_unknown_fields` struct.
#[derive(Debug, Default)]
pub struct Timeouts {
    pub spans: Vec<(&'static str, Span)>,
    pub body_min_rate: Option<Rate>,
}

/// The key of `defaults.timeouts.body_min_rate`, a rate among durations.
const BODY_MIN_RATE: &str = "body_min_rate";

impl<'de> Deserialize<'de> for Timeouts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timeouts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Timeouts, A::Error> {
                const DURATIONS: &[&str] = &crate::model::Timeouts::NAMES;
                // `DURATIONS`, then `body_min_rate`: what an unknown key is told.
                const KEYS: &[&str] = &[
                    "connect",
                    "request",
                    "idle",
                    "header_read",
                    "tcp_idle",
                    "body_grace",
                    BODY_MIN_RATE,
                ];
                let mut out = Timeouts::default();
                let mut rate_seen = false;
                while let Some(key) = map.next_key::<String>()? {
                    if key == BODY_MIN_RATE {
                        if std::mem::replace(&mut rate_seen, true) {
                            return Err(de::Error::duplicate_field(BODY_MIN_RATE));
                        }
                        out.body_min_rate = map.next_value::<Option<Rate>>()?;
                        continue;
                    }
                    let Some(&name) = DURATIONS.iter().find(|n| **n == key) else {
                        return Err(de::Error::unknown_field(&key, KEYS));
                    };
                    if out.spans.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::duplicate_field(name));
                    }
                    if let Some(value) = map.next_value::<Option<Span>>()? {
                        out.spans.push((name, value));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_timeouts_take_durations_and_a_rate() {
        let t: Timeouts =
            serde_yaml::from_str("{ idle: 30s, body_min_rate: 1KB/s, body_grace: 2s }")
                .expect("valid");
        assert_eq!(t.body_min_rate, Some(Rate(Some(1000))));
        assert_eq!(t.spans.len(), 2);
        let off: Timeouts = serde_yaml::from_str("{ body_min_rate: off }").expect("valid");
        assert_eq!(off.body_min_rate, Some(Rate(None)));
        for bad in [
            "{ body_min_rate: 1KB }",
            "{ body_min_rate: 1KB/s, body_min_rate: 2KB/s }",
            "{ body_grace: fast }",
            "{ bodyrate: 1KB/s }",
        ] {
            assert!(serde_yaml::from_str::<Timeouts>(bad).is_err(), "{bad}");
        }
    }
}
