//! Harness for tests against a real Docker engine (the `docker` test binary, `tests/docker/`;
//! the Docker benches include it with `#[path]`).
//!
//! The engine cannot pull images, so the harness builds its own: the static `replica` example
//! (`testbed/replica.rs`) in a `FROM scratch` image, with or without a `HEALTHCHECK` that runs
//! the same binary in probe mode. Everything a test creates is named with its [`RunId`] prefix
//! and labelled `berth-test.run=<id>`; each handle removes its object on drop, and a [`Cleanup`]
//! guard removes whatever is still labelled with the run id (a test that panics half-way
//! leaves nothing behind).
//!
//! ```ignore
//! use crate::docker_common::*;
//!
//! #[tokio::test(flavor = "multi_thread")]
//! async fn routes_to_a_container() {
//!     if !require_engine() { return; }
//!     let run = RunId::new();
//!     let _cleanup = run.cleanup();          // declared first, so dropped last
//!     let image = TestImage::build(&run);
//!     let net = Network::create(&run, "net");
//!     let a = ContainerBuilder::new(&run, &image).name("a").env("NAME", "a")
//!         .label("berth.enable", "true").network(&net).start();
//!     a.wait_healthy(Duration::from_secs(10));
//!     // ... start berth, assert what it routes ...
//! }
//! ```
//!
//! [`Berth`] runs berth in-process against the engine with a label prefix of its own (and,
//! if asked, a watched config file); [`Load`] is a load generator that records every answer.
//!
//! Engine calls go through the `docker` CLI (blocking; fine on a multi-thread test runtime).
#![allow(dead_code)]

mod container;
mod http;
mod image;
mod load;
mod relay;
mod server;
#[path = "../../support/wait.rs"]
mod wait;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

#[allow(unused_imports)]
pub use container::{Container, ContainerBuilder};
#[allow(unused_imports)]
pub use http::{blocking, client, http_request, HttpAnswer};
#[allow(unused_imports)]
pub use image::{berth_binary, replica_binary, TestImage, REPLICA_PORT};
#[allow(unused_imports)]
pub use load::{Load, LoadReport, Record};
#[allow(unused_imports)]
pub use relay::SocketRelay;
#[allow(unused_imports)]
pub use server::{Berth, EndpointView, CONVERGE};
#[allow(unused_imports)]
pub use wait::{wait_for, wait_until, wait_until_blocking};

/// Held by a test while it runs a load generator: on a 2-core machine two load generators
/// would measure each other.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Label put on every container, network and image a test creates.
pub const RUN_LABEL: &str = "berth-test.run";

/// Whether the `docker` CLI works and `docker info` reaches an engine (checked once).
pub fn engine_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `true` when an engine is reachable. Otherwise panics — the Docker tests are part of the
/// suite — unless `BERTH_SKIP_DOCKER=1`, when it prints why the test is skipped and returns
/// `false`. Use as `if !require_engine() { return; }`.
pub fn require_engine() -> bool {
    if engine_available() {
        return true;
    }
    if std::env::var("BERTH_SKIP_DOCKER").as_deref() != Ok("1") {
        panic!(
            "no Docker engine is reachable (`docker info` failed); start one, or set \
             BERTH_SKIP_DOCKER=1 to skip the Docker tests"
        );
    }
    eprintln!("skipping: no Docker engine reachable and BERTH_SKIP_DOCKER=1");
    false
}

/// Runs `docker ARGS`; `Ok(trimmed stdout)` on success, else `Err` naming the command and its
/// stderr.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// [`docker`], panicking on failure.
pub fn docker_ok(args: &[&str]) -> String {
    docker(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Unique prefix of one test's objects: `berth-test-<pid>-<n>-<random>` (lowercase, valid as a
/// container, network and image name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunId(String);

impl RunId {
    pub fn new() -> RunId {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        let random = hasher.finish() as u32;
        RunId(format!(
            "berth-test-{}-{n}-{random:08x}",
            std::process::id()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<id>-<suffix>`: the name of one object of this run.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.0)
    }

    /// `berth-test.run=<id>`, the value of `--label` for objects of this run.
    pub fn label(&self) -> String {
        format!("{RUN_LABEL}={}", self.0)
    }

    /// `label=berth-test.run=<id>`, the value of `--filter` that finds them.
    pub fn filter(&self) -> String {
        format!("label={}", self.label())
    }

    /// A guard that removes everything labelled with this run id when dropped.
    pub fn cleanup(&self) -> Cleanup {
        Cleanup { run: self.clone() }
    }

    /// Containers (`container:<name>`), networks (`network:<name>`) and images (`image:<id>`)
    /// still labelled with this run id; empty once everything was removed.
    pub fn leftovers(&self) -> Vec<String> {
        let filter = self.filter();
        let list = |kind: &str, args: &[&str]| -> Vec<String> {
            docker_ok(args)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{kind}:{l}"))
                .collect()
        };
        let mut found = list(
            "container",
            &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
        );
        found.extend(list(
            "network",
            &[
                "network",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}}",
            ],
        ));
        found.extend(list("image", &["images", "-q", "--filter", &filter]));
        found
    }
}

impl Default for RunId {
    fn default() -> Self {
        RunId::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Removes every container, network and image labelled with its run id on drop, errors
/// ignored. Declare it right after the [`RunId`] so it is dropped after every other handle.
#[must_use = "the guard cleans up when dropped"]
pub struct Cleanup {
    run: RunId,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let filter = self.run.filter();
        let ids = |args: &[&str]| -> Vec<String> {
            docker(args)
                .map(|out| out.lines().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let containers = ids(&["ps", "-aq", "--filter", &filter]);
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            let _ = docker(&args);
        }
        for network in ids(&["network", "ls", "-q", "--filter", &filter]) {
            let _ = docker(&["network", "rm", &network]);
        }
        for image in ids(&["images", "-q", "--filter", &filter]) {
            let _ = docker(&["rmi", "-f", &image]);
        }
    }
}

/// A user-defined bridge network named `<run id>-<suffix>`, removed on drop.
pub struct Network {
    pub name: String,
}

impl Network {
    pub fn create(run: &RunId, suffix: &str) -> Network {
        let name = run.name(suffix);
        docker_ok(&["network", "create", "--label", &run.label(), &name]);
        Network { name }
    }
}

impl AsRef<str> for Network {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.name]);
    }
}
