//! The harness of the abuse and fault suites: berth run as a process of its own (so its RSS
//! and descriptors, read from `/proc`, and its metrics are its own), one attack at a time,
//! and a well-behaved client on the side whose every request must succeed meanwhile.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use crate::wait::wait_until;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
/// How much berth's RSS may grow over an attack: generous, a leak or an unbounded buffer
/// under attack grows far past it.
const RSS_SLACK_KIB: u64 = 64 * 1024;
/// The longest any step may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What a test's berth runs: one `web` listener and one service named `tag`.
#[derive(Clone, Copy, Default)]
pub struct Setup<'a> {
    /// Names the temp directory and the service.
    pub tag: &'a str,
    /// More of the `web` listener's map (`, max_connections: 64`).
    pub listener: &'a str,
    /// Top-level sections (`defaults: ...`, `log: ...`), each ending with a newline.
    pub top: &'a str,
    /// More of the service's map (`, timeout: 1s`).
    pub service: &'a str,
    /// More services, each line indented by two spaces.
    pub services: &'a str,
}

/// berth run as a process from a config file; killed when dropped.
pub struct Berth {
    child: Child,
    pub web: SocketAddr,
    /// `http://ip:port` of the admin listener.
    pub admin: String,
    /// The config file (watched: edits reload).
    pub config: PathBuf,
    dir: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("addr").port()
}

impl Berth {
    /// The config text of `setup` in front of `backends` with the given ports.
    pub fn yaml(setup: Setup<'_>, backends: &[SocketAddr], web: u16, admin: u16) -> String {
        let backends: Vec<String> = backends.iter().map(|b| format!("\"{b}\"")).collect();
        let backends = backends.join(", ");
        format!(
            "listeners:\n  web: {{ address: \"127.0.0.1:{web}\", protocol: http{} }}\n\
             admin: {{ address: \"127.0.0.1:{admin}\" }}\ndocker: {{ enabled: false }}\n\
             workers: 1\n{}services:\n  {}: {{ listener: web, backends: [{backends}]{} }}\n{}",
            setup.listener, setup.top, setup.tag, setup.service, setup.services
        )
    }

    /// Starts berth for `setup` in front of `backend` and waits until its admin answers.
    pub async fn start(setup: Setup<'_>, backend: SocketAddr) -> Berth {
        Berth::start_with(setup, &[backend]).await
    }

    /// [`Berth::start`] with several backends.
    pub async fn start_with(setup: Setup<'_>, backends: &[SocketAddr]) -> Berth {
        let dir =
            std::env::temp_dir().join(format!("berth-abuse-{}-{}", setup.tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (web, admin) = (free_port(), free_port());
        let config = dir.join("berth.yaml");
        std::fs::write(&config, Berth::yaml(setup, backends, web, admin)).expect("write config");
        let log = File::create(dir.join("berth.log")).expect("log file");
        let child = Command::new(BERTH)
            .args(["run", "--config"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn berth");
        let berth = Berth {
            child,
            web: SocketAddr::from(([127, 0, 0, 1], web)),
            admin: format!("http://127.0.0.1:{admin}"),
            config,
            dir,
        };
        let http = common::client();
        let healthz = format!("{}/healthz", berth.admin);
        let up = || async { http.get(&healthz).send().await.is_ok() };
        wait_until(TIMEOUT, "berth to start", up).await;
        berth
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://<web listener><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web)
    }

    /// What berth has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berth.log")).unwrap_or_default()
    }

    /// Its resident set size in KiB (0 once it is gone).
    pub fn rss_kib(&self) -> u64 {
        rss_kib_of(self.pid())
    }

    /// How many descriptors it has open.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// The value of the series starting with `series` on its `/metrics` (0 when absent).
    pub async fn metric(&self, series: &str) -> u64 {
        common::metric(&self.admin, series).await
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// VmRSS of process `pid` in KiB (Linux).
fn rss_kib_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// What the side client saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    rss_peak_kib: u64,
}

/// A well-behaved client: one keep-alive connection, a GET every 20 ms, each timed and
/// checked; it also samples berth's RSS after each request.
struct Side {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Side {
    fn start(url: String, pid: u32) -> Side {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (halt, log) = (Arc::clone(&stop), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client");
            while !halt.load(Ordering::Relaxed) {
                let started = Instant::now();
                let outcome = match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                    }
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                record(&log, outcome.map(|()| started.elapsed()), rss_kib_of(pid));
                // The pace of a well-behaved client, not a wait for a condition.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Side { stop, seen, task }
    }

    /// Requests answered so far.
    fn served(&self) -> usize {
        self.seen.lock().expect("side stats").latencies.len()
    }

    async fn wait_served(&self, n: usize) {
        wait_until(TIMEOUT, "the side client to be served", || async {
            self.served() >= n
        })
        .await;
    }

    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("side client");
        std::mem::take(&mut *self.seen.lock().expect("side stats"))
    }
}

/// Adds one side request's latency (or failure) and an RSS sample to `seen`.
fn record(seen: &Mutex<Seen>, outcome: Result<Duration, String>, rss_kib: u64) {
    // Only the side client's task and [`Side`]'s methods lock it, never across an await:
    // it cannot be poisoned by a panic while held.
    let mut seen = seen.lock().expect("side stats");
    match outcome {
        Ok(latency) => seen.latencies.push(latency),
        Err(e) => seen.failures.push(e),
    }
    seen.rss_peak_kib = seen.rss_peak_kib.max(rss_kib);
}

/// The 99th percentile of `latencies` (sorted in place).
fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    let rank = (latencies.len() * 99).div_ceil(100).max(1);
    latencies.get(rank - 1).copied().unwrap_or_default()
}

/// Runs `attack` against `berth` while the side client sends requests, then asserts that
/// every side request succeeded (a few more after the attack too) and that berth's RSS
/// stayed within [`RSS_SLACK_KIB`] of its start; prints the side client's p99.
pub async fn under_attack<T>(
    berth: &Berth,
    name: &str,
    attack: impl std::future::Future<Output = T>,
) -> T {
    let rss_before = berth.rss_kib();
    // `/health` on the test backends: answered, never counted in their hits.
    let side = Side::start(berth.url("/health"), berth.pid());
    side.wait_served(1).await;
    let out = attack.await;
    let rss_after_attack = berth.rss_kib();
    let served = side.served();
    side.wait_served(served + 3).await;
    let mut seen = side.finish().await;
    let peak = seen.rss_peak_kib.max(rss_after_attack);
    println!(
        "{name}: side client p99 {:?} over {} requests; berth RSS {rss_before} KiB before, \
         {peak} KiB at most, {rss_after_attack} KiB after the attack",
        p99(&mut seen.latencies),
        seen.latencies.len()
    );
    assert!(
        seen.failures.is_empty(),
        "{name}: side requests failed: {:?}\nberth log:\n{}",
        seen.failures,
        berth.log()
    );
    assert!(
        peak <= rss_before + RSS_SLACK_KIB,
        "{name}: berth's RSS grew from {rss_before} to {peak} KiB"
    );
    out
}
