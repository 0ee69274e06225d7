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

/// The distinct lengths of the keys in one map, longest first. A lookup probes only candidates
/// of these lengths, so a table holding only `/` hashes at most once per request, whatever the
/// path, and a table with no keys costs nothing.
#[derive(Debug, Default, Clone)]
pub(super) struct Lengths {
    desc: Vec<usize>,
}

impl Lengths {
    pub(super) fn insert(&mut self, len: usize) {
        if let Err(at) = self.desc.binary_search_by(|probe| len.cmp(probe)) {
            self.desc.insert(at, len);
        }
    }

    /// The lengths `<= max`, longest first.
    #[inline]
    pub(super) fn up_to(&self, max: usize) -> impl Iterator<Item = usize> + '_ {
        let start = self.desc.partition_point(|&len| len > max);
        self.desc[start..].iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn lengths_are_distinct_and_longest_first() {
        let mut lengths = Lengths::default();
        for len in [5, 1, 64, 5, 200, 1] {
            lengths.insert(len);
        }
        let up_to = |max| lengths.up_to(max).collect::<Vec<_>>();
        assert_eq!(up_to(usize::MAX), [200, 64, 5, 1]);
        assert_eq!(up_to(64), [64, 5, 1]);
        assert_eq!(up_to(63), [5, 1]);
        assert_eq!(up_to(0), [] as [usize; 0]);
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
