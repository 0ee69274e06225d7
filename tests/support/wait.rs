//! Waiting for the condition a test needs, with a deadline, instead of sleeping for a guessed
//! time: fast when the machine is, and a failure that names what never happened when it is
//! not. Shared by the test binaries: `tests/proxy/main.rs` and
//! `tests/docker/docker_common/mod.rs` include it with `#[path]`.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(5);

/// Checks `check` every few ms until it returns true; returns how long that took. Panics
/// naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Checks `check` every few ms until it returns `Ok`, and returns that value. Panics after
/// `timeout`, naming `what` and what `check` last said (its `Err`: the state it saw).
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        let seen = match check().await {
            Ok(done) => return done,
            Err(seen) => seen,
        };
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_until`] for a blocking `check`, on a thread that may block.
pub fn wait_until_blocking(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}
