//! How berth talks to a service's endpoints (control plane, load time): the protocol
//! (`upstream_protocol`, label `http.upstream_protocol`).
//!
//! These are service-level settings, read from a static service or a container's labels into
//! [`Upstream`] on the [`ServiceSpec`](crate::discovery::ServiceSpec).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The protocol berth speaks to a service's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1, pooled keep-alive connections (the default).
    #[default]
    Http1,
    /// HTTP/2: with prior knowledge (h2c) over plain TCP, negotiated by ALPN over TLS; one
    /// multiplexed connection per endpoint and worker.
    H2,
}

impl UpstreamProtocol {
    /// The name as written in the config and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::H2 => "h2",
        }
    }
}

impl fmt::Display for UpstreamProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UpstreamProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "http1" => Ok(Self::Http1),
            "h2" => Ok(Self::H2),
            _ => Err(format!("unknown upstream protocol `{s}`; use http1 or h2")),
        }
    }
}

/// A service's upstream settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upstream {
    pub protocol: UpstreamProtocol,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in [UpstreamProtocol::Http1, UpstreamProtocol::H2] {
            assert_eq!(p.as_str().parse::<UpstreamProtocol>(), Ok(p));
        }
        let err = "h3".parse::<UpstreamProtocol>().unwrap_err();
        assert!(err.contains("http1 or h2"), "{err}");
    }
}
