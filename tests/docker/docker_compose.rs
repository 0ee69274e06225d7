//! `examples/compose.yaml` brought up with the Compose tool as a user would (`docker-compose
//! up -d`, images, host name and published ports from the environment): berth in its
//! container routes a request to the labelled service, and its admin API answers on the
//! host's loopback.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::docker_common::*;

/// The example files, from the crate's root.
fn example(file: &str) -> String {
    format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// A TCP port free on this host right now (bound on 127.0.0.1 then released).
fn free_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    addr.port().to_string()
}

/// A Compose project of `examples/compose.yaml`, brought down (containers, network) on drop.
struct Project {
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    /// `docker-compose -f examples/compose.yaml -p <run id> up -d` with `env`.
    fn up(run: &RunId, env: &[(&str, &str)]) -> Project {
        let project = Project {
            name: run.as_str().to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let out = project.compose(&["up", "-d"]);
        assert!(out.is_ok(), "{}", out.err().unwrap_or_default());
        project
    }

    /// `docker-compose -f examples/compose.yaml -p <name> ARGS`; stdout, or why it failed.
    fn compose(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("docker-compose")
            .args(["-f", &example("compose.yaml"), "-p", &self.name])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!("run docker-compose ({e}); install it (.ci/run does) to run this test")
            })?;
        match output.status.success() {
            true => Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned()),
            false => Err(format!(
                "docker-compose {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }

    /// The logs of every container of the project, for failure messages.
    fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "100"])
            .unwrap_or_else(|e| e)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_compose_yaml_routes_to_its_labelled_service() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let config = std::fs::read_to_string(example("berth.yaml")).expect("the example config");
    berth::config::parse(&config, "examples/berth.yaml").unwrap_or_else(|e| panic!("{e}"));
    let berth_image = TestImage::build_berth(&run, &config);
    let app_image = TestImage::build_app(&run);
    let (http_port, admin_port) = (free_port(), free_port());
    // A host of this run's own: no other berth-labelled container claims it.
    let host = format!("{run}.localhost");
    let project = Project::up(
        &run,
        &[
            ("BERTH_IMAGE", &berth_image.tag),
            ("APP_IMAGE", &app_image.tag),
            ("APP_HOST", &host),
            ("HTTP_PORT", &http_port),
            ("ADMIN_PORT", &admin_port),
        ],
    );
    let app = project
        .compose(&["ps", "-q", "whoami"])
        .expect("the app's id");
    let hostname = docker_ok(&["inspect", "--format", "{{.Config.Hostname}}", &app]);

    let http = client();
    let url = format!("http://127.0.0.1:{http_port}/");
    let what = format!("GET / for {host} through berth to be answered by {hostname}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // (status, x-replica), or (0, the error).
        let seen = match http.get(&url).header("host", &host).send().await {
            Ok(a) => {
                let replica = a.headers().get("x-replica").and_then(|v| v.to_str().ok());
                (a.status().as_u16(), replica.unwrap_or_default().to_owned())
            }
            Err(e) => (0, e.to_string()),
        };
        if seen == (200, hostname.clone()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {seen:?}\n{}",
            project.logs()
        );
        // The poll interval of this wait (its deadline and message are above).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let admin = format!("http://127.0.0.1:{admin_port}/api/services");
    let doc: serde_json::Value = http
        .get(&admin)
        .send()
        .await
        .expect("the admin API on the host's loopback")
        .json()
        .await
        .expect("/api/services is JSON");
    let service = doc["services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "whoami")
        .unwrap_or_else(|| panic!("no service whoami: {doc}"));
    assert_eq!(service["endpoints"][0]["state"], "routable", "{service}");
}
