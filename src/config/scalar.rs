//! Checked scalar values of the configuration file (control plane, parse time).
//!
//! Each type here deserializes from the YAML value and rejects a bad one *during*
//! deserialization, so the YAML parser attaches the exact line and column and
//! `serde_path_to_error` the field path. Invariant: every error message quotes the bad value
//! and says what would be valid.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::model::{value, Balance};

/// Implements `Deserialize` for a newtype parsed from a YAML string by `$parse`
/// (`fn(&str) -> Result<T, String>`); non-string values are rejected with `$expecting`.
macro_rules! from_str_value {
    ($ty:ident, $expecting:literal, $parse:path) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        $parse(v).map($ty).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        $parse(&v.to_string()).map($ty).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        $parse(&v.to_string()).map($ty).map_err(E::custom)
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                        $parse(&v.to_string()).map($ty).map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// A socket address `IP:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address(pub SocketAddr);
from_str_value!(
    Address,
    "an address IP:PORT like \"0.0.0.0:8080\"",
    parse_address
);

fn parse_address(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if s.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "address `{s}` has no port: expected IP:PORT like 0.0.0.0:8080 or [::1]:8080"
        ));
    }
    if let Some((host, port)) = s.rsplit_once(':') {
        if port.parse::<u16>().is_ok() && !host.is_empty() && !host.contains(':') {
            return Err(format!(
                "`{s}` names a host; addresses here must be IPs (no DNS lookup): \
                 use e.g. 127.0.0.1:{port}"
            ));
        }
    }
    Err(format!(
        "invalid address `{s}`: expected IP:PORT like 0.0.0.0:8080 or [::1]:8080"
    ))
}

/// A duration written with a unit, like `500ms`, `30s`, `2m`, `1h 30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub Duration);
from_str_value!(
    Span,
    "a duration like \"500ms\", \"30s\" or \"2m\"",
    parse_duration
);

fn parse_duration(s: &str) -> Result<Duration, String> {
    value::duration(s).map_err(|why| format!("invalid duration `{}`: {why}", s.trim()))
}

/// A data rate like `240B/s` or `1KB/s`, or `off` (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(pub Option<u64>);
from_str_value!(
    Rate,
    "a rate like \"240B/s\" or \"1KB/s\", or off",
    parse_rate
);

fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    value::rate(s).map_err(|why| format!("invalid rate `{}`: {why}", s.trim()))
}

/// A backend weight, 1..=1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weight(pub NonZeroU32);
from_str_value!(Weight, "a weight from 1 to 1000", parse_weight);

fn parse_weight(s: &str) -> Result<NonZeroU32, String> {
    value::int_in(1, 1000)(s)
        // Invariant: `int_in(1, _)` never yields 0.
        .map(|w| NonZeroU32::new(w).unwrap_or(NonZeroU32::MIN))
        .map_err(|why| format!("weight {s} is out of range: {why}"))
}

/// An inclusive range of HTTP statuses: `200` or `"200-399"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange(pub (u16, u16));
from_str_value!(
    StatusRange,
    "a status like 200 or a range like \"200-399\"",
    value::status_range
);

/// A count of consecutive check results, at least 1 (`rise`, `fall`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u32);
from_str_value!(Count, "a whole number of at least 1", parse_count);

fn parse_count(s: &str) -> Result<u32, String> {
    value::int_in(1, u32::MAX)(s).map_err(|why| format!("`{s}` is not a count: {why}"))
}

/// A retry count, 0..=5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries(pub u8);
from_str_value!(Retries, "a retry count from 0 to 5", parse_retries);

fn parse_retries(s: &str) -> Result<u8, String> {
    value::int_in(0, 5)(s)
        .map(|r| r as u8) // Invariant: at most 5.
        .map_err(|why| format!("retries {s} is out of range: {why}"))
}

/// A `balance` value (see [`Balance`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSpec(pub Balance);
from_str_value!(
    BalanceSpec,
    "a balance algorithm like \"least_request\"",
    parse_balance
);

fn parse_balance(s: &str) -> Result<Balance, String> {
    Balance::from_str(s).map_err(|e| e.to_string())
}

/// A trusted peer: a single IP or a CIDR network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net(pub IpNet);
from_str_value!(
    Net,
    "an IP like \"10.0.0.1\" or a CIDR like \"10.0.0.0/8\"",
    parse_net
);

fn parse_net(s: &str) -> Result<IpNet, String> {
    value::ip_net(s)
}

/// A log filter: a level (`trace`, `debug`, `info`, `warn`, `error`, `off`), optionally with
/// per-target levels, like `info,berth=debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLevel(pub String);
from_str_value!(
    LogLevel,
    "a log level like \"info\" or \"info,berth=debug\"",
    parse_log_level
);

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

fn parse_log_level(s: &str) -> Result<String, String> {
    let s = s.trim();
    let valid = !s.is_empty()
        && s.split(',').all(|directive| {
            let level = directive
                .rsplit_once('=')
                .map_or(
                    directive,
                    |(target, level)| {
                        if target.trim().is_empty() {
                            ""
                        } else {
                            level
                        }
                    },
                );
            LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
        });
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid log level `{s}`: expected trace, debug, info, warn, error or off, \
             optionally with per-target levels like info,berth=debug"
        ))
    }
}

/// A string or a list of strings (`listener: web` or `listener: [web, internal]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a list of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(OneOrMany(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// A map that rejects a key given twice (plain maps would keep the last one silently).
#[derive(Clone, Debug, PartialEq)]
pub struct UniqueMap<T>(pub BTreeMap<String, T>);

impl<T> Default for UniqueMap<T> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for UniqueMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = UniqueMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of names to entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap<T>, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key_seed(FreshKey(&out))? {
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// Key seed that fails, at the key's own position, when the key is already in the map.
struct FreshKey<'a, T>(&'a BTreeMap<String, T>);

impl<'de, T> DeserializeSeed<'de> for FreshKey<'_, T> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for FreshKey<'_, T> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.0.contains_key(v) {
            return Err(E::custom(format!(
                "`{v}` is defined twice; names must be unique, rename or merge one of them"
            )));
        }
        Ok(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("30")
            .unwrap_err()
            .contains("unit is required"));
        let e = parse_duration("5 parsecs").unwrap_err();
        assert!(e.contains("invalid duration `5 parsecs`"), "{e}");
        assert!(e.contains("500ms, 30s, 2m"), "{e}");
    }

    #[test]
    fn addresses_explain_what_is_missing() {
        assert!(parse_address("[::1]:80").is_ok());
        assert!(parse_address("0.0.0.0").unwrap_err().contains("no port"));
        assert!(parse_address("localhost:80")
            .unwrap_err()
            .contains("127.0.0.1:80"));
        assert!(parse_address("nonsense").unwrap_err().contains("IP:PORT"));
    }

    #[test]
    fn ranges_are_checked() {
        assert!(parse_weight("0").unwrap_err().contains("1 to 1000"));
        assert!(parse_weight("1001").is_err());
        assert_eq!(parse_weight("1000").map(NonZeroU32::get), Ok(1000));
        assert!(parse_retries("6").unwrap_err().contains("0 to 5"));
        assert_eq!(parse_retries("0"), Ok(0));
    }

    #[test]
    fn nets_and_levels() {
        assert_eq!(parse_net("10.0.0.1").map(|n| n.prefix_len()), Ok(32));
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_log_level("info,berth=debug").is_ok());
        assert!(parse_log_level("WARN").is_ok());
        assert!(parse_log_level("verbose").is_err());
        assert!(parse_log_level("=debug").is_err());
    }
}
