//! The Maglev lookup table (built with the snapshot, read on the data plane).
//!
//! Google's Maglev (NSDI '16, §3.4): every endpoint derives a permutation of the table's slots
//! from its identity (offset and skip from two hashes of its provider id and address), and
//! endpoints take turns claiming the next free slot of their permutation until the table is
//! full. Turns follow the endpoints' weights (the smooth weighted round robin schedule), so an
//! endpoint's share of slots is proportional to its weight; with equal weights shares differ by
//! at most one slot. Because permutations depend only on identity, adding or removing one
//! endpoint moves few slots besides the ones it gains or loses.
//!
//! The table size is a prime ≥ [`SLOTS_PER_ENDPOINT`] × endpoints from [`SIZES`], capped at the
//! largest (4 MiB of `u32`).
//!
//! Invariants: every slot holds an index `< endpoints.len()` (the table is empty only when there
//! are no endpoints); the same endpoints and weights always give the same table.

use std::net::SocketAddr;
use std::sync::Arc;

use super::digest::digest;
use super::rng;
use super::round_robin;
use crate::endpoint::Endpoint;

/// Table sizes (primes): the first that is ≥ `SLOTS_PER_ENDPOINT × endpoints`, else the last.
const SIZES: [u64; 5] = [65_537, 131_071, 262_139, 524_287, 1_048_573];
/// Slots per endpoint below which the share of each endpoint gets coarse (Maglev suggests 100).
const SLOTS_PER_ENDPOINT: u64 = 100;
const SEED_OFFSET: u64 = 0x6f66_6673_6574;
const SEED_SKIP: u64 = 0x736b_6970;
const EMPTY: u32 = u32::MAX;

/// A filled Maglev table: slot → endpoint index.
pub(crate) struct Maglev {
    table: Box<[u32]>,
}

impl std::fmt::Debug for Maglev {
    /// The size only: the table has ~10^5 slots.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maglev")
            .field("slots", &self.table.len())
            .finish()
    }
}

impl Maglev {
    pub(crate) fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        if endpoints.is_empty() {
            return Self {
                table: Box::default(),
            };
        }
        let size = table_size(endpoints.len());
        let perms: Vec<Permutation> = endpoints
            .iter()
            .map(|e| Permutation::new(e, size))
            .collect();
        let weights: Vec<u32> = endpoints.iter().map(|e| e.weight()).collect();
        let turns = round_robin::schedule(&weights, round_robin::MAX_PERIOD);
        Self {
            table: populate(perms, &turns, size),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot a key hash lands on (`hash` spread over the table without division).
    #[inline]
    pub(crate) fn slot(&self, hash: u64) -> usize {
        rng::reduce(hash, self.table.len())
    }

    /// Endpoint index in `slot`; `slot` must be `< len()`.
    #[inline]
    pub(crate) fn endpoint(&self, slot: usize) -> usize {
        self.table[slot] as usize
    }
}

fn table_size(endpoints: usize) -> u64 {
    let want = SLOTS_PER_ENDPOINT.saturating_mul(endpoints as u64);
    SIZES
        .iter()
        .copied()
        .find(|&p| p >= want)
        .unwrap_or(SIZES[SIZES.len() - 1])
}

/// One endpoint's walk over the table: slot `(offset + k·skip) mod size` for k = 0, 1, …
struct Permutation {
    offset: u64,
    skip: u64,
    next: u64,
}

impl Permutation {
    fn new(endpoint: &Endpoint, size: u64) -> Self {
        let id = identity(endpoint);
        Self {
            offset: id(SEED_OFFSET) % size,
            skip: id(SEED_SKIP) % (size - 1) + 1,
            next: 0,
        }
    }

    /// Next slot in this endpoint's preference order. `size` is prime and `skip` in
    /// `1..size`, so the walk visits every slot once per `size` steps.
    fn advance(&mut self, size: u64) -> u64 {
        let slot = (self.offset + self.next * self.skip) % size;
        self.next += 1;
        slot
    }
}

/// A seeded hash of an endpoint's identity: provider id, then address.
fn identity(endpoint: &Endpoint) -> impl Fn(u64) -> u64 + '_ {
    move |seed| {
        let key = endpoint.key();
        digest(digest(seed, key.source.as_bytes()), &addr_bytes(key.addr))
    }
}

fn addr_bytes(addr: SocketAddr) -> [u8; 18] {
    let mut out = [0u8; 18];
    let ip = match addr.ip().to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    };
    out[..16].copy_from_slice(&ip);
    out[16..].copy_from_slice(&addr.port().to_be_bytes());
    out
}

/// Endpoints take turns in `turns` order, each claiming its next free preferred slot.
fn populate(mut perms: Vec<Permutation>, turns: &[u32], size: u64) -> Box<[u32]> {
    let mut table = vec![EMPTY; size as usize];
    let mut filled = 0u64;
    for &turn in turns.iter().cycle() {
        let perm = &mut perms[turn as usize];
        loop {
            let slot = perm.advance(size) as usize;
            if table[slot] == EMPTY {
                table[slot] = turn;
                break;
            }
        }
        filled += 1;
        if filled == size {
            break;
        }
    }
    table.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::endpoints;

    fn shares(m: &Maglev, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        m.table.iter().for_each(|&i| counts[i as usize] += 1);
        counts
    }

    #[test]
    fn sizes_are_prime_and_roomy() {
        assert_eq!(table_size(3), 65_537);
        assert_eq!(table_size(1_000), 131_071);
        assert_eq!(table_size(100_000), 1_048_573);
    }

    #[test]
    fn equal_weights_share_within_one_slot() {
        let eps = endpoints(&[1; 7]);
        let counts = shares(&Maglev::new(&eps), 7);
        let (lo, hi) = (counts.iter().min(), counts.iter().max());
        assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{counts:?}");
    }

    #[test]
    fn weights_set_the_share() {
        let eps = endpoints(&[1, 3, 6]);
        let counts = shares(&Maglev::new(&eps), 3);
        for (c, w) in counts.iter().zip([1.0, 3.0, 6.0]) {
            let share = *c as f64 / 65_537.0;
            assert!((share - w / 10.0).abs() < 0.002, "{counts:?}");
        }
    }

    #[test]
    fn same_endpoints_same_table() {
        let a = Maglev::new(&endpoints(&[1, 2, 3, 4]));
        let b = Maglev::new(&endpoints(&[1, 2, 3, 4]));
        assert_eq!(a.table, b.table);
        assert!(Maglev::new(&[]).table.is_empty());
    }
}
