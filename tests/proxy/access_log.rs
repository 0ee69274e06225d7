//! The access log and trace context: each format's line after real requests, the file
//! target and its reopening on SIGUSR1, body byte counts, and `traceparent` handling.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{backend, base, client, curl, start, yaml};
use crate::wait::{wait_for, wait_until};

/// The longest any step may take.
const TIMEOUT: Duration = Duration::from_secs(10);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A fresh directory for test `tag`'s log files.
fn log_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-access-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// berth with one service `s` for `shop.test` in front of `backend`, and the `log:` section.
fn config(backend: std::net::SocketAddr, log: &str) -> String {
    let services =
        format!("  s: {{ listener: web, hosts: [shop.test], backends: [\"{backend}\"] }}\n");
    format!("{}log: {log}\n", yaml(&services))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The first `n` lines of `path`, once it has them.
async fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_for(
        TIMEOUT,
        &format!("{n} lines in {}", path.display()),
        || async {
            let got = lines(path);
            match got.len() >= n {
                true => Ok(got),
                false => Err(format!("{got:?}")),
            }
        },
    )
    .await
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_have_every_field() {
    let echo = backend("echo").await;
    let file = log_dir("json").join("access.log");
    let log = format!(
        "{{ access_log: {{ format: json, path: \"{}\" }} }}",
        file.display()
    );
    let server = start(&config(echo.addr, &log));
    let http = client();
    let url = base(&server);
    let got = http
        .get(format!("{url}/download?bytes=100000"))
        .header("host", "shop.test")
        .header("user-agent", "tester/1")
        .header("referer", "http://from.test/")
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .expect("download");
    assert_eq!(got.bytes().await.expect("body").len(), 100_000);
    let up = http
        .post(format!("{url}/upload"))
        .header("host", "shop.test")
        .body(vec![7u8; 1234])
        .send()
        .await
        .expect("upload");
    assert_eq!(up.text().await.expect("body"), "1234");
    let missing = http.get(format!("{url}/x")).header("host", "other.test");
    assert_eq!(missing.send().await.expect("404").status(), 404);

    let all = wait_lines(&file, 3).await;
    let download = json(&all[0]);
    assert_eq!(download["listener"], "web");
    assert_eq!(download["service"], "s");
    assert_eq!(download["endpoint"], echo.addr.to_string());
    assert_eq!(download["container"], "static service s");
    assert_eq!(download["client"], "127.0.0.1");
    assert_eq!(download["method"], "GET");
    assert_eq!(download["host"], "shop.test");
    assert_eq!(download["path"], "/download");
    assert_eq!(download["status"], 200);
    assert_eq!(download["bytes_in"], 0);
    assert_eq!(download["bytes_out"], 100_000);
    assert_eq!(download["retries"], 0);
    assert_eq!(download["error"], serde_json::Value::Null);
    assert_eq!(download["user_agent"], "tester/1");
    assert_eq!(download["referer"], "http://from.test/");
    assert_eq!(download["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let (total, upstream) = (&download["duration_ms"], &download["upstream_ms"]);
    assert!(
        total.as_f64().unwrap() >= upstream.as_f64().unwrap(),
        "{download}"
    );
    assert!(
        download["time"].as_str().unwrap().ends_with('Z'),
        "{download}"
    );

    let upload = json(&all[1]);
    assert_eq!(
        (upload["method"].as_str(), upload["bytes_in"].as_u64()),
        (Some("POST"), Some(1234))
    );
    assert_eq!(upload["bytes_out"], 4);
    assert_eq!(upload["trace_id"], serde_json::Value::Null);

    let refused = json(&all[2]);
    assert_eq!(refused["status"], 404);
    assert_eq!(refused["error"], "no_route");
    assert_eq!(refused["service"], serde_json::Value::Null);
    assert_eq!(refused["upstream_ms"], serde_json::Value::Null);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_and_combined_lines() {
    let echo = backend("echo").await;
    let dir = log_dir("clf");
    for format in ["common", "combined"] {
        let file = dir.join(format!("{format}.log"));
        let log = format!(
            "{{ access_log: {{ format: {format}, path: \"{}\" }} }}",
            file.display()
        );
        let server = start(&config(echo.addr, &log));
        let addr = server.listener("web").expect("web");
        let extra = ["-A", "agent \"x\"", "-e", "http://from.test/"];
        let (status, _, _) = tokio::task::spawn_blocking(move || {
            curl(addr, "shop.test", "/download?bytes=2326", &extra)
        })
        .await
        .expect("curl");
        assert_eq!(status, 200);
        let line = wait_lines(&file, 1).await.remove(0);
        let (head, rest) = line.split_once(" [").expect("a time in brackets");
        assert_eq!(head, "127.0.0.1 - -");
        let (time, rest) = rest.split_once("] ").expect("the time's end");
        assert!(time.ends_with(" +0000") && time.len() == 26, "{time}");
        let request = "\"GET /download HTTP/1.1\" 200 2326";
        match format {
            "common" => assert_eq!(rest, request),
            _ => assert_eq!(
                rest,
                format!("{request} \"http://from.test/\" \"agent \\x22x\\x22\"")
            ),
        }
        server.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reopens_the_file() {
    let echo = backend("echo").await;
    let dir = log_dir("reopen");
    let (file, rotated) = (dir.join("access.log"), dir.join("access.log.1"));
    let log = format!("{{ access_log: {{ path: \"{}\" }} }}", file.display());
    // The server installs the SIGUSR1 handler before it returns.
    let server = start(&config(echo.addr, &log));
    let http = client();
    let url = format!("{}/", base(&server));
    let get = || http.get(&url).header("host", "shop.test").send();
    assert_eq!(get().await.expect("request").status(), 200);
    wait_lines(&file, 1).await;
    std::fs::rename(&file, &rotated).expect("rotate");
    let kill = std::process::Command::new("kill")
        .args(["-USR1", &std::process::id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    // Lines written before the writer noticed the signal still go to the rotated file.
    let mut sent = 1;
    wait_until(TIMEOUT, "a line in the reopened file", || {
        sent += 1;
        async {
            let _ = get().await.expect("request");
            !lines(&file).is_empty()
        }
    })
    .await;
    wait_until(TIMEOUT, "every line written", || async {
        lines(&file).len() + lines(&rotated).len() == sent
    })
    .await;
    assert!(lines(&rotated)[0].contains("\"GET / HTTP/1.1\" 200 4"));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_is_still_logged() {
    let echo = backend("echo").await;
    let file = log_dir("gone").join("access.log");
    let log = format!(
        "{{ access_log: {{ format: json, path: \"{}\" }} }}",
        file.display()
    );
    let server = start(&config(echo.addr, &log));
    let big = 1u64 << 30;
    let response = client()
        .get(format!("{}/download?bytes={big}", base(&server)))
        .header("host", "shop.test")
        .send()
        .await
        .expect("head");
    assert_eq!(response.status(), 200);
    drop(response);
    let line = json(&wait_lines(&file, 1).await[0]);
    assert_eq!(line["status"], 200);
    assert_eq!(line["error"], "client_closed");
    assert!(line["bytes_out"].as_u64().unwrap() < big, "{line}");
    server.shutdown();
}

/// The `/headers` echo of a request through `server` with `headers`.
async fn echoed(server: &berth::server::Server, headers: &[(&str, &str)]) -> String {
    let mut req = client()
        .get(format!("{}/headers", base(server)))
        .header("host", "shop.test");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
}

/// The `traceparent` value in an echo.
fn traceparent(echo: &str) -> Option<&str> {
    echo.lines().find_map(|l| l.strip_prefix("traceparent: "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_passes_through_untouched() {
    let echo = backend("echo").await;
    let server = start(&config(echo.addr, "{ level: info }"));
    let state = ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    let seen = echoed(&server, &[("traceparent", TRACEPARENT), state]).await;
    assert_eq!(traceparent(&seen), Some(TRACEPARENT), "{seen}");
    assert!(
        seen.contains("tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\n"),
        "{seen}"
    );
    // Invalid, passed on as it is: berth does not start traces unless asked to.
    let seen = echoed(&server, &[("traceparent", "00-bad"), state]).await;
    assert_eq!(traceparent(&seen), Some("00-bad"), "{seen}");
    assert!(seen.contains("tracestate: "), "{seen}");
    let seen = echoed(&server, &[]).await;
    assert_eq!(traceparent(&seen), None, "{seen}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_start_begins_a_trace_and_logs_it() {
    let echo = backend("echo").await;
    let file = log_dir("trace").join("access.log");
    let log = format!(
        "{{ trace_context: start, access_log: {{ format: json, path: \"{}\" }} }}",
        file.display()
    );
    let server = start(&config(echo.addr, &log));
    let seen = echoed(&server, &[("tracestate", "orphan=1")]).await;
    let started = traceparent(&seen).expect("a traceparent sent").to_owned();
    assert_eq!(started.len(), 55, "{started}");
    assert!(
        started.starts_with("00-") && started.ends_with("-01"),
        "{started}"
    );
    assert!(
        !seen.contains("tracestate"),
        "an orphan tracestate is dropped: {seen}"
    );
    let kept = echoed(
        &server,
        &[("traceparent", TRACEPARENT), ("tracestate", "a=1")],
    )
    .await;
    assert_eq!(traceparent(&kept), Some(TRACEPARENT), "{kept}");
    assert!(kept.contains("tracestate: a=1\n"), "{kept}");
    let restarted = echoed(&server, &[("traceparent", "00-bad"), ("tracestate", "a=1")]).await;
    let new = traceparent(&restarted).expect("a traceparent sent");
    assert!(new != "00-bad" && new.len() == 55, "{restarted}");
    assert!(!restarted.contains("tracestate"), "{restarted}");

    let all = wait_lines(&file, 3).await;
    assert_eq!(json(&all[0])["trace_id"], started[3..35]);
    assert_eq!(json(&all[1])["trace_id"], TRACEPARENT[3..35]);
    assert_eq!(json(&all[2])["trace_id"], new[3..35]);
    server.shutdown();
}

#[tokio::test]
async fn an_unwritable_file_stops_the_start() {
    let dir = log_dir("unwritable");
    let path = dir.join("missing-dir").join("access.log");
    let text = format!(
        "{}log: {{ access_log: {{ path: \"{}\" }} }}\n",
        yaml(""),
        path.display()
    );
    let config = berth::config::parse(&text, "test.yaml").expect("valid");
    let err = berth::server::Server::start(config, None).expect_err("cannot open the log");
    let message = err.to_string();
    assert!(message.contains("cannot open to append"), "{message}");
    assert!(message.contains("missing-dir"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_timeouts_name_their_endpoint() {
    let echo = backend("echo").await;
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        l.local_addr().expect("addr")
    };
    let file = log_dir("retries").join("access.log");
    let services = format!(
        "  s: {{ listener: web, balance: round_robin, retries: 2, timeout: 300ms, \
         outlier: {{ consecutive_failures: 0 }}, backends: [\"{dead}\", \"{}\"] }}\n",
        echo.addr
    );
    let log = format!(
        "{{ access_log: {{ format: json, path: \"{}\" }} }}",
        file.display()
    );
    let server = start(&format!("{}log: {log}\n", yaml(&services)));
    let http = client();
    for _ in 0..4 {
        let r = http.get(base(&server)).send().await.expect("request");
        assert_eq!(r.status(), 200);
    }
    // A real slow backend: the request timeout is what is tested.
    let slow = http.get(format!("{}/slow?ms=3000", base(&server)));
    assert_eq!(slow.send().await.expect("timeout").status(), 504);

    let all: Vec<_> = wait_lines(&file, 5).await.iter().map(|l| json(l)).collect();
    for line in &all {
        assert_eq!(line["endpoint"], echo.addr.to_string(), "{line}");
    }
    assert!(all[..4].iter().any(|l| l["retries"] == 1), "{all:?}");
    assert_eq!(all[4]["error"], "timeout");
    assert_eq!(all[4]["status"], 504);
    assert_eq!(all[4]["upstream_ms"], serde_json::Value::Null);
    server.shutdown();
}
