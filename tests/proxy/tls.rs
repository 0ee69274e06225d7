//! `https` listeners end to end, with real clients: curl (HTTP/1.1 and HTTP/2), `openssl
//! s_client` (versions, ALPN, the certificate chosen for each SNI name), certificate reloads
//! (a good replacement is served, a bad one refused while the old one serves on), the
//! http → https redirect, and bad input (garbage, a truncated or a slow handshake).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{self, backend, client, replace_file, Backend};
use crate::tls_common::{self, curl, metric, s_client, Pki};
use crate::wait::wait_for;

/// A berth with `NAME` (https, the certificates of a.test then *.b.test, relative paths) and
/// `NAME-web` (http, redirecting to it), in front of `backend`; watched config in `pki.dir`.
struct Front {
    server: berth::server::Server,
    pki: Pki,
    https: u16,
    web: u16,
}

impl Front {
    async fn start(name: &'static str, backend: &Backend) -> Self {
        let pki = Pki::new(name);
        pki.issue("a", &["a.test"]);
        pki.issue("b", &["*.b.test"]);
        let yaml = format!(
            "listeners:\n\
             \x20 {name}: {{ address: \"127.0.0.1:0\", protocol: https, tls: {{ certificates: [\n\
             \x20     {{ cert: a.pem, key: a.key }},\n\
             \x20     {{ cert: b.pem, key: b.key }} ] }} }}\n\
             \x20 {name}-web: {{ address: \"127.0.0.1:0\", redirect: {{ to: {name} }} }}\n\
             admin: {{ address: \"127.0.0.1:0\" }}\n\
             docker: {{ enabled: false }}\n\
             workers: 1\n\
             defaults: {{ timeouts: {{ header_read: 1s }} }}\n\
             services:\n  s: {{ backends: [\"{}\"] }}\n",
            backend.addr
        );
        let path = pki.dir.join("berth.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let config = berth::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let server = berth::server::Server::start(config, Some(path)).expect("berth starts");
        let port = |l: &str| server.listener(l).expect("listener").port();
        let (https, web) = (port(name), port(&format!("{name}-web")));
        Self {
            server,
            pki,
            https,
            web,
        }
    }

    fn ca(&self) -> PathBuf {
        self.pki.ca.clone()
    }

    /// `--resolve` for `host` on the https port.
    fn resolve(&self, host: &str) -> String {
        format!("{host}:{}:127.0.0.1", self.https)
    }

    async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.server.admin);
        let response = client().get(url).send().await.expect("metrics");
        response.text().await.expect("metrics text")
    }

    async fn handshake(
        &self,
        sni: Option<&'static str>,
        extra: &'static [&'static str],
    ) -> tls_common::Handshake {
        let (port, ca) = (self.https, self.ca());
        blocking(move || s_client(port, sni, &ca, extra)).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn pem(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("read pem")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_http1_and_http2_sees_x_forwarded_proto_https() {
    let b = backend("b").await;
    let f = Front::start("curl", &b).await;
    let (ca, resolve) = (f.ca(), f.resolve("a.test"));
    let url = format!("https://a.test:{}/headers", f.https);
    for version in ["--http1.1", "--http2"] {
        let args = [
            version,
            "--cacert",
            &ca.display().to_string(),
            "--resolve",
            &resolve,
            "-w",
            "\nhttp_version=%{http_version}",
            &url,
        ]
        .map(str::to_owned);
        let (ok, out, err) = blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            curl(&args)
        })
        .await;
        assert!(ok, "{version}: {err}");
        assert!(out.contains("x-forwarded-proto: https"), "{version}: {out}");
        let want = if version == "--http2" {
            "http_version=2"
        } else {
            "http_version=1.1"
        };
        assert!(out.ends_with(want), "{version}: {out}");
    }
    let text = f.metrics().await;
    let done = metric(
        &text,
        "berth_tls_handshakes_total",
        &[("listener", "curl"), ("version", "TLSv1.3")],
    );
    assert!(done >= 2.0, "{text}");
    f.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_client_sees_versions_alpn_and_the_certificate_of_each_name() {
    let b = backend("b").await;
    let f = Front::start("sclient", &b).await;
    let (a, wild) = (pem(&f.pki.dir.join("a.pem")), pem(&f.pki.dir.join("b.pem")));

    let h = f.handshake(Some("a.test"), &["-alpn", "h2,http/1.1"]).await;
    assert_eq!(
        (h.protocol.as_str(), h.alpn.as_deref()),
        ("TLSv1.3", Some("h2")),
        "{}",
        h.output
    );
    assert!(h.verified, "{}", h.output);
    assert_eq!(h.cert, a);

    let h = f
        .handshake(Some("x.b.test"), &["-tls1_2", "-alpn", "http/1.1"])
        .await;
    assert_eq!(
        (h.protocol.as_str(), h.alpn.as_deref()),
        ("TLSv1.2", Some("http/1.1")),
        "{}",
        h.output
    );
    assert!(h.verified, "{}", h.output);
    assert_eq!(h.cert, wild, "*.b.test serves x.b.test");

    for (sni, why) in [
        (None, "no SNI"),
        (Some("other.test"), "unknown name"),
        (Some("b.test"), "wildcard needs a label"),
    ] {
        let h = f.handshake(sni, &[]).await;
        assert_eq!(h.cert, a, "{why}: the first certificate is the default");
        assert_eq!(h.alpn, None, "{why}: no ALPN offered, none chosen");
    }

    let h = f
        .handshake(
            Some("a.test"),
            &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
        )
        .await;
    assert!(h.cert.is_empty(), "TLS 1.1 is refused: {}", h.output);
    let text = f.metrics().await;
    let refused = metric(
        &text,
        "berth_tls_handshake_errors_total",
        &[("listener", "sclient"), ("reason", "incompatible")],
    );
    assert_eq!(refused, 1.0, "berth refused it, not the client: {text}");
    f.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_files_are_served_and_bad_ones_refused() {
    let b = backend("b").await;
    let f = Front::start("reload", &b).await;
    let (cert, key) = (f.pki.dir.join("a.pem"), f.pki.dir.join("a.key"));
    let first = pem(&cert);

    // A new certificate, written like certbot or an editor does: new files renamed into place.
    let (new_cert, new_key) = f.pki.issue("next", &["a.test"]);
    std::fs::rename(&new_key, &key).expect("rename key");
    std::fs::rename(&new_cert, &cert).expect("rename cert");
    let second = pem(&cert);
    assert_ne!(first, second);
    let served = wait_for_cert(&f, &second).await;
    assert!(served, "the new certificate is served");

    // Garbage, then a certificate without its key: both refused, the second keeps serving.
    let refused = |text: &str| {
        metric(
            text,
            "berth_tls_reloads_total",
            &[("listener", "reload"), ("result", "error")],
        )
    };
    let before = refused(&f.metrics().await);
    replace_file(&cert, "not a certificate\n");
    wait_until_metric(&f, |t| refused(t) >= before + 1.0).await;
    assert_eq!(f.handshake(Some("a.test"), &[]).await.cert, second);

    let (lone_cert, _) = f.pki.issue("lone", &["a.test"]);
    std::fs::rename(&lone_cert, &cert).expect("rename cert");
    wait_until_metric(&f, |t| refused(t) >= before + 2.0).await;
    let h = f.handshake(Some("a.test"), &[]).await;
    assert_eq!(h.cert, second, "a mismatched key is refused");
    assert!(h.verified);

    let ok = metric(
        &f.metrics().await,
        "berth_tls_reloads_total",
        &[("listener", "reload"), ("result", "ok")],
    );
    assert!(ok >= 1.0);
    f.server.shutdown();
}

async fn wait_for_cert(f: &Front, want: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f.handshake(Some("a.test"), &[]).await.cert == want {
            return true;
        }
        // The poll interval (each check runs openssl); the caller asserts the outcome.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn wait_until_metric(f: &Front, done: impl Fn(&str) -> bool) {
    wait_for(Duration::from_secs(10), "the metrics", || async {
        let text = f.metrics().await;
        if done(&text) {
            Ok(())
        } else {
            Err(format!("metrics:\n{text}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listener_redirects_to_the_https_one() {
    let b = backend("b").await;
    let f = Front::start("redirect", &b).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{}/x/y?q=1&r=2", f.web);
    let get = http
        .get(&url)
        .header("host", "a.test:80")
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 301);
    let want = format!("https://a.test:{}/x/y?q=1&r=2", f.https);
    assert_eq!(get.headers()["location"], want.as_str());
    let post = http
        .post(&url)
        .header("host", "a.test")
        .body("form")
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 308);
    assert_eq!(b.hits(), 0, "a redirecting listener proxies nothing");

    // curl follows it to the backend, over TLS.
    let args = [
        "-L".to_owned(),
        "--cacert".into(),
        f.ca().display().to_string(),
        "--resolve".into(),
        format!("a.test:{}:127.0.0.1", f.web),
        "--resolve".into(),
        f.resolve("a.test"),
        format!("http://a.test:{}/headers", f.web),
    ];
    let (ok, out, err) = blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args)
    })
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("x-forwarded-proto: https"), "{out}");
    // Counted as the listener's redirects (three: GET, POST, curl's), no service's.
    let admin = format!("http://{}", f.server.admin);
    let text = client()
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let listener = [("listener", "redirect-web"), ("rule", "listener")];
    assert_eq!(metric(&text, "berth_redirects_total", &listener), 3.0);
    let series =
        "berth_redirects_total{listener=\"redirect-web\",service=\"\",rule=\"listener\"} 3";
    assert!(text.contains(series), "{text}");
    f.server.shutdown();
}

/// Sends `chunks` (with `pause` between them), then half-closes if `close`; returns how long
/// berth took to close the connection.
async fn closed_after(port: u16, chunks: &[&[u8]], pause: Duration, close: bool) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    for chunk in chunks {
        if s.write_all(chunk).await.is_err() {
            return start.elapsed();
        }
        // A real sleep: a slow client's pace is what is tested.
        tokio::time::sleep(pause).await;
    }
    if close {
        let _ = s.shutdown().await;
    }
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut sink)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("berth kept the connection open for 5 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_slow_handshakes_are_closed_and_counted() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let b = backend("b").await;
    let f = Front::start("badinput", &b).await;
    // A TLS record header announcing a 512-byte ClientHello.
    const HELLO_START: &[u8] = &[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let second = Duration::from_secs(1);

    let garbage = closed_after(
        f.https,
        &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"],
        Duration::ZERO,
        false,
    )
    .await;
    assert!(garbage < second, "garbage is refused at once: {garbage:?}");
    let truncated = closed_after(f.https, &[HELLO_START], Duration::ZERO, true).await;
    assert!(
        truncated < second,
        "a truncated hello is dropped at EOF: {truncated:?}"
    );
    let silent = closed_after(f.https, &[], Duration::ZERO, false).await;
    let trickle: Vec<&[u8]> = HELLO_START.chunks(1).collect();
    let slow = closed_after(f.https, &trickle, Duration::from_millis(150), false).await;
    for (what, took) in [("silent", silent), ("slowloris", slow)] {
        assert!(
            took >= second && took < 3 * second,
            "{what}: closed after {took:?}, header_read is 1s"
        );
    }

    let text = f.metrics().await;
    let errors = |reason| {
        metric(
            &text,
            "berth_tls_handshake_errors_total",
            &[("listener", "badinput"), ("reason", reason)],
        )
    };
    assert_eq!(errors("not_tls"), 1.0, "{text}");
    assert_eq!(errors("closed"), 1.0, "{text}");
    assert_eq!(errors("timeout"), 2.0, "{text}");

    // Still serving.
    let h = f.handshake(Some("a.test"), &[]).await;
    assert!(h.verified, "{}", h.output);
    f.server.shutdown();
}

#[test]
fn berth_check_reports_a_bad_certificate_at_its_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["check", "--config", "tests/fixtures/tls_key_mismatch.yaml"])
        .output()
        .expect("run berth");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tls_key_mismatch.yaml:9:")
            && err.contains("tls.certificates[1].key: the private key in"),
        "{err}"
    );
}
