//! The `berth` binary: `--version`, `check`, a port in use at start, SIGTERM exits 0.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::wait::wait_until_blocking;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("berth.yaml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write config");
    path
}

#[test]
fn version_is_printed() {
    let out = Command::new(BERTH)
        .arg("--version")
        .output()
        .expect("run berth");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("berth "), "{text}");
}

#[test]
fn check_summarises_a_valid_file_and_lists_every_error_of_a_bad_one() {
    let ok = Command::new(BERTH)
        .args(["check", "--config", "config/berth.yaml"])
        .output()
        .expect("run berth");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("legacy"));

    let bad = Command::new(BERTH)
        .args(["check", "--config", "tests/fixtures/several_errors.yaml"])
        .output()
        .expect("run berth");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.lines()
            .filter(|l| l.contains("several_errors.yaml:"))
            .count()
            >= 2,
        "{err}"
    );
}

#[test]
fn a_port_in_use_is_reported_against_its_line() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = held.local_addr().expect("addr").port();
    let path = temp_file(
        "inuse",
        &format!(
            "listeners:\n  web:\n    address: \"127.0.0.1:{port}\"\nadmin: {{ address: \"127.0.0.1:0\" }}\ndocker: {{ enabled: false }}\n"
        ),
    );
    let out = Command::new(BERTH)
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run berth");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("berth.yaml:3:"), "{err}");
    assert!(err.contains("listeners.web.address"), "{err}");
    assert!(err.contains("already in use"), "{err}");
    drop(held);
}

#[test]
fn sigterm_stops_gracefully_with_exit_zero() {
    let path = temp_file(
        "term",
        "listeners:\n  web: { address: \"127.0.0.1:0\" }\nadmin: { address: \"127.0.0.1:0\" }\ndocker: { enabled: false }\nworkers: 1\n",
    );
    let mut child = Command::new(BERTH)
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth");
    // Until berth handles SIGTERM (once it is running), the signal would kill it outright.
    wait_until_blocking(Duration::from_secs(15), "berth to handle SIGTERM", || {
        catches_sigterm(child.id())
    });
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut exit = None;
    wait_until_blocking(
        Duration::from_secs(15),
        "berth to stop after SIGTERM",
        || {
            exit = child.try_wait().expect("wait");
            exit.is_some()
        },
    );
    let status = exit.expect("exited");
    assert!(status.success(), "exit status {status:?}");
}

/// Whether process `pid` has a handler for SIGTERM (its `SigCgt` mask in `/proc`, Linux).
fn catches_sigterm(pid: u32) -> bool {
    const SIGTERM: u32 = 15;
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (SIGTERM - 1)) != 0)
}
