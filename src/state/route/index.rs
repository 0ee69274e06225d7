//! Small building blocks of the route table's lookups: a fast non-cryptographic hasher and a
//! set of key lengths that lets a lookup skip probing lengths no key has.
//!
//! Keys come from operators' labels, not from clients, so hash flooding is not a concern;
//! request strings are only ever looked up, never inserted.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` with [`FxHasher`].
pub(super) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The Firefox / rustc hash: one multiply-rotate per 8 bytes.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The set of lengths of the keys in one map. A lookup probes a candidate only if some key
/// has its length, so a table holding only `/` hashes once per request whatever the path.
#[derive(Debug, Default, Clone)]
pub(super) struct LenSet {
    bits: Vec<u64>,
}

impl LenSet {
    pub(super) fn insert(&mut self, len: usize) {
        let word = len / 64;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (len % 64);
    }

    #[inline]
    pub(super) fn contains(&self, len: usize) -> bool {
        self.bits
            .get(len / 64)
            .is_some_and(|w| w & (1 << (len % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn len_set_contains_only_inserted() {
        let mut set = LenSet::default();
        for len in [0, 1, 63, 64, 200] {
            set.insert(len);
        }
        for len in 0..300 {
            assert_eq!(
                set.contains(len),
                [0, 1, 63, 64, 200].contains(&len),
                "{len}"
            );
        }
    }

    #[test]
    fn fx_hash_distinguishes_trailing_bytes() {
        let build = BuildHasherDefault::<FxHasher>::default();
        assert_ne!(
            build.hash_one(b"/api".as_slice()),
            build.hash_one(b"/api/".as_slice())
        );
        assert_ne!(build.hash_one("abcdefgh1"), build.hash_one("abcdefgh2"));
    }
}
