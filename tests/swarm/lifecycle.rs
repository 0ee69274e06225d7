//! Tasks going away under load: a forced rolling update (each old task drained at its stop
//! signal while it keeps serving for `STOP_DELAY_MS`) loses no request, even without
//! retries; and a task whose container is killed costs at most the requests in flight to it,
//! none sent after berth excluded it, while its replacement takes traffic.

use std::time::Instant;

use crate::docker_common::{blocking, Load, TestImage, REPLICA_PORT};
use crate::harness::stack::{kill, update_force, wait_replaced};
use crate::harness::{Backend, BerthService, Stack, SwarmGuard, Task};

/// Concurrent keep-alive loops of the load.
const CONCURRENCY: usize = 4;

/// Three replicas of the test image, labelled for `berth`.
fn web(berth: &BerthService) -> Backend {
    Backend::new("web", 3)
        .label(&berth.label("enable"), "true")
        .label(&berth.label("port"), &REPLICA_PORT.to_string())
}

/// Waits for `service`'s `replicas` tasks (none of `old`) and for berth to route exactly
/// them.
async fn converge(
    berth: &BerthService,
    service: &str,
    net: &str,
    replicas: usize,
    old: Vec<Task>,
) -> Vec<Task> {
    let tasks = {
        let service = service.to_owned();
        blocking(move || wait_replaced(&service, replicas, &old)).await
    };
    berth
        .wait_tasks_routed(service, &tasks, net, REPLICA_PORT)
        .await;
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forced_rolling_update_loses_no_request() {
    let Some(swarm) = SwarmGuard::acquire() else {
        return;
    };
    let net = swarm.overlay("net");
    let berth = BerthService::start(&swarm, &net).await;
    let image = TestImage::build_plain(swarm.run());
    // Each old task keeps serving 1.5 s after its SIGTERM, as with a pre-stop sleep. Without
    // retries: a request berth sent to a task that has stopped would fail instead of being
    // retried on another, so only draining at the stop signal keeps the failures away.
    let backend = web(&berth)
        .env("STOP_DELAY_MS", "1500")
        .label(&berth.label("retries"), "0");
    let stack = Stack::deploy(&swarm, "app", &image, &net, &[backend]);
    let service = stack.service("web");
    let before = converge(&berth, &service, &net, 3, Vec::new()).await;

    let load = Load::start(&berth.url("/"), CONCURRENCY);
    load.wait_answers(100).await;
    {
        let service = service.clone();
        blocking(move || update_force(&service)).await;
    }
    let after = converge(&berth, &service, &net, 3, before.clone()).await;
    load.wait_answers(200).await;
    let report = load.stop().await;

    let failures = report.failures();
    eprintln!(
        "rolling update: {} requests, {} failed, in {:.1?}",
        report.records.len(),
        failures.len(),
        report.elapsed
    );
    assert!(
        failures.is_empty(),
        "the rolling update failed {}\nberth's logs:\n{}",
        report.describe(failures.iter().copied()),
        berth.logs()
    );
    for task in &after {
        assert!(
            report.answered_by(&task.name()).next().is_some(),
            "new task {} never answered; {} requests in all",
            task.name(),
            report.records.len()
        );
    }
    let old: Vec<String> = before.iter().map(Task::name).collect();
    let last = &report.records[report.records.len() - 100..];
    assert!(
        last.iter().all(|r| !old.contains(&r.replica.to_string())),
        "old tasks still answered at the end: {}",
        report.describe(last.iter().filter(|r| old.contains(&r.replica.to_string())))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_task_costs_at_most_its_in_flight_requests() {
    let Some(swarm) = SwarmGuard::acquire() else {
        return;
    };
    let net = swarm.overlay("net");
    let berth = BerthService::start(&swarm, &net).await;
    let image = TestImage::build_plain(swarm.run());
    // With berth's default retries. SIGKILL gives no warning: the engine reports the `kill`
    // event only once the signal is sent, and connections berth opens to the dead task in
    // those few milliseconds are refused; retries on the other tasks absorb those. What may
    // fail is what was in flight to it when it died.
    let stack = Stack::deploy(&swarm, "app", &image, &net, &[web(&berth)]);
    let service = stack.service("web");
    let before = converge(&berth, &service, &net, 3, Vec::new()).await;

    let load = Load::start(&berth.url("/"), CONCURRENCY);
    load.wait_answers(100).await;
    let victim = before[0].clone();
    {
        let container = victim.container.clone();
        blocking(move || kill(&container)).await;
    }
    let killed_at = Instant::now();
    let excluded_at = berth
        .wait_for(
            &format!("killed task {} to be excluded", victim.id),
            || async {
                let endpoints = berth.endpoints(&service).await;
                match endpoints.iter().find(|e| e.source == victim.id) {
                    Some(e) if e.routable() => Err(format!("{e:?}")),
                    _ => Ok(Instant::now()),
                }
            },
        )
        .await;
    let after = converge(&berth, &service, &net, 3, vec![victim.clone()]).await;
    load.wait_answers(200).await;
    let report = load.stop().await;

    let failures = report.failures();
    eprintln!(
        "killed task: {} requests, {} failed, in {:.1?}; killed by +{:.1?}, seen excluded at \
         +{:.1?}; failures: {}",
        report.records.len(),
        failures.len(),
        report.elapsed,
        killed_at - report.started,
        excluded_at - report.started,
        report.describe(failures.iter().copied())
    );
    assert!(
        failures.len() <= CONCURRENCY,
        "more failures than requests in flight: {}\nberth's logs:\n{}",
        report.describe(failures.iter().copied()),
        berth.logs()
    );
    let late: Vec<_> = failures
        .iter()
        .copied()
        .filter(|r| r.sent >= excluded_at)
        .collect();
    assert!(
        late.is_empty(),
        "requests sent after the task was excluded failed: {}",
        report.describe(late)
    );
    let replacement = after
        .iter()
        .find(|t| before.iter().all(|b| b.id != t.id))
        .expect("a new task replaced the killed one");
    assert!(
        report.answered_by(&replacement.name()).next().is_some(),
        "the replacement {} never answered",
        replacement.name()
    );
    for kept in &before[1..] {
        assert!(
            after.iter().any(|t| t.id == kept.id),
            "task {} was replaced too: {after:#?}",
            kept.name()
        );
    }
}
