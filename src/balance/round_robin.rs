//! `round_robin`: smooth weighted round robin, precomputed and lock-free (data plane).
//!
//! At snapshot build time the whole period of nginx's smooth weighted round robin is computed
//! into a schedule of endpoint indices; `pick` advances one shared `AtomicUsize` cursor over
//! it. The cursor starts at a random offset so that frequent snapshot rebuilds do not keep
//! sending the first requests of every period to the same endpoints.
//!
//! Building: weights are divided by their gcd; a period longer than [`MAX_PERIOD`] (or one
//! whose computation would exceed [`MAX_WORK`] steps) is scaled down proportionally, keeping
//! every weight ≥ 1. Endpoints of equal weight are picked in index order (nginx's tie-break),
//! so the schedule is computed per *distinct weight*, in O(period × distinct weights).
//!
//! Invariants: no lock, no allocation per pick; the result is routable and not in `tried`;
//! `None` only when no endpoint is both (after [`PROBES`] schedule entries, a linear scan).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use super::{eligible, rng, scan_from};
use crate::endpoint::Endpoint;

/// Longest schedule kept (entries are `u32`: 256 KiB).
pub(crate) const MAX_PERIOD: u64 = 1 << 16;
/// Most schedule steps × distinct weights spent building one schedule.
const MAX_WORK: u64 = 1 << 24;
/// Schedule entries looked at before falling back to a linear scan.
const PROBES: usize = 8;

/// Selector state for `round_robin`.
pub(crate) struct RoundRobin {
    schedule: Box<[u32]>,
    cursor: Padded,
}

impl std::fmt::Debug for RoundRobin {
    /// The period only: the schedule can be 65,536 entries long.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoundRobin")
            .field("period", &self.schedule.len())
            .field("cursor", &self.cursor.0)
            .finish()
    }
}

/// The cursor is written by every pick on every worker: keep it off other data's cache line.
#[derive(Debug)]
#[repr(align(128))]
struct Padded(AtomicUsize);

impl RoundRobin {
    pub(crate) fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        let weights: Vec<u32> = endpoints.iter().map(|e| e.weight()).collect();
        let schedule = schedule(&weights, MAX_PERIOD).into_boxed_slice();
        let start = rng::below(schedule.len());
        Self {
            schedule,
            cursor: Padded(AtomicUsize::new(start)),
        }
    }

    #[inline]
    pub(crate) fn pick(&self, endpoints: &[Arc<Endpoint>], tried: &[usize]) -> Option<usize> {
        let len = self.schedule.len();
        if len == 0 {
            return None;
        }
        let mut pos = self.cursor.0.fetch_add(1, Relaxed) % len;
        let first = self.schedule[pos] as usize;
        for _ in 0..PROBES.min(len) {
            let i = self.schedule[pos] as usize;
            if eligible(endpoints, i, tried) {
                return Some(i);
            }
            pos = if pos + 1 == len { 0 } else { pos + 1 };
        }
        scan_from(endpoints, first, tried)
    }
}

/// One period of smooth weighted round robin over `weights` (index per slot), at most
/// `max_period` long unless there are more endpoints than that.
pub(crate) fn schedule(weights: &[u32], max_period: u64) -> Vec<u32> {
    let weights = reduce(weights, max_period);
    let mut groups = Group::collect(&weights);
    let total: u64 = weights.iter().sum();
    (1..=total)
        .map(|step| {
            let best = best_group(&groups, step, total);
            groups[best].take()
        })
        .collect()
}

/// Weights divided by their gcd, then scaled so the period fits `max_period` and the build
/// fits [`MAX_WORK`]; every weight stays ≥ 1.
fn reduce(weights: &[u32], max_period: u64) -> Vec<u64> {
    let raw: Vec<u64> = weights.iter().map(|&w| u64::from(w.max(1))).collect();
    let g = raw.iter().copied().fold(0, gcd).max(1);
    let mut out: Vec<u64> = raw.iter().map(|w| w / g).collect();
    let distinct = Group::collect(&out).len().max(1) as u64;
    let cap = max_period.min(MAX_WORK / distinct).max(1);
    let total: u64 = out.iter().sum();
    if total > cap {
        out.iter_mut().for_each(|w| *w = (*w * cap / total).max(1));
        let g = out.iter().copied().fold(0, gcd).max(1);
        out.iter_mut().for_each(|w| *w /= g);
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Endpoints sharing one weight: SWRR picks them in index order, one after another.
struct Group {
    weight: u64,
    members: Vec<u32>,
    picks: u64,
}

impl Group {
    /// Groups by weight, members in ascending index order.
    fn collect(weights: &[u64]) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (i, &weight) in weights.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            match groups.iter_mut().find(|g| g.weight == weight) {
                Some(g) => g.members.push(index),
                None => groups.push(Group {
                    weight,
                    members: vec![index],
                    picks: 0,
                }),
            }
        }
        groups
    }

    /// The member SWRR would pick next from this group: fewest picks, lowest index.
    fn leader(&self) -> u32 {
        self.members[(self.picks % self.members.len() as u64) as usize]
    }

    /// The leader's SWRR `current_weight` after `step` additions: step·w − total·picks.
    fn current(&self, step: u64, total: u64) -> i128 {
        let own_picks = self.picks / self.members.len() as u64;
        i128::from(step * self.weight) - i128::from(total * own_picks)
    }

    fn take(&mut self) -> u32 {
        let leader = self.leader();
        self.picks += 1;
        leader
    }
}

/// nginx's choice: the highest current weight, the lowest index on ties.
fn best_group(groups: &[Group], step: u64, total: u64) -> usize {
    let mut best = 0;
    for (g, group) in groups.iter().enumerate().skip(1) {
        let (cur, top) = (
            group.current(step, total),
            groups[best].current(step, total),
        );
        if cur > top || (cur == top && group.leader() < groups[best].leader()) {
            best = g;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::endpoints;
    use proptest::prelude::*;

    /// nginx's `ngx_http_upstream_get_peer`, literally, for one period.
    fn nginx(weights: &[u32]) -> Vec<u32> {
        let w: Vec<i64> = weights.iter().map(|&w| i64::from(w)).collect();
        let total: i64 = w.iter().sum();
        let mut current = vec![0i64; w.len()];
        (0..total)
            .map(|_| {
                let mut best = 0;
                for i in 0..w.len() {
                    current[i] += w[i];
                    if current[i] > current[best] {
                        best = i;
                    }
                }
                current[best] -= total;
                best as u32
            })
            .collect()
    }

    #[test]
    fn matches_nginx_example() {
        // nginx's commit message example: {a:5, b:1, c:1} → a a b a c a a.
        assert_eq!(schedule(&[5, 1, 1], MAX_PERIOD), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn reduces_by_gcd_and_caps() {
        assert_eq!(schedule(&[100, 200], MAX_PERIOD), vec![1, 0, 1]);
        let long = schedule(&[1000; 300], MAX_PERIOD);
        assert_eq!(long.len(), 300);
        let capped = schedule(&[60_000, 60_000, 1], MAX_PERIOD);
        assert!(capped.len() as u64 <= MAX_PERIOD + 3, "{}", capped.len());
        assert!(capped.contains(&2), "weight stays ≥ 1");
    }

    #[test]
    fn skips_draining_and_tried() {
        let eps = endpoints(&[1, 1, 1]);
        eps[1].drain();
        let rr = RoundRobin::new(&eps);
        for _ in 0..30 {
            let p = rr.pick(&eps, &[2]);
            assert_eq!(p, Some(0));
        }
        assert_eq!(rr.pick(&eps, &[0, 2]), None);
    }

    #[test]
    fn falls_back_to_a_scan_past_the_probes() {
        let eps = endpoints(&[100, 1]);
        eps[0].drain();
        let rr = RoundRobin::new(&eps);
        assert!((0..300).all(|_| rr.pick(&eps, &[]) == Some(1)));
    }

    proptest! {
        #[test]
        fn same_sequence_as_nginx(weights in prop::collection::vec(1u32..20, 1..12)) {
            let g = weights.iter().copied().fold(0, |a, b| gcd(a.into(), b.into()) as u32);
            let reduced: Vec<u32> = weights.iter().map(|w| w / g).collect();
            prop_assert_eq!(schedule(&weights, MAX_PERIOD), nginx(&reduced));
        }
    }
}
