//! The harness itself: a test that fails while it has a swarm (networks, a stack and its
//! running tasks) leaves the engine as it found it — the same swarm state, no network,
//! service, container or image of its run, and `docker_gwbridge` only if it was there.

use std::sync::mpsc;

use crate::docker_common::{docker, docker_ok, require_engine, RunId, TestImage};
use crate::harness::guard::leave_abandoned;
use crate::harness::stack::wait_converged;
use crate::harness::{Backend, Stack, SwarmGuard, SwarmLock};

/// What a swarm test must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct EngineState {
    swarm: String,
    gwbridge: bool,
    /// Swarm-scoped networks (`ingress` among them while in a swarm).
    swarm_networks: Vec<String>,
}

impl EngineState {
    fn read() -> EngineState {
        let networks = docker_ok(&[
            "network",
            "ls",
            "--filter",
            "scope=swarm",
            "--format",
            "{{.Name}}",
        ]);
        let mut swarm_networks: Vec<String> = networks.lines().map(str::to_owned).collect();
        swarm_networks.sort();
        EngineState {
            swarm: docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]),
            gwbridge: docker(&["network", "inspect", "docker_gwbridge"]).is_ok(),
            swarm_networks,
        }
    }
}

#[test]
fn a_test_that_fails_with_a_swarm_leaves_the_engine_as_found() {
    if !require_engine() {
        return;
    }
    // Held across the failing test, so the state is compared with nobody else in between.
    let lock = SwarmLock::take();
    // A swarm a killed test left is not what this test should find: it would leave it.
    leave_abandoned();
    let before = EngineState::read();
    let (tx, rx) = mpsc::channel();
    let shared = lock.share();
    let failed = std::thread::spawn(move || {
        let swarm = SwarmGuard::acquire_with(shared);
        let _ = tx.send(swarm.run().clone());
        let net = swarm.overlay("net");
        let image = TestImage::build_plain(swarm.run());
        let stack = Stack::deploy(&swarm, "app", &image, &net, &[Backend::new("web", 2)]);
        wait_converged(&stack.service("web"), 2);
        panic!("failing on purpose with a stack running on {net}");
    })
    .join();
    assert!(failed.is_err(), "the test was meant to fail");
    let run: RunId = rx.recv().expect("the failed test's run id");

    assert_eq!(
        EngineState::read(),
        before,
        "the engine was not left as found"
    );
    assert_eq!(run.leftovers(), Vec::<String>::new());
    let stack_containers = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.stack.namespace={}", run.name("app")),
    ]);
    assert_eq!(
        stack_containers, "",
        "containers of the failed test's stack remain"
    );
    drop(lock);
}
