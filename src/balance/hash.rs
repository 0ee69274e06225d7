//! `hash(header:NAME)`, `hash(cookie:NAME)`, `hash(client_ip)`: consistent hashing over a
//! Maglev table (data plane).
//!
//! The key is the first value of the header, the value of the named cookie (parsed in place
//! from every `Cookie` header), or the client's IP octets (IPv4-mapped IPv6 counts as IPv4).
//! It is hashed with the fixed [`digest`] and looked up in the [`Maglev`] table, so every
//! berth instance sends a key to the same endpoint, and changes to the endpoint set move few
//! keys.
//!
//! When the slot's endpoint is not routable or already tried, the next slots are probed in
//! order ([`PROBES`] of them, then a linear scan from the slot's endpoint): the detour depends
//! only on the key, so a key whose endpoint drains moves to one stable other endpoint, and
//! keys of other endpoints do not move at all.
//!
//! A request without a key (header or cookie absent or empty) is balanced like
//! `least_request` (P2C on requests in flight), not piled onto one endpoint.
//!
//! Invariants: no lock, no allocation; the result is routable and not in `tried`; `None` only
//! when no endpoint is both.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::COOKIE;
use http::HeaderMap;

use super::digest::digest;
use super::maglev::Maglev;
use super::p2c::P2c;
use super::{eligible, least_request, scan_from, HashOn, PickContext};
use crate::endpoint::Endpoint;

/// Table slots probed after the key's own before falling back to a linear scan.
const PROBES: usize = 16;
const SEED_KEY: u64 = 0x6265_7274_686b_6579;

/// Selector state for the `hash(…)` forms.
#[derive(Debug)]
pub(crate) struct Hash {
    on: HashOn,
    table: Maglev,
    keyless: P2c,
}

impl Hash {
    pub(crate) fn new(on: &HashOn, endpoints: &[Arc<Endpoint>]) -> Self {
        Self {
            on: on.clone(),
            table: Maglev::new(endpoints),
            keyless: P2c::new(endpoints),
        }
    }

    #[inline]
    pub(crate) fn pick(
        &self,
        endpoints: &[Arc<Endpoint>],
        ctx: &PickContext<'_>,
        tried: &[usize],
    ) -> Option<usize> {
        match self.key_hash(ctx) {
            Some(h) => self.lookup(endpoints, h, tried),
            None => self.keyless.pick(endpoints, tried, least_request::cost),
        }
    }

    /// The request's key, hashed; `None` when the request carries no key.
    #[inline]
    fn key_hash(&self, ctx: &PickContext<'_>) -> Option<u64> {
        match &self.on {
            HashOn::Header(name) => non_empty(ctx.headers.get(name)?.as_bytes()),
            HashOn::Cookie(name) => non_empty(cookie(ctx.headers, name)?),
            HashOn::ClientIp => Some(hash_ip(ctx.client_ip)),
        }
    }

    /// The endpoint owning the key's slot, or the first eligible one after it.
    #[inline]
    fn lookup(&self, endpoints: &[Arc<Endpoint>], hash: u64, tried: &[usize]) -> Option<usize> {
        let len = self.table.len();
        if len == 0 {
            return None;
        }
        let home = self.table.slot(hash);
        let mut slot = home;
        for _ in 0..PROBES.min(len) {
            let i = self.table.endpoint(slot);
            if eligible(endpoints, i, tried) {
                return Some(i);
            }
            slot = if slot + 1 == len { 0 } else { slot + 1 };
        }
        scan_from(endpoints, self.table.endpoint(home), tried)
    }
}

#[inline]
fn non_empty(key: &[u8]) -> Option<u64> {
    (!key.is_empty()).then(|| digest(SEED_KEY, key))
}

#[inline]
fn hash_ip(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => digest(SEED_KEY, &v4.octets()),
        IpAddr::V6(v6) => digest(SEED_KEY, &v6.octets()),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §4.2: pairs
/// separated by `;`, optional whitespace, value optionally in double quotes); first wins.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let (k, v) = split_pair(pair)?;
            (k == name.as_bytes()).then_some(v)
        })
}

/// `name=value` with surrounding whitespace and value quotes removed.
fn split_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    let (k, v) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
    let v = v
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(v);
    Some((k, v))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use http::HeaderValue;

    use super::*;
    use crate::balance::test_support::endpoints;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ctx(h: &HeaderMap) -> PickContext<'_> {
        PickContext {
            client_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            headers: h,
        }
    }

    #[test]
    fn parses_cookies_in_place() {
        let h = headers(&[("cookie", "a=1; sid=\"xyz\""), ("cookie", "sid=other;b=2")]);
        assert_eq!(cookie(&h, "sid"), Some(&b"xyz"[..]));
        assert_eq!(cookie(&h, "b"), Some(&b"2"[..]));
        assert_eq!(cookie(&h, "s"), None);
        assert_eq!(
            cookie(&headers(&[("cookie", "novalue; =x")]), "novalue"),
            None
        );
    }

    #[test]
    fn same_key_same_endpoint() {
        let eps = endpoints(&[1; 10]);
        let hash = Hash::new(&HashOn::Header("x-user".parse().expect("valid")), &eps);
        let h = headers(&[("x-user", "alice")]);
        let first = hash.pick(&eps, &ctx(&h), &[]);
        assert!((0..50).all(|_| hash.pick(&eps, &ctx(&h), &[]) == first));
    }

    #[test]
    fn ipv4_mapped_is_ipv4() {
        let v4: IpAddr = "192.0.2.1".parse().expect("literal");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("literal");
        assert_eq!(hash_ip(v4), hash_ip(mapped));
    }

    #[test]
    fn drained_home_moves_to_one_stable_endpoint() {
        let eps = endpoints(&[1; 5]);
        let hash = Hash::new(&HashOn::Cookie("sid".into()), &eps);
        let h = headers(&[("cookie", "sid=42")]);
        let home = hash.pick(&eps, &ctx(&h), &[]).expect("routable");
        eps[home].drain();
        let detour = hash.pick(&eps, &ctx(&h), &[]).expect("four left");
        assert_ne!(detour, home);
        assert!((0..20).all(|_| hash.pick(&eps, &ctx(&h), &[]) == Some(detour)));
        let retry = hash.pick(&eps, &ctx(&h), &[detour]).expect("three left");
        assert!(retry != detour && retry != home);
    }

    #[test]
    fn missing_key_is_balanced_not_piled() {
        let eps = endpoints(&[1; 4]);
        let hash = Hash::new(&HashOn::Header("x-user".parse().expect("valid")), &eps);
        let h = headers(&[("x-user", "")]);
        let mut seen = [false; 4];
        (0..400).for_each(|_| seen[hash.pick(&eps, &ctx(&h), &[]).expect("routable")] = true);
        assert_eq!(seen, [true; 4]);
    }
}
