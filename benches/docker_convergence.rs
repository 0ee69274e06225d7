//! Docker discovery against the real engine: how fast containers become routes.
//!
//! Three measurements (issue 3, "Speed"), printed as markdown tables:
//!
//! 1. **Convergence** of containers without HEALTHCHECK: `K` containers (default 30), each its
//!    own service on path `/conv<i>`, started one after another. Per container: berth's own
//!    `berth_discovery_convergence_seconds` sample (engine event time → snapshot published; read
//!    exactly as the change of the histogram's `_sum` on `/metrics`), and end to end as a client
//!    sees it: from the engine's `start` event (`timeNano` from `docker events`), from the
//!    `docker start` call and from its return, to the first 200 from that replica through berth
//!    (a poller hits berth every ~1 ms from before the start). Target: p99 ≤ 50 ms.
//! 2. **Drain after `kill`** under continuous load (2 client loops through berth to a service of
//!    3 replicas): `docker kill -s TERM` one replica, `KILLS` times (default 20, a fresh replica
//!    replaces each victim). Per kill: from just before the `docker kill` call, and from the
//!    engine's `kill` event, to `/api/services` showing the victim `excluded (draining)` (polled
//!    in a tight loop), and to the last response the load got from the victim (an upper bound on
//!    the last request berth newly sent it). Target ≤ 10 ms. Failed client requests are counted.
//! 3. **Scale**: `SCALE` containers (default 200) in `SCALE/5` services already running, then
//!    `Server::start`: time to `/api/services` showing all of them routable (list-to-serving),
//!    `SCALE_REPEATS` times (default 5). Target at 1,000: ≤ 2 s.
//!
//! `PHASES` (default `convergence,drain,scale`) picks the parts; `SCALE_PARALLEL` (default 4)
//! is how many `docker run`s the set-up issues at once. Machine load (`/proc/loadavg` and CPU
//! busy share from `/proc/stat`) is printed per phase: the machine is shared. Everything the
//! run creates carries its run label and is removed at the end, also on panic.
//!
//! Run: `cargo bench --bench docker_convergence` (e.g. `K=100 SCALE=1000 cargo bench --bench
//! docker_convergence`).

#[path = "../tests/docker/docker_common/mod.rs"]
mod docker_common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use docker_common::*;

const CONVERGENCE_METRIC: &str = "berth_discovery_convergence_seconds";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `a - b` in milliseconds, negative when `a` is earlier.
fn ms_between(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

/// Nearest-rank percentile of `samples` (sorted here).
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
    "| measurement (ms) | n | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |";

/// Machine load over a phase: load averages and the share of CPU time not idle.
struct Load {
    start: (u64, u64),
}

impl Load {
    fn cpu() -> (u64, u64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        (total, idle)
    }

    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn begin() -> Load {
        Load { start: Self::cpu() }
    }

    fn end(&self) -> String {
        let (total, idle) = Self::cpu();
        let dt = total.saturating_sub(self.start.0).max(1);
        let di = idle.saturating_sub(self.start.1);
        format!(
            "CPU busy {:.0}% of 2 cores over the phase (this run included); loadavg {}",
            100.0 * (dt - di) as f64 / dt as f64,
            Self::loadavg()
        )
    }
}

/// `docker events` for this run's containers: (container id, action) → engine time.
struct EngineEvents {
    child: Child,
    seen: Arc<Mutex<HashMap<(String, String), SystemTime>>>,
}

impl EngineEvents {
    /// Container events of this run's containers.
    fn containers(run: &RunId) -> EngineEvents {
        Self::follow(&["--filter", &run.filter(), "--filter", "type=container"])
    }

    /// Network events of `network` (keyed by the container's id).
    fn network(network: &Network) -> EngineEvents {
        let filter = format!("network={}", network.name);
        Self::follow(&["--filter", "type=network", "--filter", &filter])
    }

    fn follow(filters: &[&str]) -> EngineEvents {
        let mut child = Command::new("docker")
            .arg("events")
            .args(filters)
            .args(["--format", "{{json .}}"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events");
        let stdout = child.stdout.take().expect("piped stdout");
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let id = match v["Type"].as_str() {
                    Some("network") => v["Actor"]["Attributes"]["container"].as_str(),
                    _ => v["id"].as_str(),
                };
                let (Some(id), Some(action), Some(nanos)) =
                    (id, v["Action"].as_str(), v["timeNano"].as_u64())
                else {
                    continue;
                };
                let action = action.split(':').next().unwrap_or("").trim().to_owned();
                let at = UNIX_EPOCH + Duration::from_nanos(nanos);
                sink.lock()
                    .expect("events lock")
                    .entry((id.to_owned(), action))
                    .or_insert(at);
            }
        });
        EngineEvents { child, seen }
    }

    /// Engine time of `action` on container `id` (waits up to 5 s for the event to arrive).
    fn time_of(&self, id: &str, action: &str) -> Option<SystemTime> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let key = (id.to_owned(), action.to_owned());
            if let Some(at) = self.seen.lock().expect("events lock").get(&key) {
                return Some(*at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for EngineEvents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-process berth following the engine, with labels under its own prefix.
struct Berth {
    server: Option<berth::server::Server>,
    prefix: String,
}

impl Berth {
    fn start(prefix: &str) -> Berth {
        let yaml = format!(
            "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
             admin: {{ address: \"127.0.0.1:0\" }}\n\
             docker: {{ enabled: true, label_prefix: {prefix} }}\n\
             defaults: {{ balance: round_robin, timeouts: {{ connect: 1s }} }}\n\
             log: {{ level: warn }}\n\
             workers: 1\n"
        );
        let config = berth::config::parse(&yaml, "bench.yaml").unwrap_or_else(|e| panic!("{e}"));
        let server = berth::server::Server::start(config, None).expect("berth starts");
        Berth {
            server: Some(server),
            prefix: prefix.to_owned(),
        }
    }

    fn label(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    fn server(&self) -> &berth::server::Server {
        self.server.as_ref().expect("running")
    }

    fn url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.server().listener("web").expect("web")
        )
    }

    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.server().admin)
    }

    /// `/api/services` as (service, address, state, reason) rows.
    async fn endpoints(&self, http: &reqwest::Client) -> Vec<(String, String, String, String)> {
        let Ok(answer) = http.get(self.admin("/api/services")).send().await else {
            return Vec::new();
        };
        let doc: serde_json::Value = answer.json().await.unwrap_or_default();
        let mut rows = Vec::new();
        for s in doc["services"].as_array().into_iter().flatten() {
            for e in s["endpoints"].as_array().into_iter().flatten() {
                rows.push((
                    s["name"].as_str().unwrap_or("").to_owned(),
                    e["address"].as_str().unwrap_or("").to_owned(),
                    e["state"].as_str().unwrap_or("").to_owned(),
                    e["reason"].as_str().unwrap_or("").to_owned(),
                ));
            }
        }
        rows
    }

    async fn routable(&self, http: &reqwest::Client) -> usize {
        self.endpoints(http)
            .await
            .iter()
            .filter(|e| e.2 == "routable")
            .count()
    }

    /// The convergence histogram's (count, sum) on `/metrics`.
    async fn convergence(&self, http: &reqwest::Client) -> (u64, f64) {
        let text = http
            .get(self.admin("/metrics"))
            .send()
            .await
            .expect("/metrics")
            .text()
            .await
            .expect("/metrics body");
        let value = |suffix: &str| {
            let name = format!("{CONVERGENCE_METRIC}{suffix}");
            text.lines()
                .filter(|l| l.starts_with(&name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .next()
                .unwrap_or(0.0)
        };
        (value("_count") as u64, value("_sum"))
    }

    /// The convergence histogram's buckets (`le` → cumulative count).
    async fn buckets(&self, http: &reqwest::Client) -> Vec<(String, u64)> {
        let text = http
            .get(self.admin("/metrics"))
            .send()
            .await
            .expect("/metrics")
            .text()
            .await
            .expect("/metrics body");
        let prefix = format!("{CONVERGENCE_METRIC}_bucket{{le=\"");
        text.lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|l| {
                let (le, count) = l.split_once("\"} ")?;
                Some((le.to_owned(), count.trim().parse::<f64>().ok()? as u64))
            })
            .collect()
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// Polls `url` through berth until a 200 from replica `name`; its monotonic and wall time.
async fn first_ok(http: reqwest::Client, url: String, name: String) -> (Instant, SystemTime) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(&url).send().await {
            let ok = r.status() == 200
                && r.headers().get("x-replica").and_then(|v| v.to_str().ok()) == Some(&name);
            let (at, wall) = (Instant::now(), SystemTime::now());
            let _ = r.bytes().await;
            if ok {
                return (at, wall);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered from {name}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn phase_convergence(
    rt: &tokio::runtime::Runtime,
    run: &RunId,
    image: &TestImage,
    net: &Network,
    (events, net_events): (&EngineEvents, &EngineEvents),
    k: usize,
) {
    let load = Load::begin();
    let berth = Berth::start(&format!("c{}", run.as_str().replace('-', "")));
    let http = client();
    let mut containers = Vec::new();
    let (mut from_berth, mut from_event, mut from_call, mut from_return) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut connect_to_start, mut berth_pairs) = (Vec::new(), Vec::new());
    let buckets_before = rt.block_on(berth.buckets(&http));
    for i in 0..k {
        let name = format!("conv{i}");
        let c = ContainerBuilder::new(run, image)
            .name(&name)
            .env("NAME", &name)
            .label(&berth.label("enable"), "true")
            .label(&berth.label("service"), &name)
            .label(&berth.label("http.path"), &format!("/{name}"))
            .network(net)
            .create();
        rt.block_on(async {
            let before = berth.convergence(&http).await;
            let poller = tokio::spawn(first_ok(
                http.clone(),
                berth.url(&format!("/{name}/")),
                name.clone(),
            ));
            tokio::time::sleep(Duration::from_millis(20)).await;
            let called = Instant::now();
            let id = c.id.clone();
            blocking(move || docker_ok(&["start", &id])).await;
            let returned = Instant::now();
            let (ok_at, ok_wall) = poller.await.expect("poller");
            // Both of the container's samples (see the note below) land before it is read.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut after = berth.convergence(&http).await;
            let waited = Instant::now();
            while after.0 < before.0 + 2 && waited.elapsed() < Duration::from_secs(2) {
                tokio::time::sleep(Duration::from_millis(2)).await;
                after = berth.convergence(&http).await;
            }
            // Samples berth recorded for this container: normally two, one for the
            // `network connect` event and one for `start` (see the notes printed below).
            let (samples, sum) = (after.0 - before.0, (after.1 - before.1) * 1e3);
            from_call.push(ms(ok_at - called));
            from_return.push(ms(ok_at - called) - ms(returned - called));
            let start = events.time_of(&c.id, "start");
            let connect = net_events.time_of(&c.id, "connect");
            if let Some(at) = start {
                from_event.push(ms_between(ok_wall, at));
            } else {
                eprintln!("{name}: no start event seen");
            }
            match (samples, start, connect) {
                (1, _, _) => from_berth.push(sum),
                (2, Some(start), Some(connect)) => {
                    // Both published by one rebuild (the engine answers the `connect`
                    // event's inspect only once the start is done): sum = 2·publish −
                    // connect − start, so the `start` sample is (sum − (start − connect)) / 2.
                    let gap = ms_between(start, connect);
                    connect_to_start.push(gap);
                    from_berth.push((sum - gap) / 2.0);
                    berth_pairs.push(sum);
                }
                _ => eprintln!("{name}: {samples} histogram samples, {sum:.1} ms in all (skipped)"),
            }
        });
        containers.push(c);
    }
    let buckets_after = rt.block_on(berth.buckets(&http));
    println!("\n### Convergence, {k} containers without HEALTHCHECK started one after another\n");
    println!("{TABLE_HEAD}");
    println!(
        "{}",
        row(
            "berth histogram, `start` event's sample → snapshot published (derived, see note)",
            &from_berth
        )
    );
    println!(
        "{}",
        row(
            "engine `network connect` event → `start` event (same container)",
            &connect_to_start
        )
    );
    println!(
        "{}",
        row(
            "engine `start` event → first 200 via berth (client poll, ~1 ms)",
            &from_event
        )
    );
    println!(
        "{}",
        row("`docker start` called → first 200 via berth", &from_call)
    );
    println!(
        "{}",
        row(
            "`docker start` returned → first 200 (negative: served before the CLI returned)",
            &from_return
        )
    );
    let deltas: Vec<String> = buckets_after
        .iter()
        .map(|(le, n)| {
            let was = buckets_before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0, |b| b.1);
            format!("≤{le}s: {}", n - was)
        })
        .collect();
    println!(
        "\nHistogram `{CONVERGENCE_METRIC}` over the phase (cumulative): {}",
        deltas.join(", ")
    );
    println!(
        "\nNote: {} of {k} starts put two samples in berth's histogram: the engine emits \
         `network connect` when it starts setting up the container (before the process runs) and \
         `start` when it is done; berth inspects on both and times each from its own event. The \
         `start` sample is derived from the pair's sum and the two event times (both published by \
         one rebuild).",
        berth_pairs.len()
    );
    println!("\nLoad: {}", load.end());
    drop(berth);
    blocking_drop(containers);
}

/// Removes containers with a few `docker rm -f` at once.
fn blocking_drop(containers: Vec<Container>) {
    let ids: Vec<String> = containers.iter().map(|c| c.id.clone()).collect();
    for chunk in ids.chunks(100) {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(chunk.iter().map(String::as_str));
        let _ = docker(&args);
    }
    drop(containers);
}

fn phase_drain(
    rt: &tokio::runtime::Runtime,
    run: &RunId,
    image: &TestImage,
    net: &Network,
    events: &EngineEvents,
    kills: usize,
) {
    const REPLICAS: usize = 3;
    let load = Load::begin();
    let berth = Arc::new(Berth::start(&format!("d{}", run.as_str().replace('-', ""))));
    let http = client();
    let next = AtomicUsize::new(0);
    let start_replica = || {
        let name = format!("drain{}", next.fetch_add(1, Ordering::Relaxed));
        ContainerBuilder::new(run, image)
            .name(&name)
            .env("NAME", &name)
            .label(&berth.label("enable"), "true")
            .label(&berth.label("service"), "drain")
            .label(&berth.label("http.path"), "/drain")
            .network(net)
            .start()
    };
    let mut replicas: Vec<Container> = (0..REPLICAS).map(|_| start_replica()).collect();
    let routable_count = |n: usize| {
        rt.block_on(wait_until(
            Duration::from_secs(15),
            "drain replicas routable",
            || async { berth.routable(&http).await == n },
        ));
    };
    routable_count(REPLICAS);

    // Continuous load: (replica name, response received) of every answer, and failures.
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(String, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let failed: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let loaders: Vec<_> = (0..2)
        .map(|_| {
            let (stop, answers, failed, url, http) = (
                Arc::clone(&stop),
                Arc::clone(&answers),
                Arc::clone(&failed),
                berth.url("/drain/"),
                http.clone(),
            );
            rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            let at = Instant::now();
                            let name = r
                                .headers()
                                .get("x-replica")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            let _ = r.bytes().await;
                            answers.lock().expect("answers").push((name, at));
                        }
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            failed
                                .lock()
                                .expect("failed")
                                .push(format!("{status} {}", body.trim()));
                        }
                        Err(e) => failed.lock().expect("failed").push(e.to_string()),
                    }
                }
            })
        })
        .collect();

    let (mut seen_from_call, mut seen_from_event, mut last_from_call, mut last_from_event) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut answered_total = 0;
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(300));
        let victim = replicas.remove(0);
        let addr = victim.addr().to_string();
        let victim_name = victim.name.clone();
        let short = victim_name
            .strip_prefix(&format!("{run}-"))
            .unwrap_or(&victim_name)
            .to_owned();
        let (called, called_wall) = (Instant::now(), SystemTime::now());
        let id = victim.id.clone();
        let killer = std::thread::spawn(move || docker_ok(&["kill", "-s", "TERM", &id]));
        let seen = rt.block_on(async {
            loop {
                let rows = berth.endpoints(&http).await;
                let state = rows.iter().find(|e| e.1 == addr);
                match state {
                    Some((_, _, s, _)) if s == "routable" => {}
                    _ => break Instant::now(),
                }
                assert!(
                    called.elapsed() < Duration::from_secs(10),
                    "victim never left the rotation"
                );
            }
        });
        killer.join().expect("docker kill");
        let kill_event = events.time_of(&victim.id, "kill");
        // Let the victim exit (the replica finishes in-flight requests, then exits 0).
        let _ = events.time_of(&victim.id, "die");
        std::thread::sleep(Duration::from_millis(200));
        let last = answers
            .lock()
            .expect("answers")
            .iter()
            .filter(|(n, _)| *n == short)
            .map(|(_, at)| *at)
            .max();
        seen_from_call.push(ms(seen - called));
        if let Some(at) = kill_event {
            let called_to_event = ms_between(at, called_wall);
            seen_from_event.push(ms(seen - called) - called_to_event);
            if let Some(last) = last {
                let last_ms = if last >= called {
                    ms(last - called)
                } else {
                    -ms(called - last)
                };
                last_from_event.push(last_ms - called_to_event);
            }
        }
        if let Some(last) = last {
            last_from_call.push(if last >= called {
                ms(last - called)
            } else {
                -ms(called - last)
            });
        }
        drop(victim);
        replicas.push(start_replica());
        routable_count(REPLICAS);
        answered_total = answers.lock().expect("answers").len();
    }
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        let _ = rt.block_on(l);
    }
    println!("\n### Drain after `docker kill -s TERM`, {kills} kills under continuous load (2 client loops, {REPLICAS} replicas)\n");
    println!("{TABLE_HEAD}");
    println!(
        "{}",
        row(
            "`docker kill` called → `/api/services` shows it excluded (draining)",
            &seen_from_call
        )
    );
    println!(
        "{}",
        row(
            "engine `kill` event → `/api/services` shows it excluded",
            &seen_from_event
        )
    );
    println!(
        "{}",
        row(
            "`docker kill` called → last response from the victim (≥ last new pick)",
            &last_from_call
        )
    );
    println!(
        "{}",
        row(
            "engine `kill` event → last response from the victim",
            &last_from_event
        )
    );
    let failed = failed.lock().expect("failed");
    println!(
        "\nLoad requests: {answered_total} answered, {} failed {:?}. Load: {}",
        failed.len(),
        failed,
        load.end()
    );
    drop(berth);
    blocking_drop(replicas);
}

fn phase_scale(
    rt: &tokio::runtime::Runtime,
    run: &RunId,
    image: &TestImage,
    net: &Network,
    n: usize,
    repeats: usize,
    parallel: usize,
) {
    let services = (n / 5).max(1);
    let prefix = format!("s{}", run.as_str().replace('-', ""));
    let setup = Instant::now();
    let containers: Mutex<Vec<Container>> = Mutex::new(Vec::with_capacity(n));
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let name = format!("scale{i}");
                let service = format!("s{}", i % services);
                let c = ContainerBuilder::new(run, image)
                    .name(&name)
                    .env("NAME", &name)
                    .label(&format!("{prefix}.enable"), "true")
                    .label(&format!("{prefix}.service"), &service)
                    .label(&format!("{prefix}.http.path"), &format!("/{service}"))
                    .network(net)
                    .start();
                containers.lock().expect("containers").push(c);
                if (i + 1) % 100 == 0 {
                    eprintln!("scale: {} containers started", i + 1);
                }
            });
        }
    });
    let containers = containers.into_inner().expect("containers");
    let setup = setup.elapsed();
    let load = Load::begin();
    let http = client();
    let mut list_to_serving = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        let berth = Berth::start(&prefix);
        let took = rt.block_on(async {
            loop {
                if berth.routable(&http).await == n {
                    break started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "not all {n} routable after 120 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        // One request through berth to a service, as a sanity check that routes serve.
        let status = rt.block_on(async {
            http.get(berth.url("/s0/"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        assert_eq!(status.ok(), Some(200), "GET /s0/ through berth");
        list_to_serving.push(ms(took));
        drop(berth);
    }
    println!("\n### Scale: {n} running containers in {services} services, then `Server::start`\n");
    println!("{TABLE_HEAD}");
    println!(
        "{}",
        row(
            "`Server::start` → `/api/services` shows all routable",
            &list_to_serving
        )
    );
    println!(
        "\nSet-up: {n} containers started in {:.0} s ({parallel} `docker run`s at once). Load during the measurement: {}",
        setup.as_secs_f64(),
        load.end()
    );
    blocking_drop(containers);
}

fn main() {
    if !require_engine() {
        return;
    }
    let k = env_usize("K", 30);
    let kills = env_usize("KILLS", 20);
    let scale = env_usize("SCALE", 200);
    let repeats = env_usize("SCALE_REPEATS", 5);
    let parallel = env_usize("SCALE_PARALLEL", 4);
    let phases = std::env::var("PHASES").unwrap_or_else(|_| "convergence,drain,scale".into());
    let wants = |p: &str| phases.split(',').any(|x| x.trim() == p);

    let run = RunId::new();
    let _cleanup = run.cleanup();
    println!(
        "## berth Docker discovery, run {run}\n\nEngine {}; {} cores; loadavg before: {}",
        docker_ok(&["version", "--format", "{{.Server.Version}}"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Load::loadavg()
    );
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let events = EngineEvents::containers(&run);
    let net_events = EngineEvents::network(&net);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if wants("convergence") {
        phase_convergence(&rt, &run, &image, &net, (&events, &net_events), k);
    }
    if wants("drain") {
        phase_drain(&rt, &run, &image, &net, &events, kills);
    }
    if wants("scale") {
        phase_scale(&rt, &run, &image, &net, scale, repeats, parallel);
    }
    drop(events);
    drop(net_events);
    drop(net);
    drop(image);
    let left = run.leftovers();
    println!("\nLeft over after cleanup handles: {left:?}");
}
