//! `examples/stack.yaml` deployed as a user would (`docker stack deploy`, images and the
//! published port from the environment): berth, a Swarm service on the managers, routes to
//! both labelled services of the stack, `/api` with its prefix stripped.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::docker_common::{blocking, client, TestImage};
use crate::harness::berth::{wait_logged, FOLLOW};
use crate::harness::stack::wait_converged;
use crate::harness::{free_port, Stack, SwarmGuard};

/// The example files, from the crate's root.
fn example(file: &str) -> String {
    format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// Hostnames (short container ids: what the app answers in `x-replica`) of the running
/// tasks of `service`, once it runs `replicas`.
async fn hostnames(service: String, replicas: usize) -> BTreeSet<String> {
    let tasks = blocking(move || wait_converged(&service, replicas)).await;
    tasks
        .iter()
        .map(|t| t.container.chars().take(12).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn examples_stack_yaml_routes_to_both_services() {
    let Some(swarm) = SwarmGuard::acquire() else {
        return;
    };
    let run = swarm.run();
    let config = std::fs::read_to_string(example("berth-swarm.yaml")).expect("the example config");
    berth::config::parse(&config, "examples/berth-swarm.yaml").unwrap_or_else(|e| panic!("{e}"));
    let berth_image = TestImage::build_berth(run, &config);
    let app_image = TestImage::build_app(run);
    let port = free_port().to_string();
    let env = [
        ("BERTH_IMAGE", berth_image.tag.as_str()),
        ("APP_IMAGE", app_image.tag.as_str()),
        ("HTTP_PORT", port.as_str()),
    ];
    let stack = Stack::deploy_file(&swarm, "demo", &example("stack.yaml"), &env);
    let berth = stack.service("berth");
    let web = hostnames(stack.service("web"), 2).await;
    let api = hostnames(stack.service("api"), 2).await;

    let http = client();
    for (path, tasks, seen_path) in [("/", &web, "/"), ("/api/x", &api, "/x")] {
        let url = format!("http://127.0.0.1:{port}{path}");
        let what = format!("GET {path} to be answered by one of {tasks:?}");
        wait_logged(&berth, FOLLOW, &what, || async {
            answer(&http, &url, tasks, seen_path).await
        })
        .await;
        for _ in 0..20 {
            let answered = answer(&http, &url, tasks, seen_path).await;
            answered.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        }
    }
}

/// `Ok` when GET `url` is answered 200 by one of `tasks`, which saw the path `seen_path`.
async fn answer(
    http: &reqwest::Client,
    url: &str,
    tasks: &BTreeSet<String>,
    seen_path: &str,
) -> Result<(), String> {
    let answer = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, replica, path) = (answer.status(), header("x-replica"), header("x-path"));
    match status == 200 && tasks.contains(&replica) && path == seen_path {
        true => Ok(()),
        false => Err(format!("{status}, x-replica {replica:?}, x-path {path:?}")),
    }
}
