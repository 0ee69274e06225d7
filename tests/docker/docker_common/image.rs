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
    build_static("replica", "BERTH_REPLICA_BIN")
}

/// Path of berth itself built static, once per test process (for berth-in-a-container tests).
pub fn berth_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| build_static("berth", "BERTH_STATIC_BIN"))
        .clone()
}

/// Builds binary `bin` static, unless the environment variable `env_override` names a file.
fn build_static(bin: &str, env_override: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_override) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{env_override}={path:?} is not a file");
        return path;
    }
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // The same feature set for every binary, so they share one build of the library.
        .args([
            "build",
            "--release",
            "--features",
            "replica",
            "--bin",
            bin,
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
        .expect("run cargo to build a static binary");
    assert!(
        output.status.success(),
        "building the static {bin} failed ({})",
        output.status
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == bin)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no {bin} executable"));
    eprintln!(
        "static {bin} ready in {:.1?}: {}",
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
        Self::build_variant(run, "healthcheck", true, REPLICA_PORT)
    }

    /// Without HEALTHCHECK: routable as soon as it runs.
    pub fn build_plain(run: &RunId) -> TestImage {
        Self::build_variant(run, "plain", false, REPLICA_PORT)
    }

    /// Without HEALTHCHECK, listening on port 80 (`ENV PORT=80`): a stand-in for the
    /// application image the examples name (`traefik/whoami`, which listens on 80).
    pub fn build_app(run: &RunId) -> TestImage {
        Self::build_variant(run, "app", false, 80)
    }

    /// berth itself, static, running `run --config /berth.yaml` with `config` as that file.
    pub fn build_berth(run: &RunId, config: &str) -> TestImage {
        let dockerfile = "FROM scratch\nCOPY berth /berth\nCOPY berth.yaml /berth.yaml\n\
                          ENTRYPOINT [\"/berth\", \"run\", \"--config\", \"/berth.yaml\"]\n";
        Self::build_image(
            run,
            "berth",
            &berth_binary(),
            "berth",
            &[("berth.yaml", config)],
            dockerfile,
        )
    }

    fn build_variant(run: &RunId, variant: &str, healthcheck: bool, port: u16) -> TestImage {
        let mut dockerfile = format!("FROM scratch\nCOPY replica /replica\nEXPOSE {port}\n");
        if port != REPLICA_PORT {
            dockerfile.push_str(&format!("ENV PORT={port}\n"));
        }
        if healthcheck {
            // Engine 20.10 rejects `--start-period=0s`; 0 is its default anyway.
            dockerfile.push_str(
                "HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/replica\",\"probe\"]\n",
            );
        }
        dockerfile.push_str("ENTRYPOINT [\"/replica\"]\n");
        Self::build_image(run, variant, &replica_binary(), "replica", &[], &dockerfile)
    }

    /// Builds `<run id>:<variant>` from `binary` (staged as `name`), extra `files` and
    /// `dockerfile`.
    fn build_image(
        run: &RunId,
        variant: &str,
        binary: &std::path::Path,
        name: &str,
        files: &[(&str, &str)],
        dockerfile: &str,
    ) -> TestImage {
        let dir = std::env::temp_dir().join(run.name(&format!("{variant}-context")));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create build context");
        let context = ContextDir(dir);
        let staged = context.0.join(name);
        if std::fs::hard_link(binary, &staged).is_err() {
            std::fs::copy(binary, &staged).expect("copy the binary into the build context");
        }
        for (file, text) in files {
            std::fs::write(context.0.join(file), text).expect("write a build context file");
        }
        std::fs::write(context.0.join("Dockerfile"), dockerfile).expect("write Dockerfile");

        let tag = format!("{run}:{variant}");
        let started = Instant::now();
        // The classic builder: the engine is 20.10 and the CLI may have no buildx plugin.
        // `--no-cache`: a cached intermediate image is shared with other runs, and another
        // run's `rmi` of its image removes it while this build commits on top of it ("failed
        // to get digest"); the layers are a few MB, so building afresh costs nothing.
        let output = Command::new("docker")
            .args([
                "build",
                "-q",
                "--no-cache",
                "--label",
                &run.label(),
                "-t",
                &tag,
            ])
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
