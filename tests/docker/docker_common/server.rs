//! An in-process berth following the real engine, for the Docker tests and benches.
//!
//! Each [`Berth`] reads labels under its own prefix (`t<run id without dashes>`), so tests that
//! run in parallel on one engine never see each other's containers. It serves one `web`
//! listener and the admin API on ephemeral ports of 127.0.0.1, one worker. Started with
//! [`Berth::start_watched`], its config is a file in a temp directory that
//! [`Berth::rewrite_config`] edits the way editors do (berth reloads it); the `_with` variants
//! also set `docker:` options.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{wait_for, wait_until, RunId};

/// Most a container event may take to show in `/api/services` before a test gives up.
pub const CONVERGE: Duration = Duration::from_secs(15);

/// One endpoint as `/api/services` shows it.
#[derive(Clone, Debug)]
pub struct EndpointView {
    pub address: String,
    /// For a container: its full id.
    pub source: String,
    /// `routable` or `excluded`.
    pub state: String,
    /// Why it is excluded (`draining`, `ejected: 5 consecutive failures`, ...).
    pub reason: Option<String>,
    /// The whole JSON object.
    pub doc: Value,
}

impl EndpointView {
    /// The endpoints of one service object of `/api/services`.
    pub fn of_service(service: &Value) -> Vec<EndpointView> {
        service["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| EndpointView {
                address: e["address"].as_str().unwrap_or_default().to_owned(),
                source: e["source"].as_str().unwrap_or_default().to_owned(),
                state: e["state"].as_str().unwrap_or_default().to_owned(),
                reason: e["reason"].as_str().map(str::to_owned),
                doc: e.clone(),
            })
            .collect()
    }

    pub fn routable(&self) -> bool {
        self.state == "routable"
    }
}

/// A berth following the engine's default socket, labels under [`Berth::prefix`].
pub struct Berth {
    server: Option<berth::server::Server>,
    pub prefix: String,
    /// The watched config file and its directory (removed on drop).
    config: Option<(PathBuf, PathBuf)>,
}

impl Berth {
    /// The label prefix of `run`'s berth.
    pub fn prefix_for(run: &RunId) -> String {
        format!("t{}", run.as_str().replace('-', ""))
    }

    /// The config text: a `web` listener, the admin API, the Docker provider with this run's
    /// prefix, one worker, log level warn, then `extra` (top-level YAML such as
    /// `defaults: { ... }`; empty for none).
    pub fn config_text(run: &RunId, extra: &str) -> String {
        Self::config_text_with(run, "", extra)
    }

    /// [`Berth::config_text`] with more `docker:` options, as flow-mapping entries
    /// (`exposed_by_default: true, network: front`; `enabled` may be among them; empty for
    /// none).
    pub fn config_text_with(run: &RunId, docker: &str, extra: &str) -> String {
        let prefix = Self::prefix_for(run);
        let docker = if docker.is_empty() {
            format!("enabled: true, label_prefix: {prefix}")
        } else {
            format!("label_prefix: {prefix}, {docker}")
        };
        format!(
            "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
             admin: {{ address: \"127.0.0.1:0\" }}\n\
             docker: {{ {docker} }}\n\
             log: {{ level: warn }}\n\
             workers: 1\n{extra}"
        )
    }

    /// Starts berth from [`Berth::config_text`] (not watched).
    pub fn start(run: &RunId, extra: &str) -> Berth {
        Self::start_text(run, Self::config_text(run, extra))
    }

    /// [`Berth::start`] with more listeners: YAML lines for under `listeners:` (indented two
    /// spaces, each ending in a newline), like `  pg: { address: "127.0.0.1:0", protocol: tcp }`.
    pub fn start_with_listeners(run: &RunId, listeners: &str, extra: &str) -> Berth {
        let text = Self::config_text(run, extra).replacen(
            "listeners:\n",
            &format!("listeners:\n{listeners}"),
            1,
        );
        Self::start_text(run, text)
    }

    /// Starts berth from a whole config text (not watched).
    pub fn start_text(run: &RunId, text: String) -> Berth {
        let config = berth::config::parse(&text, "docker-test.yaml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let server = berth::server::Server::start(config, None).expect("berth starts");
        Berth {
            server: Some(server),
            prefix: Self::prefix_for(run),
            config: None,
        }
    }

    /// Starts berth from a config file holding [`Berth::config_text`], watched for edits.
    pub fn start_watched(run: &RunId, extra: &str) -> Berth {
        Self::start_watched_with(run, "", extra)
    }

    /// [`Berth::start_watched`] from [`Berth::config_text_with`].
    pub fn start_watched_with(run: &RunId, docker: &str, extra: &str) -> Berth {
        let dir = std::env::temp_dir().join(run.name("config"));
        std::fs::create_dir_all(&dir).expect("config dir");
        let path = dir.join("berth.yaml");
        std::fs::write(&path, Self::config_text_with(run, docker, extra)).expect("write config");
        let config = berth::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let server =
            berth::server::Server::start(config, Some(path.clone())).expect("berth starts");
        Berth {
            server: Some(server),
            prefix: Self::prefix_for(run),
            config: Some((path, dir)),
        }
    }

    /// Replaces the watched config with [`Berth::config_text`]`(run, extra)`: a new file
    /// renamed over the old one, as editors do.
    pub fn rewrite_config(&self, run: &RunId, extra: &str) {
        self.rewrite_config_with(run, "", extra);
    }

    /// [`Berth::rewrite_config`] with [`Berth::config_text_with`].
    pub fn rewrite_config_with(&self, run: &RunId, docker: &str, extra: &str) {
        let (path, _) = self.config.as_ref().expect("started with start_watched");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, Self::config_text_with(run, docker, extra)).expect("write config");
        std::fs::rename(&tmp, path).expect("rename config");
    }

    /// `<prefix>.<name>`: a label name for this berth.
    pub fn label(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    pub fn server(&self) -> &berth::server::Server {
        self.server.as_ref().expect("running")
    }

    /// `http://<web listener><path>`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.server().listener("web").expect("web")
        )
    }

    /// `http://<admin listener><path>`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server().admin)
    }

    /// The `/api/services` document (`Null` if the admin API did not answer).
    pub async fn services(&self, http: &reqwest::Client) -> Value {
        match http.get(self.admin_url("/api/services")).send().await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        }
    }

    /// The service called `name` in `/api/services` (`Null` when not listed).
    pub async fn service(&self, http: &reqwest::Client, name: &str) -> Value {
        let doc = self.services(http).await;
        doc["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_default()
    }

    /// The value of the series starting with `series` (name and labels) on `/metrics`; 0
    /// when absent.
    pub async fn metric(&self, http: &reqwest::Client, series: &str) -> u64 {
        let text = match http.get(self.admin_url("/metrics")).send().await {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Ids of the containers `/api/rejected` lists.
    pub async fn rejected_ids(&self, http: &reqwest::Client) -> Vec<String> {
        let doc: Value = match http.get(self.admin_url("/api/rejected")).send().await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        doc["rejected"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// The endpoints of service `name`.
    pub async fn endpoints(&self, http: &reqwest::Client, name: &str) -> Vec<EndpointView> {
        EndpointView::of_service(&self.service(http, name).await)
    }

    /// Container ids of the routable endpoints of service `name`, sorted.
    pub async fn routable(&self, http: &reqwest::Client, name: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .endpoints(http, name)
            .await
            .into_iter()
            .filter(EndpointView::routable)
            .map(|e| e.source)
            .collect();
        ids.sort();
        ids
    }

    /// Waits until the routable endpoints of service `name` are exactly the containers
    /// `ids` (any order).
    pub async fn wait_routable(&self, http: &reqwest::Client, name: &str, ids: &[&str]) {
        let mut want: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        want.sort();
        wait_until(
            CONVERGE,
            &format!("routable endpoints of {name} to be {want:?}"),
            || async { self.routable(http, name).await == want },
        )
        .await;
    }

    /// Waits until the endpoint of container `id` in service `name` is listed and `ok` holds
    /// for it; returns it.
    pub async fn wait_endpoint(
        &self,
        http: &reqwest::Client,
        name: &str,
        id: &str,
        what: &str,
        ok: impl Fn(&EndpointView) -> bool,
    ) -> EndpointView {
        let what = format!("container {id} of {name}: {what}");
        wait_for(CONVERGE, &what, || async {
            let endpoints = self.endpoints(http, name).await;
            match endpoints.iter().find(|e| e.source == id && ok(e)) {
                Some(found) => Ok(found.clone()),
                None => Err(format!("endpoints: {endpoints:?}")),
            }
        })
        .await
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        if let Some((_, dir)) = self.config.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
