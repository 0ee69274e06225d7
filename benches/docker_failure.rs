//! Failure to exclusion against the real engine: how long a failing replica keeps getting
//! requests (issue 4, "failure response").
//!
//! Two measurements, printed as markdown tables; each runs `TRIALS` times (default 20) on a
//! service of 3 replicas (no HEALTHCHECK) under continuous load through berth (4 keep-alive
//! client loops, the tests' load generator), one replica failing per trial, in turn:
//!
//! 1. **Passive** (outlier detection, `consecutive_failures: 5`, `base_ejection: 500ms`,
//!    `max_ejection: 1s`, default balance `least_request`): `POST /fail/500` to the replica.
//!    Per trial: the 500s it answered (what clients lost), the time from the switch (just
//!    before the `POST`, sent directly to the replica) to its last answer (no more requests
//!    go to it after), and to `/api/services` showing it ejected (polled in a tight loop).
//!    Then `/fail/off` and wait for its return.
//! 2. **Active** (labels `health.path=/health`, `health.interval=INTERVAL_MS` (default 250),
//!    `health.fall=3`, `health.rise=2`, timeout = interval): `POST /health/fail` to the
//!    replica (its traffic still succeeds: only the check fails). Per trial: the time from the
//!    switch to `/api/services` showing it `active check: failing`, and to its last answer
//!    through berth; the bound to compare with is `fall × interval + timeout`. Then
//!    `/health/ok` and wait for its return.
//!
//! `PHASES` (default `passive,active`) picks the parts. Everything the run creates carries
//! its run label and is removed at the end, also on panic. Machine load is printed: the
//! machine is shared.
//!
//! Run: `cargo bench --bench docker_failure` (e.g. `TRIALS=50 INTERVAL_MS=500 cargo bench
//! --bench docker_failure`).

#[path = "../tests/docker/docker_common/mod.rs"]
mod docker_common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use docker_common::*;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of `samples`.
fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One markdown row: name, n, p50, p99, max.
fn row(name: &str, samples: &[f64]) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        percentile(samples, 50.0),
        percentile(samples, 99.0),
        percentile(samples, 100.0)
    )
}

const TABLE_HEAD: &str =
    "| measurement | n | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |";

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Three replicas of service `name` on `path`, each built by `extra` from the base builder.
fn replicas(
    run: &RunId,
    image: &TestImage,
    net: &Network,
    b: &Berth,
    name: &str,
    extra: impl Fn(ContainerBuilder) -> ContainerBuilder,
) -> Vec<Container> {
    (1..=3)
        .map(|i| {
            let replica = format!("{name}{i}");
            extra(
                ContainerBuilder::new(run, image)
                    .name(&replica)
                    .env("NAME", &replica)
                    .label(&b.label("enable"), "true")
                    .label(&b.label("service"), name)
                    .label(&b.label("http.path"), &format!("/{name}"))
                    .network(net),
            )
            .start()
        })
        .collect()
}

/// `POST path` to the replica at `addr` off the runtime's workers; returns when it answered.
async fn post(addr: SocketAddr, path: &'static str) {
    tokio::task::spawn_blocking(move || {
        let answer = http_request(addr, "POST", path, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(answer.status, 200, "POST {path}");
    })
    .await
    .expect("post");
}

/// Polls `/api/services` until `c`'s endpoint in `service` satisfies `ok`; when it did.
async fn seen(
    b: &Berth,
    http: &reqwest::Client,
    service: &str,
    c: &Container,
    ok: impl Fn(&EndpointView) -> bool,
) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let eps = b.endpoints(http, service).await;
        if eps.iter().any(|e| e.source == c.id && ok(e)) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "timed out: {eps:?}");
    }
}

fn ejected(e: &EndpointView) -> bool {
    e.reason
        .as_deref()
        .is_some_and(|r| r.starts_with("ejected"))
}

fn phase_passive(rt: &tokio::runtime::Runtime, run: &RunId, image: &TestImage, net: &Network) {
    let trials = env_u64("TRIALS", 20) as usize;
    let b = Berth::start(
        run,
        "defaults: { outlier: { consecutive_failures: 5, base_ejection: 500ms, max_ejection: 1s } }\n",
    );
    let reps = replicas(run, image, net, &b, "passive", |c| c);
    let http = client();
    rt.block_on(async {
        let ids: Vec<&str> = reps.iter().map(|c| c.id.as_str()).collect();
        b.wait_routable(&http, "passive", &ids).await;
        let addrs: Vec<SocketAddr> = reps.iter().map(Container::addr).collect();
        let load = Load::start(&b.url("/passive/"), 4);
        load.wait_answers(500).await;
        let mut trials_at = Vec::new();
        for t in 0..trials {
            let (victim, addr) = (&reps[t % reps.len()], addrs[t % reps.len()]);
            let switched = Instant::now();
            post(addr, "/fail/500").await;
            let excluded = seen(&b, &http, "passive", victim, ejected).await;
            post(addr, "/fail/off").await;
            seen(&b, &http, "passive", victim, EndpointView::routable).await;
            trials_at.push((victim.name.clone(), switched, excluded));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let report = load.stop().await;
        let (mut count, mut last, mut admin) = (Vec::new(), Vec::new(), Vec::new());
        for (name, switched, excluded) in &trials_at {
            let short = name.strip_prefix(&format!("{run}-")).unwrap_or(name);
            let after: Vec<&Record> = report
                .answered_by(short)
                .filter(|r| r.done >= *switched && r.sent <= *excluded)
                .collect();
            count.push(after.iter().filter(|r| r.status == 500).count() as f64);
            let last_answer = after.iter().map(|r| r.done).max().unwrap_or(*switched);
            last.push(ms(last_answer - *switched));
            admin.push(ms(*excluded - *switched));
        }
        let failed = report.failures().len();
        println!(
            "\n### Passive: replica switched to 500s → ejected ({trials} trials; 5 in a row, 4 client loops)\n"
        );
        println!("{TABLE_HEAD}");
        println!("{}", row("500s clients got from it after the switch", &count));
        println!("{}", row("switch → its last answer (ms)", &last));
        println!("{}", row("switch → `/api/services` shows it ejected (ms)", &admin));
        println!(
            "\nLoad: {} requests at {:.0} req/s, {failed} non-2xx in all. loadavg {}",
            report.records.len(),
            report.rate(),
            loadavg()
        );
    });
}

fn phase_active(rt: &tokio::runtime::Runtime, run: &RunId, image: &TestImage, net: &Network) {
    let trials = env_u64("TRIALS", 20) as usize;
    let interval = env_u64("INTERVAL_MS", 250);
    let (fall, rise) = (3, 2);
    let b = Berth::start(run, "");
    let reps = replicas(run, image, net, &b, "active", |c| {
        c.label(&b.label("health.path"), "/health")
            .label(&b.label("health.interval"), &format!("{interval}ms"))
            .label(&b.label("health.timeout"), &format!("{interval}ms"))
            .label(&b.label("health.fall"), &fall.to_string())
            .label(&b.label("health.rise"), &rise.to_string())
    });
    let http = client();
    rt.block_on(async {
        let ids: Vec<&str> = reps.iter().map(|c| c.id.as_str()).collect();
        b.wait_routable(&http, "active", &ids).await;
        let addrs: Vec<SocketAddr> = reps.iter().map(Container::addr).collect();
        let load = Load::start(&b.url("/active/"), 4);
        load.wait_answers(500).await;
        let mut trials_at = Vec::new();
        for t in 0..trials {
            let (victim, addr) = (&reps[t % reps.len()], addrs[t % reps.len()]);
            let switched = Instant::now();
            post(addr, "/health/fail").await;
            let excluded = seen(&b, &http, "active", victim, |e| {
                e.reason.as_deref() == Some("active check: failing")
            })
            .await;
            post(addr, "/health/ok").await;
            seen(&b, &http, "active", victim, EndpointView::routable).await;
            trials_at.push((victim.name.clone(), switched, excluded));
            // A phase unrelated to the checkers' ticks for the next trial.
            tokio::time::sleep(Duration::from_millis(200 + (t as u64 * 37) % interval)).await;
        }
        let report = load.stop().await;
        let (mut admin, mut last) = (Vec::new(), Vec::new());
        for (name, switched, excluded) in &trials_at {
            let short = name.strip_prefix(&format!("{run}-")).unwrap_or(name);
            let last_answer = report
                .answered_by(short)
                .filter(|r| r.sent <= *excluded)
                .map(|r| r.done)
                .max()
                .unwrap_or(*switched);
            admin.push(ms(*excluded - *switched));
            last.push(ms(last_answer.max(*switched) - *switched));
        }
        println!(
            "\n### Active: health switched to failing → excluded ({trials} trials; interval {interval} ms, timeout {interval} ms, fall {fall}, rise {rise}; bound fall × interval + timeout = {} ms)\n",
            fall * interval + interval
        );
        println!("{TABLE_HEAD}");
        println!("{}", row("switch → `/api/services` shows it excluded (ms)", &admin));
        println!("{}", row("switch → its last answer through berth (ms)", &last));
        println!(
            "\nLoad: {} requests at {:.0} req/s, {} non-2xx. loadavg {}",
            report.records.len(),
            report.rate(),
            report.failures().len(),
            loadavg()
        );
    });
}

fn main() {
    if !require_engine() {
        return;
    }
    let phases = std::env::var("PHASES").unwrap_or_else(|_| "passive,active".into());
    let wants = |p: &str| phases.split(',').any(|x| x.trim() == p);
    let run = RunId::new();
    let _cleanup = run.cleanup();
    println!(
        "## berth failure → exclusion, run {run}\n\nEngine {}; {} cores; loadavg before: {}",
        docker_ok(&["version", "--format", "{{.Server.Version}}"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if wants("passive") {
        phase_passive(&rt, &run, &image, &net);
    }
    if wants("active") {
        phase_active(&rt, &run, &image, &net);
    }
    drop(net);
    drop(image);
    let left = run.leftovers();
    println!("\nLeft over after cleanup handles: {left:?}");
}
