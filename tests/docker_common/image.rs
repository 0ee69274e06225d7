//! The static `replica` binary and the `FROM scratch` test images built around it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use super::{docker, docker_ok, RunId};

/// The port the replica listens on inside its container (its `EXPOSE`d port).
pub const REPLICA_PORT: u16 = 8080;

/// Path of the static replica binary, built once per test process.
///
/// Runs `cargo build --release --features replica --bin replica --target <arch>-unknown-linux-gnu` with
/// `RUSTFLAGS=-C target-feature=+crt-static` (`--target` keeps those flags out of the host build
/// cache). The release profile's fat LTO and debug info are turned off for this build through
/// `CARGO_PROFILE_RELEASE_*` (a test backend needs neither, and they multiply the build time).
/// `BERTH_REPLICA_BIN=/path` skips the build and uses that binary.
pub fn replica_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_replica).clone()
}

fn build_replica() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_REPLICA_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "BERTH_REPLICA_BIN={path:?} is not a file");
        return path;
    }
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--release",
            "--features",
            "replica",
            "--bin",
            "replica",
            "--target",
        ])
        .arg(&target)
        .arg("--message-format=json-render-diagnostics")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo to build the replica");
    assert!(
        output.status.success(),
        "building the static replica failed ({})",
        output.status
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "replica")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no replica executable");
    eprintln!(
        "static replica ready in {:.1?}: {}",
        started.elapsed(),
        path.display()
    );
    path
}

/// A `FROM scratch` image holding the replica, tagged `<run id>:<variant>` and labelled with
/// the run id; removed on drop.
pub struct TestImage {
    pub tag: String,
}

impl TestImage {
    /// With `HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD ["/replica","probe"]`:
    /// a container becomes `healthy` about a second after it starts.
    pub fn build(run: &RunId) -> TestImage {
        Self::build_variant(run, "healthcheck", true)
    }

    /// Without HEALTHCHECK: routable as soon as it runs.
    pub fn build_plain(run: &RunId) -> TestImage {
        Self::build_variant(run, "plain", false)
    }

    fn build_variant(run: &RunId, variant: &str, healthcheck: bool) -> TestImage {
        let binary = replica_binary();
        let dir = std::env::temp_dir().join(run.name(&format!("{variant}-context")));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create build context");
        let context = ContextDir(dir);
        let staged = context.0.join("replica");
        if std::fs::hard_link(&binary, &staged).is_err() {
            std::fs::copy(&binary, &staged).expect("copy replica into build context");
        }
        let mut dockerfile = String::from("FROM scratch\nCOPY replica /replica\nEXPOSE 8080\n");
        if healthcheck {
            // Engine 20.10 rejects `--start-period=0s`; 0 is its default anyway.
            dockerfile.push_str(
                "HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/replica\",\"probe\"]\n",
            );
        }
        dockerfile.push_str("ENTRYPOINT [\"/replica\"]\n");
        std::fs::write(context.0.join("Dockerfile"), dockerfile).expect("write Dockerfile");

        let tag = format!("{run}:{variant}");
        let started = Instant::now();
        // The classic builder: the engine is 20.10 and the CLI may have no buildx plugin.
        let output = Command::new("docker")
            .args(["build", "-q", "--label", &run.label(), "-t", &tag])
            .arg(&context.0)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .output()
            .expect("run docker build");
        assert!(
            output.status.success(),
            "docker build of {tag} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        eprintln!("image {tag} built in {:.1?}", started.elapsed());
        TestImage { tag }
    }

    /// The image id (`sha256:...`).
    pub fn id(&self) -> String {
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &self.tag])
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.tag]);
    }
}

/// A temporary build context, removed on drop.
struct ContextDir(PathBuf);

impl Drop for ContextDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
