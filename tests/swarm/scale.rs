//! Scaling a service: after each step, once the swarm has converged, berth routes exactly
//! the running tasks (each at its address on the shared overlay) and traffic reaches all of
//! them and nothing else.

use std::collections::BTreeSet;

use crate::docker_common::{blocking, TestImage, REPLICA_PORT};
use crate::harness::stack::{scale, wait_converged};
use crate::harness::{Backend, BerthService, Stack, SwarmGuard};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scaling_1_5_2_routes_exactly_the_running_tasks() {
    let Some(swarm) = SwarmGuard::acquire() else {
        return;
    };
    let net = swarm.overlay("net");
    let berth = BerthService::start(&swarm, &net).await;
    let image = TestImage::build_plain(swarm.run());
    // Round robin without slow start: 200 requests reach every task, whatever their number.
    let web = Backend::new("web", 1)
        .label(&berth.label("enable"), "true")
        .label(&berth.label("port"), &REPLICA_PORT.to_string())
        .label(&berth.label("balance"), "round_robin")
        .label(&berth.label("slow_start"), "0s");
    let stack = Stack::deploy(&swarm, "app", &image, &net, &[web]);
    let service = stack.service("web");

    for replicas in [1, 5, 2] {
        let tasks = {
            let service = service.clone();
            blocking(move || match replicas {
                1 => wait_converged(&service, 1),
                n => scale(&service, n),
            })
            .await
        };
        berth
            .wait_tasks_routed(&service, &tasks, &net, REPLICA_PORT)
            .await;
        let answered: BTreeSet<String> = berth.answers("/", 200).await.into_iter().collect();
        let running: BTreeSet<String> = tasks.iter().map(|t| t.name()).collect();
        assert_eq!(
            answered,
            running,
            "at {replicas} replica(s), the answers came from other than the running tasks\n\
             berth's logs:\n{}",
            berth.logs()
        );
    }
}
