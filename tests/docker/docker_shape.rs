//! The shaping labels against a real engine, with curl as the client: one replica container
//! labelled with header edits, CORS, compression, a request body limit, a path rewrite and a
//! regex redirect; each is checked by what curl gets and what the replica saw (`/headers`
//! lists the request headers it received, `x-path` the path).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::docker_common::*;

const HOST: &str = "shape.test";
const ORIGIN: &str = "https://app.shape.test";

/// What curl got: status, header block (lowercased), body bytes (decoded with
/// `--compressed`).
struct Got {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Got {
    /// The value of the last header called `name` (lowercase), if any.
    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .rev()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim())
    }

    /// Whether some `Vary` header names `what` (lowercase).
    fn varies_on(&self, what: &str) -> bool {
        self.head
            .lines()
            .filter_map(|l| l.strip_prefix("vary:"))
            .flat_map(|v| v.split(','))
            .any(|v| v.trim() == what)
    }
}

/// Runs curl against `url` with `Host: shape.test` and `extra` arguments; the head and body
/// go through files in `dir`, so the body arrives byte for byte.
async fn curl(dir: &Path, url: String, extra: &[&str]) -> Got {
    let (head_file, body_file) = (dir.join("head"), dir.join("body"));
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let (hf, bf) = (head_file.clone(), body_file.clone());
    let out = blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", "%{http_code}"])
            .args(["-H", &format!("Host: {HOST}"), "-D"])
            .arg(&hf)
            .arg("-o")
            .arg(&bf)
            .args(&extra)
            .arg(url)
            .output()
            .expect("run curl")
    })
    .await;
    assert!(out.status.success(), "curl: {out:?}");
    Got {
        status: String::from_utf8_lossy(&out.stdout)
            .parse()
            .expect("status"),
        head: std::fs::read_to_string(&head_file)
            .expect("head")
            .to_ascii_lowercase(),
        body: std::fs::read(&body_file).unwrap_or_default(),
    }
}

/// A scratch directory for curl's files, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaping_labels_edit_headers_answer_cors_compress_limit_and_rewrite() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let scratch = Scratch(std::env::temp_dir().join(run.name("curl")));
    std::fs::create_dir_all(&scratch.0).expect("scratch dir");
    let dir = scratch.0.as_path();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "defaults: { slow_start: 0s }\n");
    let service = run.name("app");
    let labels = [
        ("enable", "true"),
        ("service", service.as_str()),
        ("http.hosts", HOST),
        ("headers.response.set.X-Frame-Options", "DENY"),
        ("headers.response.remove", "X-Replica"),
        ("headers.request.set.X-Env", "docker"),
        ("headers.request.remove", "X-Debug"),
        ("cors.origins", ORIGIN),
        ("cors.methods", "GET,POST"),
        ("compress", "true"),
        ("compress.min_size", "1KiB"),
        ("max_request_body", "1KiB"),
        ("replace_path_regex.regex", "^/old/(.*)$"),
        ("replace_path_regex.replacement", "/new/$1"),
        ("redirect_regex.regex", "^http://([^/]+)/go/(.*)$"),
        ("redirect_regex.replacement", "http://$1/gone/$2"),
    ];
    let mut builder = ContainerBuilder::new(&run, &image)
        .name("r1")
        .env("NAME", "r1")
        .network(&net);
    for (key, value) in labels {
        builder = builder.label(&b.label(key), value);
    }
    let replica = builder.start();
    let http = client();
    b.wait_routable(&http, &service, &[&replica.id]).await;

    // Header edits: the response's set and removed, the request's set and removed.
    let got = curl(dir, b.url("/headers"), &["-H", "X-Debug: 1"]).await;
    assert_eq!(got.status, 200, "{}", got.head);
    assert_eq!(got.header("x-frame-options"), Some("deny"));
    assert_eq!(got.header("x-replica"), None, "{}", got.head);
    let seen = String::from_utf8_lossy(&got.body).to_ascii_lowercase();
    assert!(seen.contains("x-env: docker\n"), "{seen}");
    assert!(!seen.contains("x-debug"), "{seen}");

    // CORS: berth answers the preflight; the actual request's answer names the origin.
    let origin = format!("Origin: {ORIGIN}");
    let method = "Access-Control-Request-Method: POST";
    let preflight = ["-X", "OPTIONS", "-H", &origin, "-H", method];
    let got = curl(dir, b.url("/api"), &preflight).await;
    assert_eq!(got.status, 204, "{}", got.head);
    assert_eq!(got.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        got.header("access-control-allow-methods"),
        Some("get, post")
    );
    assert!(got.varies_on("origin"), "{}", got.head);
    assert_eq!(
        got.header("x-path"),
        None,
        "the replica never saw the preflight"
    );
    let evil = [
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://evil.test",
        "-H",
        method,
    ];
    assert_eq!(curl(dir, b.url("/api"), &evil).await.status, 403);
    let got = curl(dir, b.url("/api"), &["-H", &origin]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(got.varies_on("origin"), "{}", got.head);

    // Compression: each encoding decodes to the identity body, byte for byte.
    let big = b.url("/big?bytes=100000");
    let plain = curl(dir, big.clone(), &[]).await;
    assert_eq!((plain.status, plain.body.len()), (200, 100_000));
    assert_eq!(plain.header("content-encoding"), None);
    for encoding in ["gzip", "br", "zstd"] {
        let accept = format!("Accept-Encoding: {encoding}");
        let got = curl(dir, big.clone(), &["--compressed", "-H", &accept]).await;
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("content-encoding"),
            Some(encoding),
            "{}",
            got.head
        );
        assert!(got.body == plain.body, "{encoding}: decoded body differs");
    }
    let small = curl(dir, b.url("/big?bytes=1000"), &["--compressed"]).await;
    assert_eq!(small.header("content-encoding"), None, "under min_size");

    // Body limit: over 1 KiB by Content-Length is refused; under it reaches the replica.
    let over = dir.join("over");
    std::fs::write(&over, vec![b'x'; 1025]).expect("write body");
    let data = format!("@{}", over.display());
    let got = curl(dir, b.url("/echo"), &["--data-binary", &data]).await;
    assert_eq!(got.status, 413, "{}", got.head);
    let got = curl(dir, b.url("/echo"), &["--data-binary", "within"]).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"within"[..]));

    // The rewrite: the replica sees the new path; the query is kept.
    let got = curl(dir, b.url("/old/a/b?q=1"), &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("x-path"), Some("/new/a/b"));

    // The regex redirect: answered by berth, counted as the service's.
    let got = curl(dir, b.url("/go/x?y=1"), &[]).await;
    assert_eq!(got.status, 302, "{}", got.head);
    let location = format!("http://{HOST}/gone/x?y=1");
    assert_eq!(got.header("location"), Some(location.as_str()));
    let series = format!(
        "berth_redirects_total{{listener=\"web\",service=\"{service}\",rule=\"redirect_regex\"}} "
    );
    assert_eq!(b.metric(&http, &series).await, 1);
}
