//! The balancing choice of a service (vocabulary): `balance:` in the file, `berth.balance` in
//! labels. The selectors that implement each choice live in `balance`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http::HeaderName;

/// What a hash-based selector hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashOn {
    Header(HeaderName),
    Cookie(Arc<str>),
    ClientIp,
}

/// A service's balancing algorithm, as written in config (`balance:`) or labels (`berth.balance`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    RoundRobin,
    #[default]
    LeastRequest,
    PeakEwma,
    Hash(HashOn),
}

/// A `balance` value that is not one of the valid forms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown balance `{0}`: expected round_robin, least_request, peak_ewma, hash(header:NAME), hash(cookie:NAME) or hash(client_ip)")]
pub struct BalanceError(pub String);

impl FromStr for Balance {
    type Err = BalanceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BalanceError(s.to_owned());
        match s.trim() {
            "round_robin" => return Ok(Self::RoundRobin),
            "least_request" => return Ok(Self::LeastRequest),
            "peak_ewma" => return Ok(Self::PeakEwma),
            _ => {}
        }
        let inner = s
            .trim()
            .strip_prefix("hash(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?
            .trim();
        if inner == "client_ip" {
            return Ok(Self::Hash(HashOn::ClientIp));
        }
        match inner.split_once(':') {
            Some(("header", name)) if !name.trim().is_empty() => HeaderName::from_str(name.trim())
                .map(|h| Self::Hash(HashOn::Header(h)))
                .map_err(|_| bad()),
            Some(("cookie", name)) if !name.trim().is_empty() => {
                Ok(Self::Hash(HashOn::Cookie(name.trim().into())))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RoundRobin => f.write_str("round_robin"),
            Self::LeastRequest => f.write_str("least_request"),
            Self::PeakEwma => f.write_str("peak_ewma"),
            Self::Hash(HashOn::Header(h)) => write!(f, "hash(header:{h})"),
            Self::Hash(HashOn::Cookie(c)) => write!(f, "hash(cookie:{c})"),
            Self::Hash(HashOn::ClientIp) => f.write_str("hash(client_ip)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        for s in [
            "round_robin",
            "least_request",
            "peak_ewma",
            "hash(header:x-user)",
            "hash(cookie:session)",
            "hash(client_ip)",
        ] {
            let b: Balance = s.parse().expect(s);
            assert_eq!(b.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for s in [
            "",
            "random",
            "hash()",
            "hash(header:)",
            "hash(cookie)",
            "hash(client_ip",
        ] {
            assert!(s.parse::<Balance>().is_err(), "{s}");
        }
    }
}
