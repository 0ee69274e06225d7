//! Weighted random choice of an endpoint index in O(1) (data plane read, built off it).
//!
//! A [`Sampler`] is built with the snapshot from the endpoints' weights at that moment. With
//! equal weights it is a plain uniform draw; otherwise it is Vose's alias table (one bucket
//! per endpoint, each holding an acceptance threshold and an alias), built with integer
//! arithmetic so the same weights always give the same table.
//!
//! Invariants: `sample` returns an index `< len()` (0 when empty), never allocates, and draws
//! index `i` with probability `weight_i / Σ weight` (exact up to 2⁻³² per bucket).

use super::rng::{self, Wyrand};

/// One alias-table bucket: accept the drawn index when 32 random bits are `< threshold`,
/// otherwise take `alias`. A full bucket has `alias` equal to its own index.
#[derive(Clone, Copy)]
struct Bucket {
    threshold: u32,
    alias: u32,
}

/// Draws endpoint indices in proportion to their weights.
pub(crate) struct Sampler {
    len: usize,
    /// Empty when every weight is equal (uniform draw).
    buckets: Box<[Bucket]>,
}

impl std::fmt::Debug for Sampler {
    /// Size and kind only: one bucket per endpoint is noise in a snapshot dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("len", &self.len)
            .field("weighted", &!self.buckets.is_empty())
            .finish()
    }
}

impl Sampler {
    /// A sampler over `weights` (one per endpoint; zero weights are treated as 1).
    pub(crate) fn new(weights: &[u32]) -> Self {
        let len = weights.len();
        let uniform = weights.windows(2).all(|w| w[0].max(1) == w[1].max(1));
        let buckets = if uniform {
            Box::default()
        } else {
            alias_table(weights)
        };
        Self { len, buckets }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A weighted random index in `0..len()`, from one draw of `rng`: its high bits choose the
    /// bucket, its low 32 bits decide between the bucket and its alias.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut Wyrand) -> usize {
        let bits = rng.next_u64();
        let i = rng::reduce(bits, self.len);
        match self.buckets.get(i) {
            None => i,
            Some(b) if (bits as u32) < b.threshold => i,
            Some(b) => b.alias as usize,
        }
    }
}

/// Vose's alias method in integers: bucket `i` starts with mass `w_i * n` against a bucket
/// capacity of `Σ w`; small buckets are topped up from large ones.
fn alias_table(weights: &[u32]) -> Box<[Bucket]> {
    let n = weights.len() as u64;
    let total: u64 = weights.iter().map(|&w| u64::from(w.max(1))).sum();
    let mut mass: Vec<u64> = weights.iter().map(|&w| u64::from(w.max(1)) * n).collect();
    let mut buckets: Vec<Bucket> = (0..weights.len())
        .map(|i| Bucket {
            threshold: u32::MAX,
            alias: index_u32(i),
        })
        .collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) =
        (0..weights.len()).partition(|&i| mass[i] < total);
    while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
        // mass[s] < total, so the quotient is < 2^32.
        let threshold = ((u128::from(mass[s]) << 32) / u128::from(total)) as u32;
        buckets[s] = Bucket {
            threshold,
            alias: index_u32(l),
        };
        mass[l] -= total - mass[s];
        if mass[l] < total {
            large.pop();
            small.push(l);
        }
    }
    buckets.into_boxed_slice()
}

/// Endpoint counts are far below 2^32 (a service is built from a provider's list).
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(weights: &[u32], draws: usize) -> Vec<f64> {
        let s = Sampler::new(weights);
        let mut counts = vec![0usize; weights.len()];
        rng::with(|r| (0..draws).for_each(|_| counts[s.sample(r)] += 1));
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn uniform_weights_need_no_table() {
        assert!(Sampler::new(&[3, 3, 3]).buckets.is_empty());
        assert!(!Sampler::new(&[1, 3]).buckets.is_empty());
    }

    #[test]
    fn draws_follow_weights() {
        let weights = [1, 2, 3, 10, 0];
        let total = 17.0;
        for (share, w) in shares(&weights, 170_000).iter().zip(weights) {
            let want = f64::from(w.max(1)) / total;
            assert!((share - want).abs() < 0.01, "{share} vs {want}");
        }
    }

    #[test]
    fn empty_and_single() {
        rng::with(|r| {
            assert_eq!(Sampler::new(&[]).sample(r), 0);
            assert_eq!(Sampler::new(&[5]).sample(r), 0);
        });
    }
}
