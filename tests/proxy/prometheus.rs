//! berth under Prometheus's own tools: `promtool check metrics` finds nothing to lint in
//! `/metrics` once every kind of listener (http, https, an https redirect, tcp,
//! tls-passthrough) has carried traffic; a real Prometheus server scrapes the admin listener,
//! sees the request counter rise, and runs every query of `config/grafana-dashboard.json`
//! without an error; and `promtool check config` accepts `config/prometheus.yml`.
//!
//! These need Prometheus 2.42 or newer (`prometheus` and `promtool`; Debian package
//! `prometheus`, which `scripts/test.sh` installs): without them the tests fail, never skip.

#[path = "prometheus_dashboard.rs"]
mod dashboard;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::tls_common::{self, path_str, Pki, SServer};

/// Generous: Prometheus starting and scraping on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// How often Prometheus is asked again (it scrapes every second: asking every 5 ms, as
/// `wait` does, would only load the machine).
const POLL: Duration = Duration::from_millis(250);

/// Checks `check` every [`POLL`] until it returns `Ok`; panics after [`DEADLINE`] naming
/// `what` and what `check` last said.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let started = std::time::Instant::now();
    loop {
        let seen = match check().await {
            Ok(done) => return done,
            Err(seen) => seen,
        };
        assert!(
            started.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The path of Prometheus's `tool` (`promtool`, `prometheus`): on `PATH` or in `/usr/bin`.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found: install Prometheus 2.42+ (Debian/Ubuntu: apt-get install \
                 prometheus; scripts/test.sh installs it)"
            )
        })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// A loopback address with a port free a moment ago (for a child process to listen on).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// berth with a listener of every kind, each with a service, named after `tag`:
/// `TAG-web` (http) and `TAG-secure` (https, certificate for `app.test`) serving `TAG-app`
/// (an HTTP backend with an active check), `TAG-redirect` (http → `TAG-secure`), `TAG-tcp`
/// serving `TAG-db` (an echo backend) and `TAG-tp` (tls-passthrough, `tp.test`) serving
/// `TAG-tls` (an `openssl s_server`).
struct Fleet {
    tag: &'static str,
    server: berth::server::Server,
    pki: Pki,
    backend: common::Backend,
    _tls_backend: SServer,
}

impl Fleet {
    async fn start(tag: &'static str) -> Self {
        let pki = Pki::new(tag);
        let (cert, key) = pki.issue("app", &["app.test"]);
        let (tp_cert, tp_key) = pki.issue("tp", &["tp.test"]);
        let tls_backend = blocking(move || SServer::start(&tp_cert, &tp_key)).await;
        let backend = common::backend("app").await;
        let db = common::echo("db").await;
        let yaml = format!(
            "listeners:\n\
             \x20 {tag}-web: {{ address: \"127.0.0.1:0\", protocol: http }}\n\
             \x20 {tag}-secure: {{ address: \"127.0.0.1:0\", protocol: https, tls: {{ certificates: [\n\
             \x20     {{ cert: \"{cert}\", key: \"{key}\" }} ] }} }}\n\
             \x20 {tag}-redirect: {{ address: \"127.0.0.1:0\", redirect: {{ to: {tag}-secure }} }}\n\
             \x20 {tag}-tcp: {{ address: \"127.0.0.1:0\", protocol: tcp }}\n\
             \x20 {tag}-tp: {{ address: \"127.0.0.1:0\", protocol: tls-passthrough }}\n\
             admin: {{ address: \"127.0.0.1:0\" }}\n\
             docker: {{ enabled: false }}\n\
             workers: 1\n\
             services:\n\
             \x20 {tag}-app: {{ listener: [{tag}-web, {tag}-secure], hosts: [app.test],\n\
             \x20     health: {{ path: /health, interval: 1s }}, backends: [\"{app}\"] }}\n\
             \x20 {tag}-db: {{ listener: {tag}-tcp, backends: [\"{db}\"] }}\n\
             \x20 {tag}-tls: {{ listener: {tag}-tp, hosts: [tp.test], backends: [\"127.0.0.1:{tp}\"] }}\n",
            cert = path_str(&cert),
            key = path_str(&key),
            app = backend.addr,
            tp = tls_backend.port,
        );
        let server = common::start(&yaml);
        Self {
            tag,
            server,
            pki,
            backend,
            _tls_backend: tls_backend,
        }
    }

    fn listener(&self, kind: &str) -> SocketAddr {
        let name = format!("{}-{kind}", self.tag);
        self.server.listener(&name).expect("listener")
    }

    fn admin(&self) -> String {
        format!("http://{}", self.server.admin)
    }

    /// One round of traffic through every listener, each answer checked: HTTP 200, 404 and
    /// 503; https over HTTP/1.1 and HTTP/2; a redirect; a TCP echo; a passthrough request.
    async fn traffic(&self) {
        let http = common::client();
        let web = format!("http://{}/", self.listener("web"));
        for (host, status) in [("app.test", 200), ("nowhere.test", 404)] {
            let r = http.get(&web).header("host", host).send().await;
            assert_eq!(r.expect("http request").status(), status, "{host}");
        }
        self.backend.set_status(503);
        let r = http.get(&web).header("host", "app.test").send().await;
        self.backend.set_status(0);
        assert_eq!(r.expect("http request").status(), 503);

        let (code, head, _) = common::curl(self.listener("redirect"), "app.test", "/x", &[]);
        assert_eq!(code, 301, "{head}");

        let secure = self.listener("secure").port();
        let ca = path_str(&self.pki.ca);
        for version in ["--http1.1", "--http2"] {
            let args = [
                version.to_owned(),
                "--cacert".to_owned(),
                ca.clone(),
                "--resolve".to_owned(),
                format!("app.test:{secure}:127.0.0.1"),
                format!("https://app.test:{secure}/"),
            ];
            let (ok, out, err) =
                blocking(move || tls_common::curl(&args.each_ref().map(String::as_str))).await;
            assert!(ok && out == "app", "https {version}: {out} {err}");
        }

        let mut s = TcpStream::connect(self.listener("tcp")).await.expect("tcp");
        s.write_all(b"ping").await.expect("tcp write");
        s.shutdown().await.expect("tcp shutdown");
        let mut echoed = String::new();
        s.read_to_string(&mut echoed).await.expect("tcp read");
        assert_eq!(echoed, "db\nping");

        let tp = self.listener("tp").port();
        let args = [
            "--cacert".to_owned(),
            ca,
            "--resolve".to_owned(),
            format!("tp.test:{tp}:127.0.0.1"),
            format!("https://tp.test:{tp}/"),
        ];
        let (ok, out, err) =
            blocking(move || tls_common::curl(&args.each_ref().map(String::as_str))).await;
        assert!(ok && out.contains("s_server"), "passthrough: {out} {err}");
    }

    async fn metrics(&self) -> String {
        let r = common::client()
            .get(format!("{}/metrics", self.admin()))
            .send()
            .await
            .expect("metrics");
        r.text().await.expect("metrics text")
    }
}

/// Runs `promtool` with `args` and `stdin`; (exit success, stdout and stderr).
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .expect("write to promtool");
    drop(input);
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_nothing_to_lint_in_metrics() {
    let fleet = Fleet::start("promlint").await;
    fleet.traffic().await;
    let text = fleet.metrics().await;
    for series in [
        "berth_requests_total{listener=\"promlint-secure\"",
        "berth_tls_handshakes_total{listener=\"promlint-secure\"",
        "berth_redirects_total{listener=\"promlint-redirect\"",
        "berth_tcp_bytes_total{service=\"promlint-db\"",
        "berth_tcp_connections_total{listener=\"promlint-tp\"",
        "berth_request_duration_seconds_bucket{service=\"promlint-app\"",
    ] {
        assert!(text.contains(series), "no {series}… in\n{text}");
    }
    let (ok, out) = blocking(move || promtool(&["check", "metrics"], &text)).await;
    assert!(
        ok && out.trim().is_empty(),
        "promtool check metrics on berth's /metrics:\n{out}"
    );
}

#[test]
fn prometheus_yml_is_a_valid_prometheus_config() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus.yml");
    let (ok, out) = promtool(&["check", "config", &path_str(&file)], "");
    assert!(ok, "promtool check config config/prometheus.yml:\n{out}");
    let text = std::fs::read_to_string(&file).expect("read config/prometheus.yml");
    for want in ["static_configs", "docker_sd_configs", "relabel_configs"] {
        assert!(text.contains(want), "config/prometheus.yml has no {want}");
    }
}

/// A Prometheus server scraping one target every second, in a temp directory; killed and
/// its directory removed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Prometheus {
    /// Starts Prometheus with job `job` scraping `target` (`ip:port`) and waits until it is
    /// ready. A port taken between choosing it and Prometheus binding it is chosen again.
    fn start(tag: &str, job: &str, target: SocketAddr) -> Self {
        let dir = std::env::temp_dir().join(format!("berth-prom-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
                 scrape_configs:\n\
                 \x20 - job_name: {job}\n\
                 \x20   scrape_interval: 1s\n\
                 \x20   static_configs: [ {{ targets: [\"{target}\"] }} ]\n"
            ),
        )
        .expect("write prometheus.yml");
        let log = dir.join("prometheus.log");
        for _ in 0..3 {
            let listen = free_addr();
            let out = std::fs::File::create(&log).expect("log file");
            let child = Command::new(tool("prometheus"))
                .arg(format!("--config.file={}", path_str(&config)))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    path_str(&dir.join("data"))
                ))
                .arg(format!("--web.listen-address={listen}"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log file"))
                .stderr(out)
                .spawn()
                .expect("run prometheus");
            let mut prometheus = Self {
                child,
                dir: dir.clone(),
                url: format!("http://{listen}"),
            };
            let started = std::time::Instant::now();
            let exited = loop {
                if matches!(prometheus.child.try_wait(), Ok(Some(_))) {
                    break true;
                }
                if ready(listen) {
                    break false;
                }
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(
                    started.elapsed() < DEADLINE,
                    "Prometheus not ready after {DEADLINE:?}:\n{said}"
                );
                std::thread::sleep(POLL);
            };
            if !exited {
                return prometheus;
            }
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if !said.contains("address already in use") {
                panic!("prometheus exited:\n{said}");
            }
            prometheus.dir = PathBuf::new(); // keep the directory for the next attempt
        }
        panic!("prometheus found no free port in 3 attempts");
    }

    /// Runs `query` (PromQL, instant); the API's whole answer.
    async fn query(&self, query: &str) -> Value {
        let r = common::client()
            .post(format!("{}/api/v1/query", self.url))
            .form(&[("query", query)])
            .send()
            .await
            .expect("query Prometheus");
        r.json().await.expect("Prometheus answers JSON")
    }

    /// The value of `query`'s single sample, or why there is none.
    async fn value(&self, query: &str) -> Result<f64, String> {
        let answer = self.query(query).await;
        let result = &answer["data"]["result"];
        match result.as_array().map(Vec::as_slice) {
            Some([one]) => one["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| answer.to_string()),
            _ => Err(answer.to_string()),
        }
    }
}

/// Whether Prometheus on `addr` answers `/-/ready` with 200.
fn ready(addr: SocketAddr) -> bool {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "2", "--noproxy", "*", "-o", "/dev/null"])
        .args(["-w", "%{http_code}"])
        .arg(format!("http://{addr}/-/ready"))
        .output();
    out.is_ok_and(|o| o.stdout == b"200")
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scrapes_berth_and_runs_the_dashboard_queries() {
    let fleet = Fleet::start("promreal").await;
    let target = fleet.server.admin;
    let prom = blocking(move || Prometheus::start("promreal", "berth", target)).await;

    eventually("up{job=\"berth\"} == 1", || async {
        let up = prom.value("up{job=\"berth\"}").await?;
        (up == 1.0).then_some(()).ok_or(format!("up = {up}"))
    })
    .await;
    let requests = "sum(berth_requests_total{service=\"promreal-app\"})";
    let first = eventually("berth_requests_total scraped", || prom.value(requests)).await;
    // One round answers 4 requests of promreal-app (200, 503, two over https).
    fleet.traffic().await;
    eventually("berth_requests_total to rise in Prometheus", || async {
        match prom.value(requests).await? {
            v if v >= first + 4.0 => Ok(()),
            v => Err(format!("{v}, first reading {first}")),
        }
    })
    .await;

    // Every dashboard query parses and runs (with "All" chosen, and with this service).
    let doc = dashboard::load();
    let queries = dashboard::queries(&doc);
    assert!(queries.len() >= 15, "{} queries", queries.len());
    let mut failed = Vec::new();
    for (title, expr) in &queries {
        for service in [".*", "promreal-app"] {
            let q = dashboard::concrete(expr, service, ".*", "30s");
            let answer = prom.query(&q).await;
            if answer["status"] != "success" {
                failed.push(format!("{title}: {q}\n  {answer}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "queries Prometheus refused:\n{}",
        failed.join("\n")
    );

    // And the panels about what this berth did show it.
    for title in [
        "Requests/s by service and code class",
        "Latency p50 / p99 by service",
        "Requests/s by endpoint",
        "Latency p99 by endpoint",
        "In flight by endpoint",
        "Endpoints routable / excluded",
        "Connections active by listener",
        "TLS handshakes/s",
        "Certificate expiry (days left)",
        "Memory (RSS)",
    ] {
        let exprs: Vec<String> = queries
            .iter()
            .filter(|(t, _)| t == title)
            .map(|(_, e)| dashboard::concrete(e, "promreal-app", ".*", "30s"))
            .collect();
        assert!(!exprs.is_empty(), "no panel titled {title:?}");
        for q in exprs {
            eventually(&format!("data for {title:?}: {q}"), || async {
                let answer = prom.query(&q).await;
                match answer["data"]["result"].as_array() {
                    Some(r) if !r.is_empty() => Ok(()),
                    _ => Err(answer.to_string()),
                }
            })
            .await;
        }
    }

    // Status classes are named `2xx`, `5xx` (not emptied by `$1xx`, a group named `1xx`).
    let (_, by_class) = queries
        .iter()
        .find(|(t, _)| t == "Requests/s by service and code class")
        .expect("requests panel");
    let q = dashboard::concrete(by_class, "promreal-app", ".*", "30s");
    let answer = prom.query(&q).await;
    let classes: Vec<&str> = answer["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .filter_map(|r| r["metric"]["code_class"].as_str())
        .collect();
    for class in ["2xx", "5xx"] {
        assert!(classes.contains(&class), "no {class} in {answer}");
    }
}
