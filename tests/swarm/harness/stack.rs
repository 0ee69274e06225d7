//! Stacks of replica services deployed with `docker stack deploy`, and the Swarm operations
//! the tests drive on them.
//!
//! [`Backend`] describes one service of the test image; [`Stack::deploy`] writes them into a
//! compose file (version 3.8) on the run's overlay network (`external: true`) and deploys it.
//! Each task answers with its own name: `NAME` is `{{.Task.Name}}`, which the engine renders
//! as `<service>.<slot>.<task id>` ([`Task::name`]). Berth's labels go under `deploy.labels`,
//! where Swarm keeps a service's labels.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::SwarmGuard;
use crate::docker_common::{docker, docker_ok, TestImage};

/// Most a Swarm operation may take to converge before a test gives up.
pub const SWARM_CONVERGE: Duration = Duration::from_secs(90);

/// One service of a stack: the test image with labels and environment.
#[derive(Clone, Debug)]
pub struct Backend {
    name: String,
    replicas: u32,
    labels: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

impl Backend {
    pub fn new(name: &str, replicas: u32) -> Backend {
        Backend {
            name: name.to_owned(),
            replicas,
            labels: Vec::new(),
            env: Vec::new(),
        }
    }

    /// A service label (`deploy.labels`).
    pub fn label(mut self, key: &str, value: &str) -> Backend {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// An environment variable of its tasks (e.g. `STOP_DELAY_MS`).
    pub fn env(mut self, key: &str, value: &str) -> Backend {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Its entry under `services:`. Rolling updates replace one task at a time, stopping
    /// the old one first; a failed task is restarted after 1 s (Swarm's default waits 5 s).
    fn yaml(&self, image: &str, network: &str, run_label: (&str, &str)) -> String {
        let mut env = vec![("NAME".to_owned(), "{{.Task.Name}}".to_owned())];
        env.extend(self.env.iter().cloned());
        let mut labels = vec![(run_label.0.to_owned(), run_label.1.to_owned())];
        labels.extend(self.labels.iter().cloned());
        format!(
            "  {name}:\n    image: {image}\n    environment:\n{env}    networks: [{network}]\n\
             \x20   stop_grace_period: 10s\n    deploy:\n      replicas: {replicas}\n\
             \x20     labels:\n{labels}\
             \x20     update_config: {{ parallelism: 1, order: stop-first, delay: 0s, monitor: 1s }}\n\
             \x20     restart_policy: {{ condition: any, delay: 1s }}\n",
            name = self.name,
            image = quote(image),
            env = mapping(&env, 6),
            network = quote(network),
            replicas = self.replicas,
            labels = mapping(&labels, 8),
        )
    }
}

/// A deployed stack (removed by the [`SwarmGuard`] that deployed it).
pub struct Stack {
    pub name: String,
}

impl Stack {
    /// Deploys `backends` of `image` as the stack `<run id>-<suffix>`, on the existing
    /// overlay `network`.
    pub fn deploy(
        guard: &SwarmGuard,
        suffix: &str,
        image: &TestImage,
        network: &str,
        backends: &[Backend],
    ) -> Stack {
        let run_label = guard.run().label();
        let (key, value) = run_label.split_once('=').expect("a label is key=value");
        let mut text = String::from("version: \"3.8\"\nservices:\n");
        for backend in backends {
            text.push_str(&backend.yaml(&image.tag, network, (key, value)));
        }
        text.push_str(&format!(
            "networks:\n  {net}:\n    external: true\n    name: {net}\n",
            net = quote(network)
        ));
        let file = guard.dir().join(format!("{suffix}.yaml"));
        std::fs::write(&file, &text).expect("write the compose file");
        let path = file.to_str().expect("a temp path is UTF-8");
        Self::deploy_file(guard, suffix, path, &[])
    }

    /// `docker stack deploy --resolve-image never -c <file> <run id>-<suffix>`, with `env`
    /// added to the environment (the CLI substitutes `${VAR}` in the file from it).
    pub fn deploy_file(
        guard: &SwarmGuard,
        suffix: &str,
        file: &str,
        env: &[(&str, &str)],
    ) -> Stack {
        let name = guard.run().name(suffix);
        guard.register_stack(&name);
        let output = std::process::Command::new("docker")
            .args([
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "-c",
                file,
                &name,
            ])
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run docker stack deploy");
        assert!(
            output.status.success(),
            "docker stack deploy -c {file} {name} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr).trim(),
            std::fs::read_to_string(file).unwrap_or_default()
        );
        Stack { name }
    }

    /// The Swarm name of its service `service`: `<stack>_<service>`.
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.name)
    }
}

/// One task of a service, as `docker inspect <task id>` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub service: String,
    pub slot: u64,
    pub state: String,
    pub desired: String,
    pub container: String,
    /// Its address on each network, by network name.
    pub addresses: BTreeMap<String, IpAddr>,
}

impl Task {
    /// Both its desired state and its state are `running`.
    pub fn serving(&self) -> bool {
        self.state == "running" && self.desired == "running"
    }

    /// What it answers as (`NAME` = `{{.Task.Name}}`).
    pub fn name(&self) -> String {
        format!("{}.{}.{}", self.service, self.slot, self.id)
    }

    /// `<its address on network>:<port>`.
    pub fn address(&self, network: &str, port: u16) -> String {
        let ip = self
            .addresses
            .get(network)
            .unwrap_or_else(|| panic!("task {} has no address on {network}: {self:?}", self.id));
        format!("{ip}:{port}")
    }

    fn parse(doc: &Value, service: &str) -> Task {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let addresses = doc["NetworksAttachments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let cidr = a["Addresses"][0].as_str()?;
                let ip = cidr.split('/').next()?.parse().ok()?;
                Some((text(&a["Network"]["Spec"]["Name"]), ip))
            })
            .collect();
        Task {
            id: text(&doc["ID"]),
            service: service.to_owned(),
            slot: doc["Slot"].as_u64().unwrap_or_default(),
            state: text(&doc["Status"]["State"]),
            desired: text(&doc["DesiredState"]),
            container: text(&doc["Status"]["ContainerStatus"]["ContainerID"]),
            addresses,
        }
    }
}

/// Every task the engine still lists for `service` (its history included).
pub fn tasks(service: &str) -> Vec<Task> {
    // A task may be removed between listing and inspecting it; then both are done again.
    let mut last_error = String::new();
    for _ in 0..5 {
        let ids = docker_ok(&["service", "ps", "--no-trunc", "-q", service]);
        let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["inspect", "--type", "task"];
        args.extend(ids.iter().copied());
        match docker(&args) {
            Ok(text) => {
                let docs: Vec<Value> =
                    serde_json::from_str(&text).expect("docker inspect prints JSON");
                return docs.iter().map(|d| Task::parse(d, service)).collect();
            }
            Err(e) => last_error = e,
        }
    }
    panic!("could not read the tasks of {service}: {last_error}")
}

/// Waits until `service` has exactly `replicas` serving tasks and no other task still
/// running (none left draining); returns the serving ones, sorted by slot.
pub fn wait_converged(service: &str, replicas: usize) -> Vec<Task> {
    wait_replaced(service, replicas, &[])
}

/// [`wait_converged`], where none of the serving tasks may be one of `old` (tasks that were
/// killed or updated away, and may still look serving until the engine notices).
pub fn wait_replaced(service: &str, replicas: usize, old: &[Task]) -> Vec<Task> {
    let deadline = Instant::now() + SWARM_CONVERGE;
    loop {
        let all = tasks(service);
        let mut serving: Vec<Task> = all.iter().filter(|t| t.serving()).cloned().collect();
        let leftover = all.iter().any(|t| t.state == "running" && !t.serving());
        let stale = serving.iter().any(|t| old.iter().any(|o| o.id == t.id));
        if serving.len() == replicas && !leftover && !stale {
            serving.sort_by_key(|t| t.slot);
            return serving;
        }
        assert!(
            Instant::now() < deadline,
            "{service} never converged to {replicas} new running task(s) in \
             {SWARM_CONVERGE:?}; tasks: {all:#?}"
        );
        // The poll interval of a wait bounded by SWARM_CONVERGE.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `docker service scale <service>=<replicas>`, then [`wait_converged`].
pub fn scale(service: &str, replicas: usize) -> Vec<Task> {
    docker_ok(&[
        "service",
        "scale",
        "--detach",
        &format!("{service}={replicas}"),
    ]);
    wait_converged(service, replicas)
}

/// `docker service update --force --detach=false`: every task replaced by a rolling update
/// (the CLI returns once it has converged).
pub fn update_force(service: &str) {
    docker_ok(&[
        "service",
        "update",
        "--force",
        "--detach=false",
        "--quiet",
        service,
    ]);
}

/// `docker kill <container>` (SIGKILL).
pub fn kill(container: &str) {
    docker_ok(&["kill", container]);
}

/// The virtual IP of `service` on `network`.
pub fn vip(service: &str, network: &str) -> IpAddr {
    let network_id = docker_ok(&["network", "inspect", "--format", "{{.Id}}", network]);
    let text = docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{json .Endpoint.VirtualIPs}}",
        service,
    ]);
    let vips: Vec<Value> = serde_json::from_str(&text).expect("a JSON list of VIPs");
    vips.iter()
        .filter(|v| v["NetworkID"] == network_id.as_str())
        .find_map(|v| v["Addr"].as_str()?.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{service} has no virtual IP on {network}: {text}"))
}

/// `entries` as a YAML block mapping indented by `indent`, each value a quoted string.
fn mapping(entries: &[(String, String)], indent: usize) -> String {
    entries
        .iter()
        .map(|(k, v)| format!("{:indent$}{}: {}\n", "", quote(k), quote(v)))
        .collect()
}

/// `text` as a double-quoted YAML scalar (a JSON string is one).
fn quote(text: &str) -> String {
    Value::from(text).to_string()
}
