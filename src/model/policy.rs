//! Who may pass (vocabulary): the access policies of a service, set by a static service's
//! YAML or by labels with the same names, checked by the data plane before a request is
//! proxied (or, for an L4 service, when a connection is accepted).
//!
//! - `allow`: the client address must be in one of `ips` (CIDRs or single IPs, v4 and v6).
//!   The client is the socket peer, or the client a PROXY header from a trusted peer names;
//!   for HTTP, when that peer is in the listener's `trusted_ips`, the right-most
//!   `X-Forwarded-For` entry that is not itself trusted (or, with `forwarded_depth: N`, the
//!   N-th entry from the right, as Traefik's `ipStrategy.depth`). A spoofed
//!   `X-Forwarded-For` from an untrusted peer is never read.
//!
//! - `rate_limit`: a token bucket per client (IP, a header, or the whole service) ([`rate`]).
//! - `in_flight.per_client`: at most that many requests of one client (IP) at once.
//! - `auth.basic`: HTTP Basic authentication against bcrypt hashes ([`basic`]).
//! - `auth.forward`: an auth service asked about each request ([`forward`]).
//!
//! They apply in that order: allow-list, rate limit, in-flight cap, Basic, forward
//! authentication.
//!
//! Invariant: a service without policies carries `Policies::default()` and the data plane
//! tests one `Option` per request.

use std::net::IpAddr;

use ipnet::IpNet;

pub mod basic;
pub mod forward;
pub mod rate;

pub use basic::BasicAuth;
pub use forward::ForwardAuth;
pub use rate::{RateKey, RateLimit};

/// Every policy of one service; `None`: not applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policies {
    pub allow: Option<Allow>,
    pub basic_auth: Option<BasicAuth>,
    pub rate_limit: Option<RateLimit>,
    pub forward_auth: Option<ForwardAuth>,
    /// Requests in flight per client (`in_flight.per_client`), at least 1.
    pub in_flight_per_client: Option<u32>,
}

impl Policies {
    /// Whether any policy is set (the data plane's one test per request).
    pub fn any(&self) -> bool {
        self.allow.is_some()
            || self.basic_auth.is_some()
            || self.rate_limit.is_some()
            || self.forward_auth.is_some()
            || self.in_flight_per_client.is_some()
    }

    /// The first policy set that applies to HTTP requests only (`rate_limit`, `auth`): an
    /// L4 service refuses it, since it would silently do nothing there.
    pub fn http_only(&self) -> Option<&'static str> {
        match (&self.rate_limit, &self.basic_auth, &self.forward_auth) {
            (Some(_), _, _) => Some("rate_limit"),
            (_, Some(_), _) | (_, _, Some(_)) => Some("auth"),
            _ => self.in_flight_per_client.map(|_| "in_flight"),
        }
    }
}

/// Why `in_flight.per_client` cannot be 0.
pub const IN_FLIGHT_ZERO: &str =
    "must be at least 1 (requests of one client at once); remove `in_flight` for no cap";

/// Why an L4 service cannot have the policy [`Policies::http_only`] names.
pub const HTTP_ONLY: &str =
    "applies to HTTP requests only; an L4 (tcp, tls-passthrough) service takes `allow` alone: remove it";

/// The IP allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    /// Non-empty.
    pub ips: Vec<IpNet>,
    /// 0: the right-most untrusted `X-Forwarded-For` hop; N: the N-th from the right.
    pub forwarded_depth: u8,
}

/// The most `X-Forwarded-For` hops `forwarded_depth` may reach back.
pub const MAX_FORWARDED_DEPTH: u8 = 16;

/// Why allow-list settings cannot be used; the message reads after a field path or a label.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("empty: list the IPs or CIDRs that may pass (like 10.0.0.0/8), or remove `allow`")]
    NoIps,
    #[error(
        "{0} is more than {MAX_FORWARDED_DEPTH}: count X-Forwarded-For entries from the right \
         (1 = the right-most), or 0 for the right-most one not in trusted_ips"
    )]
    Depth(u32),
}

impl PolicyError {
    /// The setting the error is about, under the policy (`ips`, `forwarded_depth`).
    pub fn field(&self) -> &'static str {
        match self {
            Self::NoIps => "ips",
            Self::Depth(_) => "forwarded_depth",
        }
    }
}

impl Allow {
    /// Checked settings: `ips` not empty, `forwarded_depth` at most [`MAX_FORWARDED_DEPTH`].
    pub fn new(ips: Vec<IpNet>, forwarded_depth: u32) -> Result<Self, PolicyError> {
        if ips.is_empty() {
            return Err(PolicyError::NoIps);
        }
        match u8::try_from(forwarded_depth) {
            Ok(d) if d <= MAX_FORWARDED_DEPTH => Ok(Self {
                ips,
                forwarded_depth: d,
            }),
            _ => Err(PolicyError::Depth(forwarded_depth)),
        }
    }

    /// Whether `client` may pass.
    pub fn allows(&self, client: IpAddr) -> bool {
        in_nets(client, &self.ips)
    }
}

impl std::fmt::Display for Allow {
    /// `from 10.0.0.0/8, 192.0.2.7/32` (and `, X-Forwarded-For hop N from the right`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
        write!(f, "from {}", ips.join(", "))?;
        match self.forwarded_depth {
            0 => Ok(()),
            n => write!(f, ", X-Forwarded-For hop {n} from the right"),
        }
    }
}

/// True when `ip` is in one of `nets`; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a
/// dual-stack `[::]` listener shows an IPv4 peer) counts as its IPv4 address.
pub fn in_nets(ip: IpAddr, nets: &[IpNet]) -> bool {
    let canonical = ip.to_canonical();
    nets.iter()
        .any(|net| net.contains(&ip) || net.contains(&canonical))
}

/// The client of an HTTP request: `peer` unless it is `trusted`, else the hop of
/// `forwarded` (the `X-Forwarded-For` values in order) that `depth` picks (see the module
/// doc). An entry that is not an IP ends the walk: the last address read stands.
pub fn client_ip<'a>(
    peer: IpAddr,
    trusted: &[IpNet],
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    depth: u8,
) -> IpAddr {
    if !in_nets(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let hops = forwarded.rev().flat_map(|v| v.rsplit(','));
    for (i, hop) in hops.enumerate() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            return client;
        };
        client = ip;
        let found = match depth {
            0 => !in_nets(ip, trusted),
            n => i + 1 == usize::from(n),
        };
        if found {
            return ip;
        }
    }
    match depth {
        0 => client,
        // Fewer hops than the depth: the peer itself (trusted) is all there is to go by.
        _ => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn allow_lists_match_v4_v6_and_mapped_addresses() {
        let allow = Allow {
            ips: nets(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]),
            forwarded_depth: 0,
        };
        assert!(allow.allows(ip("10.1.2.3")));
        assert!(allow.allows(ip("::ffff:10.1.2.3")));
        assert!(allow.allows(ip("2001:db8::1")));
        assert!(allow.allows(ip("192.0.2.7")));
        assert!(!allow.allows(ip("192.0.2.8")));
        assert!(!allow.allows(ip("11.0.0.1")));
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_peers() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let xff = ["203.0.113.9, 10.0.0.5"];
        assert_eq!(
            client_ip(ip("198.51.100.1"), &trusted, xff.into_iter(), 0),
            ip("198.51.100.1"),
            "untrusted peer: its X-Forwarded-For is ignored"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, xff.into_iter(), 0),
            ip("203.0.113.9"),
            "the right-most untrusted hop"
        );
        let spoofed = ["10.9.9.9, 203.0.113.9", "10.0.0.5"];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, spoofed.into_iter(), 0),
            ip("203.0.113.9"),
            "a client-written left part is not believed"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, spoofed.into_iter(), 1),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, spoofed.into_iter(), 3),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, spoofed.into_iter(), 4),
            ip("127.0.0.1"),
            "deeper than the header: the peer"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, std::iter::empty(), 0),
            ip("127.0.0.1")
        );
        let all_trusted = ["10.0.0.1, 10.0.0.2"];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, all_trusted.into_iter(), 0),
            ip("10.0.0.1"),
            "every hop trusted: the left-most"
        );
        let garbage = ["203.0.113.9, unknown, 10.0.0.5"];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &trusted, garbage.into_iter(), 0),
            ip("10.0.0.5"),
            "a non-IP entry stops the walk at the last address read"
        );
    }
}
