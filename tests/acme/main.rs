//! Automatic HTTPS against a real ACME server: Pebble (Let's Encrypt's test CA, Debian package
//! `pebble`), with berth run as a process as a user runs it.
//!
//! Each test starts its own Pebble (free loopback ports, its DNS answering every name with
//! 127.0.0.1) validating on the ports of the berth under test, and trusts only the root
//! Pebble's management API hands out. Orders are counted at the CA, from Pebble's log.
//! Run alone with `cargo test --test acme`; without Pebble installed the tests fail and say
//! so (`scripts/test.sh` installs it).

mod backend;
mod check;
mod failure;
mod harness;
mod issue;
#[path = "../support/pebble.rs"]
mod pebble;
mod renew;
mod replicas;
#[allow(dead_code)]
#[path = "../support/wait.rs"]
mod wait;

/// Fails a test when Pebble is missing, naming the fix.
pub fn require_pebble() {
    assert!(
        pebble::installed(),
        "Pebble is not installed: `apt-get install pebble` (scripts/test.sh does it)"
    );
}
