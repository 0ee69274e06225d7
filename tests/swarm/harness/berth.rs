//! [`BerthService`]: berth running as a Swarm service, the way a user deploys it, and what it
//! says on its admin API.
//!
//! The image is the static berth `FROM scratch` (`TestImage::build_berth`) with a config that
//! turns the Swarm provider on with the run's label prefix. The service runs on a manager,
//! with the engine's socket mounted read-only, on the run's overlay network, its web (8080)
//! and admin (9900) ports published in host mode on free ports of this host, so a test
//! reaches it at `127.0.0.1:<published>`. It is not restarted: a crash shows as a failure, with
//! `docker service logs` in the message.

use std::collections::BTreeSet;
use std::future::Future;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, SwarmGuard, Task};
use crate::docker_common::{docker_ok, Berth, EndpointView, TestImage};

/// Most berth may take to show what the engine says, before a test gives up (Swarm reports
/// a task running before berth hears of it through a service or container event, or at the
/// latest at its 10 s refresh).
pub const FOLLOW: Duration = Duration::from_secs(40);

/// berth as a Swarm service; see the module doc.
pub struct BerthService {
    /// The Swarm service's name.
    pub name: String,
    /// The label prefix it reads.
    pub prefix: String,
    pub web_port: u16,
    pub admin_port: u16,
    http: reqwest::Client,
    _image: TestImage,
}

impl BerthService {
    /// The config: the `web` listener on 8080, the admin API on 9900 (both on every
    /// interface of the container), the Swarm provider on the mounted socket with `prefix`,
    /// the Docker provider off, one worker; log level `info`, or `BERTH_TEST_LOG` (e.g.
    /// `info,berth::proxy=debug`: then the logs in a failure message say more).
    pub fn config(prefix: &str) -> String {
        let log = std::env::var("BERTH_TEST_LOG").unwrap_or_else(|_| "info".to_owned());
        let log = serde_json::Value::from(log);
        format!(
            "listeners:\n  web: {{ address: \"0.0.0.0:8080\" }}\n\
             admin: {{ address: \"0.0.0.0:9900\" }}\n\
             docker: {{ enabled: false }}\n\
             swarm:\n  enabled: true\n  endpoint: \"unix:///var/run/docker.sock\"\n\
             \x20 label_prefix: {prefix}\n  exposed_by_default: false\n  refresh: 10s\n\
             log: {{ level: {log} }}\n\
             workers: 1\n"
        )
    }

    /// Builds the image and creates the service `<run id>-berth` on `network`; returns once
    /// its admin API answers.
    pub async fn start(guard: &SwarmGuard, network: &str) -> BerthService {
        let run = guard.run();
        let prefix = Berth::prefix_for(run);
        let config = Self::config(&prefix);
        berth::config::parse(&config, "swarm-test.yaml").unwrap_or_else(|e| panic!("{e}"));
        let image = TestImage::build_berth(run, &config);
        let (web_port, admin_port) = (free_port(), free_port());
        let name = run.name("berth");
        docker_ok(&[
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            &name,
            "--label",
            &run.label(),
            "--container-label",
            &run.label(),
            "--no-resolve-image",
            "--restart-condition",
            "none",
            "--stop-grace-period",
            "5s",
            "--constraint",
            "node.role==manager",
            "--mount",
            "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly",
            "--network",
            network,
            "--publish",
            &format!("mode=host,target=8080,published={web_port}"),
            "--publish",
            &format!("mode=host,target=9900,published={admin_port}"),
            &image.tag,
        ]);
        let berth = BerthService {
            name,
            prefix,
            web_port,
            admin_port,
            http: crate::docker_common::client(),
            _image: image,
        };
        berth.wait_ready().await;
        berth
    }

    async fn wait_ready(&self) {
        let url = self.admin_url("/healthz");
        self.wait_for("berth's admin API to answer /healthz", || async {
            match self.http.get(&url).send().await {
                Ok(answer) if answer.status().is_success() => Ok(()),
                Ok(answer) => Err(format!("status {}", answer.status())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }

    /// `<prefix>.<name>`: a label name this berth reads.
    pub fn label(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// `http://127.0.0.1:<web port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.web_port)
    }

    /// `http://127.0.0.1:<admin port><path>`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// The last lines of `docker service logs` (stdout and stderr), for failure messages.
    pub fn logs(&self) -> String {
        service_logs(&self.name)
    }

    /// A JSON document from the admin API (`Null` if it did not answer).
    async fn admin(&self, path: &str) -> Value {
        match self.http.get(self.admin_url(path)).send().await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        }
    }

    /// The endpoints `/api/services` lists for service `name`.
    pub async fn endpoints(&self, name: &str) -> Vec<EndpointView> {
        let doc = self.admin("/api/services").await;
        let service = doc["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_default();
        EndpointView::of_service(&service)
    }

    /// The entries of `/api/rejected`.
    pub async fn rejected(&self) -> Vec<Value> {
        let doc = self.admin("/api/rejected").await;
        doc["rejected"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `/api/services` lists for `service` exactly the `tasks` (by task id, at
    /// their address on `network`, port `port`), every one routable and no other endpoint.
    pub async fn wait_tasks_routed(&self, service: &str, tasks: &[Task], network: &str, port: u16) {
        let want: BTreeSet<(String, String)> = tasks
            .iter()
            .map(|t| (t.id.clone(), t.address(network, port)))
            .collect();
        let what = format!("{service}'s endpoints to be exactly the routable tasks {want:?}");
        self.wait_for(&what, || async {
            let endpoints = self.endpoints(service).await;
            let seen: BTreeSet<(String, String)> = endpoints
                .iter()
                .filter(|e| e.routable())
                .map(|e| (e.source.clone(), e.address.clone()))
                .collect();
            match seen == want && endpoints.len() == want.len() {
                true => Ok(()),
                false => Err(format!("{endpoints:#?}")),
            }
        })
        .await;
    }

    /// Sends `count` GETs of `path` one after another; the `x-replica` of each answer.
    /// Panics on a failed request or a non-200 answer.
    pub async fn answers(&self, path: &str, count: usize) -> Vec<String> {
        let mut names = Vec::with_capacity(count);
        for i in 0..count {
            let answer = self.http.get(self.url(path)).send().await;
            let answer = answer.unwrap_or_else(|e| panic!("GET {path} #{i}: {e}\n{}", self.logs()));
            let status = answer.status();
            let replica = answer
                .headers()
                .get("x-replica")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = answer.text().await.unwrap_or_default();
            assert_eq!(status, 200, "GET {path} #{i}: {body}\n{}", self.logs());
            names.push(replica);
        }
        names
    }

    /// [`crate::docker_common::wait_for`] within [`FOLLOW`], with berth's logs in the
    /// failure message.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        self.wait_for_within(FOLLOW, what, check).await
    }

    /// [`BerthService::wait_for`] with its own deadline.
    pub async fn wait_for_within<T, F, Fut>(&self, timeout: Duration, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        wait_logged(&self.name, timeout, what, check).await
    }
}

/// Checks `check` until it returns `Ok`, and returns that value. Panics after `timeout`,
/// naming `what`, what `check` last said and the logs of the berth service `service`.
pub async fn wait_logged<T, F, Fut>(service: &str, timeout: Duration, what: &str, mut check: F) -> T
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
        if started.elapsed() >= timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}; last seen: {seen}\n\
                 berth's logs ({service}):\n{}",
                service_logs(service)
            );
        }
        // The poll interval of this wait (its deadline and message are above).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last 200 lines of `docker service logs <service>`, stdout and stderr.
pub fn service_logs(service: &str) -> String {
    let output = Command::new("docker")
        .args(["service", "logs", "--raw", "--tail", "200", service])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("(docker service logs {service}: {e})"),
    }
}
