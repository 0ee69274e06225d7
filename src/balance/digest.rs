//! A fast, fixed, non-allocating 64-bit hash for hashing keys and endpoint identities (data
//! plane and snapshot build).
//!
//! wyhash-style: sixteen bytes at a time folded through a 64×64→128-bit multiply, then a final
//! avalanche. It is deterministic across processes, versions of Rust and machines (fixed
//! constants, little-endian reads), so every berth instance maps a key to the same endpoint.
//!
//! Invariants: no allocation; the same `(seed, bytes)` always gives the same value. It is not
//! a keyed hash: a client who knows it can aim keys at one endpoint, as with any consistent
//! hash that other instances must reproduce.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// 128-bit product of `a` and `b`, folded to 64 bits.
#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let t = u128::from(a) * u128::from(b);
    (t as u64) ^ ((t >> 64) as u64)
}

/// Little-endian `u64` from up to eight bytes, zero-padded.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = bytes.len().min(8);
    w[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(w)
}

/// Hash of `bytes` under `seed`: one multiply per 16 bytes, plus two.
#[inline]
pub(crate) fn digest(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ P0;
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        h = mix(word(&block[..8]) ^ P1, word(&block[8..]) ^ h);
    }
    let rest = blocks.remainder();
    let (lo, hi) = rest.split_at(rest.len().min(8));
    h = mix(word(lo) ^ P2 ^ bytes.len() as u64, word(hi) ^ h);
    mix(h ^ P3, P1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_fixed_across_runs() {
        // Pinned values: changing them reshuffles every hash-balanced service in production.
        assert_eq!(digest(0, b""), digest(0, b""));
        assert_eq!(digest(0, b"user-42"), 0x84e6_c7a1_c810_c99d);
    }

    #[test]
    fn length_and_seed_matter() {
        assert_ne!(digest(0, b"a"), digest(0, b"a\0"));
        assert_ne!(digest(0, b"abcdefgh"), digest(0, b"abcdefgh\0"));
        assert_ne!(digest(0, b"a"), digest(1, b"a"));
    }

    #[test]
    fn low_bits_spread() {
        let mut buckets = [0u32; 16];
        for i in 0u32..16_000 {
            buckets[(digest(7, &i.to_le_bytes()) & 15) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (800..1200).contains(&b)),
            "{buckets:?}"
        );
    }
}
