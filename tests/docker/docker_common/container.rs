//! Test containers: a builder over `docker create`/`run`, and a handle with the lifecycle
//! operations tests drive (stop, kill, pause, networks, health), removed on drop.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::http::http_request;
use super::image::{TestImage, REPLICA_PORT};
use super::{docker, docker_ok, RunId};

/// Builds a container of a [`TestImage`]; every container gets the run's name prefix and label.
#[must_use = "call start() to create and start the container"]
pub struct ContainerBuilder {
    run: RunId,
    image: String,
    name: Option<String>,
    env: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    networks: Vec<String>,
    extra: Vec<String>,
}

impl ContainerBuilder {
    pub fn new(run: &RunId, image: &TestImage) -> ContainerBuilder {
        ContainerBuilder {
            run: run.clone(),
            image: image.tag.clone(),
            name: None,
            env: Vec::new(),
            labels: Vec::new(),
            networks: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The container is named `<run id>-<suffix>` (default: `<run id>-c<n>`).
    pub fn name(mut self, suffix: &str) -> Self {
        self.name = Some(self.run.name(suffix));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Attach to this network (a [`super::Network`] or a name such as `"bridge"`); call
    /// several times for several networks. None: the engine's default bridge.
    pub fn network(mut self, network: impl AsRef<str>) -> Self {
        self.networks.push(network.as_ref().to_owned());
        self
    }

    /// `--no-healthcheck`: the image's HEALTHCHECK is disabled (no `Health` in inspect).
    pub fn no_healthcheck(self) -> Self {
        self.arg("--no-healthcheck")
    }

    /// `--stop-signal SIGNAL` (e.g. `"SIGQUIT"`).
    pub fn stop_signal(self, signal: &str) -> Self {
        self.arg(&format!("--stop-signal={signal}"))
    }

    /// Any other `docker create` flag, e.g. `"--memory=64m"`.
    pub fn arg(mut self, flag: &str) -> Self {
        self.extra.push(flag.to_owned());
        self
    }

    /// `docker create` (first network), `docker network connect` (the others), `docker start`.
    pub fn start(self) -> Container {
        let mut container = self.create();
        container.start();
        container
    }

    /// Creates the container, attached to every network, without starting it.
    pub fn create(self) -> Container {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = self.name.clone().unwrap_or_else(|| {
            self.run
                .name(&format!("c{}", NEXT.fetch_add(1, Ordering::Relaxed)))
        });
        let mut args: Vec<String> = vec![
            "create".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            self.run.label(),
        ];
        for (key, value) in &self.labels {
            args.extend(["--label".into(), format!("{key}={value}")]);
        }
        for (key, value) in &self.env {
            args.extend(["--env".into(), format!("{key}={value}")]);
        }
        if let Some(first) = self.networks.first() {
            args.extend(["--network".into(), first.clone()]);
        }
        args.extend(self.extra.iter().cloned());
        args.push(self.image.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = docker_ok(&args);
        // The handle exists from here on, so a failure below still removes the container.
        let container = Container {
            id,
            name,
            created: Instant::now(),
        };
        for network in self.networks.iter().skip(1) {
            container.connect_network(network);
        }
        container
    }
}

/// A container of this run, removed (`docker rm -f -v`) on drop.
pub struct Container {
    pub id: String,
    pub name: String,
    created: Instant,
}

impl Container {
    pub fn start(&mut self) {
        docker_ok(&["start", &self.id]);
        self.created = Instant::now();
    }

    /// `docker stop -t <whole seconds, rounded up>`: the stop signal, then KILL after `timeout`.
    pub fn stop(&self, timeout: Duration) {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        docker_ok(&["stop", "-t", &secs.to_string(), &self.id]);
    }

    /// `docker kill -s SIGNAL` (`"TERM"`, `"SIGHUP"`, `"KILL"`, ...).
    pub fn kill(&self, signal: &str) {
        docker_ok(&["kill", "-s", signal, &self.id]);
    }

    pub fn pause(&self) {
        docker_ok(&["pause", &self.id]);
    }

    pub fn unpause(&self) {
        docker_ok(&["unpause", &self.id]);
    }

    pub fn connect_network(&self, network: impl AsRef<str>) {
        docker_ok(&["network", "connect", network.as_ref(), &self.id]);
    }

    pub fn disconnect_network(&self, network: impl AsRef<str>) {
        docker_ok(&["network", "disconnect", network.as_ref(), &self.id]);
    }

    /// `docker inspect -f FORMAT` of this container.
    pub fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.id])
    }

    /// `.State.Status`: `created`, `running`, `paused`, `exited`, ...
    pub fn status(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    /// `.State.Health.Status` (`starting`, `healthy`, `unhealthy`); `None` without HEALTHCHECK.
    pub fn health(&self) -> Option<String> {
        let status = self.inspect("{{if .State.Health}}{{.State.Health.Status}}{{end}}");
        (!status.is_empty()).then_some(status)
    }

    /// Network name → address, for the networks the container is attached to and has an
    /// address on (empty while it is not running).
    pub fn networks(&self) -> BTreeMap<String, IpAddr> {
        let json = self.inspect("{{json .NetworkSettings.Networks}}");
        let networks: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&json).unwrap_or_default();
        networks
            .into_iter()
            .filter_map(|(name, settings)| {
                let ip = settings["IPAddress"].as_str()?.parse().ok()?;
                Some((name, ip))
            })
            .collect()
    }

    /// The container's address on `network`; panics if it has none there.
    pub fn ip(&self, network: impl AsRef<str>) -> IpAddr {
        let network = network.as_ref();
        let networks = self.networks();
        *networks.get(network).unwrap_or_else(|| {
            panic!(
                "container {} has no address on network {network} (it has {networks:?})",
                self.name
            )
        })
    }

    /// The replica's address (port 8080) on its first network, as the host reaches it.
    pub fn addr(&self) -> SocketAddr {
        let (_, ip) = self
            .networks()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("container {} has no network address", self.name));
        SocketAddr::new(ip, REPLICA_PORT)
    }

    /// Waits until `.State.Health.Status` is `status`; returns the time since start.
    pub fn wait_health(&self, status: &str, timeout: Duration) -> Duration {
        let deadline = Instant::now() + timeout;
        loop {
            let current = self.health();
            if current.as_deref() == Some(status) {
                return self.created.elapsed();
            }
            if Instant::now() >= deadline {
                let log = self.inspect("{{if .State.Health}}{{json .State.Health.Log}}{{end}}");
                panic!(
                    "container {} not {status} after {timeout:?}: health {current:?}, state {}, \
                     health log {log}, logs:\n{}",
                    self.name,
                    self.status(),
                    self.logs()
                );
            }
            // The poll interval of this wait (its deadline is above).
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_healthy(&self, timeout: Duration) -> Duration {
        self.wait_health("healthy", timeout)
    }

    /// Waits until the container has exited; returns its exit code.
    pub fn wait_exit(&self, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.inspect("{{.State.Status}} {{.State.ExitCode}}");
            if let Some(code) = state.strip_prefix("exited ") {
                return code.parse().expect("exit code");
            }
            assert!(
                Instant::now() < deadline,
                "container {} still {state} after {timeout:?}",
                self.name
            );
            // The poll interval of this wait (its deadline is above).
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Flips the replica's health from outside (`POST /health/fail` or `/health/ok` on its
    /// address; a scratch image has no shell for `docker exec`).
    pub fn exec_health(&self, fail: bool) {
        let path = if fail { "/health/fail" } else { "/health/ok" };
        let answer = http_request(self.addr(), "POST", path, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("POST {path} to {}: {e}", self.name));
        assert_eq!(answer.status, 200, "POST {path} to {}", self.name);
    }

    /// `POST path` to the replica directly (e.g. `/fail/500`, `/fail/off`, `/hang`,
    /// `/hang/off`; see `testbed/replica.rs`); panics unless it answers 200.
    pub fn post(&self, path: &str) {
        let answer = http_request(self.addr(), "POST", path, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("POST {path} to {}: {e}", self.name));
        assert_eq!(
            answer.status, 200,
            "POST {path} to {}: {}",
            self.name, answer.body
        );
    }

    /// `docker logs` (stdout and stderr).
    pub fn logs(&self) -> String {
        let output = std::process::Command::new("docker")
            .args(["logs", &self.id])
            .output();
        match output {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("(docker logs failed: {e})"),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.id]);
    }
}
