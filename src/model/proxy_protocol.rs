//! The PROXY protocol version a service sends its backends (vocabulary): `proxy_protocol:`
//! in the file, `berth.proxy_protocol` in labels. Encoding and parsing live in
//! `proxy::proxy_protocol`.

use std::fmt;
use std::str::FromStr;

/// Which header a backend wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    V1,
    V2,
}

impl ProxyVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

impl fmt::Display for ProxyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PROXY protocol version that is neither `v1` nor `v2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PROXY protocol version `{0}` (expected `v1` or `v2`)")]
pub struct UnknownVersion(pub String);

impl FromStr for ProxyVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            _ => Err(UnknownVersion(s.to_owned())),
        }
    }
}
