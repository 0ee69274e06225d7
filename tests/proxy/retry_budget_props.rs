//! Property tests of the retry budget against a model that logs every request and retry:
//! a granted retry never takes the retries of the last window over the share its requests
//! allow, and a refused one is always justified by the retries already made.

use std::time::Duration;

use berth::state::retry_budget::{RetryBudget, BUCKETS};

use berth::model::BudgetSettings;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Time passes (milliseconds).
    Wait(u64),
    Request,
    Retry,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u64..3_000).prop_map(Op::Wait),
        6 => Just(Op::Request),
        3 => Just(Op::Retry),
    ]
}

fn settings() -> impl Strategy<Value = BudgetSettings> {
    (0u8..=100, 0u32..20, 1u64..=10).prop_map(|(percent, min_retries, secs)| BudgetSettings {
        percent,
        min_retries,
        window: Duration::from_secs(secs),
    })
}

/// Events in the half-open interval `(from, to]`.
fn count(log: &[u64], from: u64, to: u64) -> u64 {
    log.iter().filter(|t| **t > from && **t <= to).count() as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn retries_stay_within_the_budget(s in settings(), ops in prop::collection::vec(op(), 1..600)) {
        let budget = RetryBudget::default();
        let window = s.window.as_nanos() as u64;
        let bucket = window / BUCKETS;
        let (mut now, mut requests, mut retries) = (1u64, Vec::new(), Vec::new());
        for op in ops {
            match op {
                Op::Wait(ms) => now += ms * 1_000_000,
                Op::Request => {
                    budget.count_request(now, &s);
                    requests.push(now);
                }
                Op::Retry if budget.try_retry(now, &s) => {
                    retries.push(now);
                    // Granted: the retries of (now - window + bucket, now] fit the share of
                    // the requests of (now - window, now].
                    let made = count(&retries, now.saturating_sub(window - bucket), now);
                    let asked = count(&requests, now.saturating_sub(window), now);
                    prop_assert!(made <= s.allowed(asked), "{made} retries for {asked} requests");
                }
                Op::Retry => {
                    // Refused: the retries of (now - window, now] already use the share of
                    // the requests of (now - window + bucket, now].
                    let made = count(&retries, now.saturating_sub(window), now);
                    let asked = count(&requests, now.saturating_sub(window - bucket), now);
                    prop_assert!(made >= s.allowed(asked), "refused at {made} retries for {asked} requests");
                }
            }
        }
    }
}
