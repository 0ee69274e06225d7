//! The admin dashboard (`/` of the admin listener) in a real browser: headless Chromium
//! loads the page while traffic flows through two services, one of them with an endpoint
//! failing its active check, and the test reads the DOM the page's script rendered (services,
//! endpoints, the exclusion reason, request rates from `/metrics`), then takes a phone-width
//! screenshot (`<target>/dashboard.png`).
//!
//! Chromium is required, never skipped: `scripts/test.sh` installs it (`BERTH_CHROMIUM`
//! names another binary). Headless Chromium's `--virtual-time-budget` lets the page's 2 s
//! polling timers run in virtual time while its fetches are real, so the page polls several
//! times in well under a second; rates are per virtual second, which is all the test needs
//! (a rate above zero).

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, backend, client, yaml};
use crate::wait::{wait_for, wait_until};

/// The longest one Chromium run may take before it is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
/// Virtual time the page runs for: six polls, 2 s apart.
const VIRTUAL_MS: u32 = 10_500;
/// A phone's width, in CSS pixels.
const PHONE: &str = "390,1200";

/// The Chromium binary: `BERTH_CHROMIUM`, or the first of the usual names on `PATH`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "BERTH_CHROMIUM={}: no such file",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the dashboard test needs headless Chromium and found none on PATH: install it \
         (Debian/Ubuntu: apt-get install chromium; scripts/test.sh installs it) or set \
         BERTH_CHROMIUM to the browser's path"
    );
}

/// Runs headless Chromium on `url` with `args` in a fresh profile under `dir`; its stdout.
/// Killed, with every process it started, after [`CHROMIUM_TIMEOUT`] and in any case once
/// it is done. Panics if the page's console reports a script error or a Content-Security-
/// Policy violation (the page's own script or style refused).
fn run_chromium(dir: &Path, url: &str, args: &[String]) -> Result<String, String> {
    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).map_err(|e| format!("profile dir: {e}"))?;
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let out = std::fs::File::create(&out_path).map_err(|e| format!("stdout file: {e}"))?;
    let err = std::fs::File::create(&err_path).map_err(|e| format!("stderr file: {e}"))?;
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--no-proxy-server",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--hide-scrollbars",
            // The page's console on stderr: CSP violations and uncaught errors.
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_MS}"))
        .arg(format!("--window-size={PHONE}"))
        .args(args)
        .arg(url)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: the timeout guard ends the browser's helpers too.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium().display()));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < CHROMIUM_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => break None,
        }
    };
    // The group is gone once the browser exits cleanly; this ends whatever is left.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let stderr: String = stderr
        .lines()
        .filter(|l| !l.contains("dbus"))
        .collect::<Vec<_>>()
        .join("\n");
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .filter(|l| l.contains("Content Security Policy") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "the page's console: {console:#?}");
    match status {
        Some(s) if s.success() => {
            std::fs::read_to_string(&out_path).map_err(|e| format!("stdout: {e}"))
        }
        Some(s) => Err(format!("chromium exited with {s}: {stderr}")),
        None => Err(format!(
            "chromium still running after {CHROMIUM_TIMEOUT:?}, killed: {stderr}"
        )),
    }
}

/// The attributes of every start tag of `html` (as Chromium serializes a DOM: values in
/// double quotes, `&quot;` and `&amp;` escaped).
fn tags(html: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let mut attrs = HashMap::new();
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>')
            .unwrap_or(rest.len());
        attrs.insert("<tag>".to_owned(), rest[..name_end].to_owned());
        rest = &rest[name_end..];
        loop {
            rest = rest.trim_start();
            if rest.is_empty() || rest.starts_with('>') || rest.starts_with("/>") {
                break;
            }
            let key_end = rest
                .find(|c: char| c == '=' || c == '>' || c.is_whitespace())
                .unwrap_or(rest.len());
            let key = rest[..key_end].to_owned();
            rest = &rest[key_end..];
            let mut value = String::new();
            if let Some(r) = rest.strip_prefix("=\"") {
                let end = r.find('"').unwrap_or(r.len());
                value = r[..end]
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&");
                rest = &r[(end + 1).min(r.len())..];
            }
            attrs.insert(key, value);
        }
        out.push(attrs);
    }
    out
}

/// The page as rendered, with the elements the test looks at.
struct Page {
    tags: Vec<HashMap<String, String>>,
}

impl Page {
    /// The element whose `attr` is `value` (and `tag` its name, if given).
    fn find(&self, attr: &str, value: &str, tag: Option<&str>) -> Option<&HashMap<String, String>> {
        self.tags.iter().find(|t| {
            t.get(attr).is_some_and(|v| v == value)
                && tag.map_or(true, |tag| t.get("<tag>").is_some_and(|n| n == tag))
        })
    }

    fn body(&self) -> Option<&HashMap<String, String>> {
        self.find("<tag>", "body", None)
    }
}

/// A number in a `data-*` attribute; `None` when absent or empty.
fn number(tag: &HashMap<String, String>, attr: &str) -> Option<f64> {
    tag.get(attr).and_then(|v| v.parse().ok())
}

/// What is wrong with the rendered page, or `Ok` with it when all the test expects is there.
fn check(html: &str, up: &[String; 2], down_ok: &str, down_failing: &str) -> Result<Page, String> {
    let page = Page { tags: tags(html) };
    let body = page.body().ok_or("no <body>")?;
    if let Some(e) = body.get("data-error") {
        return Err(format!("the page could not read the API: {e}"));
    }
    let polls = number(body, "data-polls").unwrap_or(0.0);
    if polls < 2.0 {
        return Err(format!("only {polls} polls rendered"));
    }
    let service = |name: &str| {
        page.find("data-service", name, Some("article"))
            .ok_or(format!("service {name} missing"))
    };
    let endpoint = |addr: &str| {
        page.find("data-endpoint", addr, Some("tr"))
            .ok_or(format!("endpoint {addr} missing"))
    };
    let up_card = service("dash-up")?;
    let rate = number(up_card, "data-rate").unwrap_or(0.0);
    if rate <= 0.0 {
        return Err(format!("dash-up shows no request rate: {up_card:?}"));
    }
    let down_card = service("dash-down")?;
    if down_card.get("data-health").map(String::as_str) != Some("fail") {
        return Err(format!("dash-down is not highlighted: {down_card:?}"));
    }
    if number(down_card, "data-rate").unwrap_or(0.0) <= 0.0 {
        return Err(format!("dash-down shows no request rate: {down_card:?}"));
    }
    for addr in up.iter().map(String::as_str).chain([down_ok]) {
        let e = endpoint(addr)?;
        if e.get("data-state").map(String::as_str) != Some("routable") {
            return Err(format!("{addr} is not shown routable: {e:?}"));
        }
    }
    for addr in up {
        let e = endpoint(addr)?;
        if number(e, "data-rate").unwrap_or(0.0) <= 0.0 {
            return Err(format!("{addr} shows no request rate: {e:?}"));
        }
        // From berth_endpoint_request_duration_seconds.
        if number(e, "data-p99").unwrap_or(0.0) <= 0.0 {
            return Err(format!("{addr} shows no p99: {e:?}"));
        }
    }
    let failing = endpoint(down_failing)?;
    if failing.get("data-state").map(String::as_str) != Some("excluded")
        || failing.get("data-reason").map(String::as_str) != Some("active check: failing")
        || failing.get("data-health").map(String::as_str) != Some("fail")
    {
        return Err(format!("{down_failing} is not shown failing: {failing:?}"));
    }
    // Out of rotation since before the page loaded: no requests.
    if number(failing, "data-rate") != Some(0.0) {
        return Err(format!("{down_failing} shows requests: {failing:?}"));
    }
    Ok(page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_services_endpoints_failures_and_rates_in_a_browser() {
    // Fails at once, saying what to install, when there is no browser.
    chromium();
    // Chromium and the load below keep both cores busy.
    let _cpu = common::exclusive().await;
    let (a, b, c, d) = (
        backend("a").await,
        backend("b").await,
        backend("c").await,
        backend("d").await,
    );
    d.set_health(500);
    let server = common::start(&yaml(&format!(
        "  dash-up: {{ listener: web, path: /up, balance: round_robin, backends: [\"{}\", \"{}\"] }}\n  \
         dash-down: {{ listener: web, path: /down, backends: [\"{}\", \"{}\"],\n      \
         health: {{ path: /health, interval: 100ms, rise: 1, fall: 1 }} }}\n",
        a.addr, b.addr, c.addr, d.addr
    )));
    let admin = format!("http://{}", server.admin);
    let failing = d.addr.to_string();
    wait_until(Duration::from_secs(10), "d to fail its check", || async {
        common::endpoints(&admin, "dash-down")
            .await
            .iter()
            .any(|e| e["address"] == failing.as_str() && e["reason"] == "active check: failing")
    })
    .await;

    // The page's headers.
    let r = client()
        .get(format!("{admin}/"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 200);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-frame-options"), "DENY");
    let csp = header("content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; connect-src 'self'; script-src 'sha256-"),
        "{csp}"
    );

    // Traffic through both services for as long as the browser runs.
    let stop = Arc::new(AtomicBool::new(false));
    let web = common::base(&server);
    let mut load = Vec::new();
    for path in ["/up", "/up", "/down"] {
        let (stop, url, http) = (Arc::clone(&stop), format!("{web}{path}"), client());
        load.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = http.get(&url).send().await.expect("request");
                assert_eq!(r.status(), 200, "{url}");
                let _ = r.bytes().await;
                sent += 1;
            }
            sent
        }));
    }

    let dir = std::env::temp_dir().join(format!("berth-dashboard-{}", std::process::id()));
    let up = [a.addr.to_string(), b.addr.to_string()];
    let down_ok = c.addr.to_string();
    let url = format!("{admin}/");
    let mut attempt = 0;
    // The rates need requests to land between the page's polls; a run that saw none is
    // repeated (each run is a fresh browser).
    let page = wait_for(Duration::from_secs(120), "the dashboard to render", || {
        attempt += 1;
        let (dir, url) = (dir.join(format!("dom-{attempt}")), url.clone());
        let (up, down_ok, failing) = (up.clone(), down_ok.clone(), failing.clone());
        async move {
            let got = tokio::task::spawn_blocking(move || {
                let html = run_chromium(&dir, &url, &["--dump-dom".to_owned()])?;
                check(&html, &up, &down_ok, &failing).map(|page| (page, html))
            })
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            if let Err(e) = &got {
                eprintln!("dashboard run {attempt}: {e}");
            }
            got
        }
    })
    .await;
    let (page, html) = page;

    // Failures are summarised first, with a text marker, not colour alone.
    let first_problem = page
        .tags
        .iter()
        .find(|t| t.contains_key("data-problem"))
        .expect("a status line");
    assert_eq!(first_problem["data-problem"], "fail", "{html}");
    assert!(html.contains("\u{2716} FAIL"), "a failing marker");
    let summary = html.split("id=\"problems\"").nth(1).expect("summary");
    let summary = summary.split("</ul>").next().expect("summary end");
    assert!(
        summary.contains(&failing) && summary.contains("active check: failing"),
        "{summary}"
    );
    // The phone-width layout does not scroll sideways.
    let body = page.body().expect("body");
    assert_eq!(
        body["data-overflow"], "no",
        "the page is wider than a phone"
    );
    let p99 = number(
        page.find("data-service", "dash-up", Some("article"))
            .expect("dash-up"),
        "data-p99",
    );
    assert!(p99.is_some_and(|s| s > 0.0), "dash-up p99: {p99:?}");

    // The screenshot, at phone width: the test's artifact.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let shot = dir.join("screenshot");
    let args = [format!("--screenshot={}", png.display())];
    let url2 = url.clone();
    tokio::task::spawn_blocking(move || run_chromium(&shot, &url2, &args))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        .unwrap_or_else(|e| panic!("screenshot: {e}"));
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(
        bytes.len() > 1000,
        "{} is {} bytes",
        png.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        png.display()
    );
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    assert_eq!(width, 390, "the screenshot's width");

    stop.store(true, Ordering::Relaxed);
    for task in load {
        assert!(task.await.expect("load task") > 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
