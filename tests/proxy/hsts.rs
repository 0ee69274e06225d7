//! `Strict-Transport-Security` end to end, with curl: a service's `hsts:` is added to the
//! responses berth proxies on an `https` listener (HTTP/1.1 and HTTP/2), never on an `http`
//! one, never to another service's, and an upstream's own header is kept, not doubled.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::tls_common::{curl, Pki};

/// What berth sends for service `s`.
const BERTH_STS: &str = "max-age=31557600; includeSubDomains";
/// What the backend sends itself on `/own`.
const OWN_STS: &str = "max-age=5";

/// A backend answering `ok`, with its own `Strict-Transport-Security` on `/own`.
async fn backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                    if req.uri().path() == "/own" {
                        let value = hyper::header::HeaderValue::from_static(OWN_STS);
                        response
                            .headers_mut()
                            .insert(hyper::header::STRICT_TRANSPORT_SECURITY, value);
                    }
                    Ok::<_, Infallible>(response)
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// The `strict-transport-security` values of a response head `curl -D -` printed.
fn sts_values(head: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| {
            name.trim()
                .eq_ignore_ascii_case("strict-transport-security")
        })
        .map(|(_, value)| value.trim().to_owned())
        .collect()
}

/// `curl` with `args` then `url`, printing only the response head.
async fn head(args: Vec<String>, url: String) -> String {
    tokio::task::spawn_blocking(move || {
        let mut all: Vec<&str> = vec!["-o", "/dev/null", "-D", "-"];
        all.extend(args.iter().map(String::as_str));
        all.push(&url);
        let (ok, out, err) = curl(&all);
        assert!(ok, "curl {all:?}: {err}");
        out
    })
    .await
    .expect("curl task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_on_https_only_and_never_twice() {
    let (addr, task) = backend().await;
    let pki = Pki::new("hsts");
    let (cert, key) = pki.issue("a", &["a.test"]);
    let yaml = format!(
        "listeners:\n\
         \x20 secure: {{ address: \"127.0.0.1:0\", protocol: https,\n\
         \x20           tls: {{ certificates: [ {{ cert: \"{}\", key: \"{}\" }} ] }} }}\n\
         \x20 web: {{ address: \"127.0.0.1:0\", protocol: http }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\n\
         workers: 1\n\
         services:\n\
         \x20 s: {{ hosts: [a.test], hsts: {{ max_age: 1y, include_subdomains: true }}, backends: [\"{addr}\"] }}\n\
         \x20 plain: {{ hosts: [a.test], path: /plain, backends: [\"{addr}\"] }}\n",
        cert.display(),
        key.display()
    );
    let config = berth::config::parse(&yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    let server = berth::server::Server::start(config, None).expect("berth starts");
    let https = server.listener("secure").expect("secure").port();
    let web = server.listener("web").expect("web").port();
    let tls = |version: &str| {
        vec![
            version.to_owned(),
            "--cacert".into(),
            pki.ca.display().to_string(),
            "--resolve".into(),
            format!("a.test:{https}:127.0.0.1"),
        ]
    };
    let secure = |path: &str| format!("https://a.test:{https}{path}");

    for version in ["--http1.1", "--http2"] {
        let h = head(tls(version), secure("/")).await;
        assert_eq!(sts_values(&h), [BERTH_STS], "{version}: {h}");
        let h = head(tls(version), secure("/own")).await;
        assert_eq!(
            sts_values(&h),
            [OWN_STS],
            "{version}: the upstream's wins: {h}"
        );
        let h = head(tls(version), secure("/plain")).await;
        assert!(sts_values(&h).is_empty(), "{version}: not service s: {h}");
    }

    let plain = vec!["-H".to_owned(), "Host: a.test".into()];
    let h = head(plain, format!("http://127.0.0.1:{web}/")).await;
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    assert!(sts_values(&h).is_empty(), "never over plain http: {h}");

    let api = format!("http://{}/api/services", server.admin);
    let body = tokio::task::spawn_blocking(move || curl(&[&api]).1)
        .await
        .expect("curl task");
    assert!(
        body.contains(&format!("\"hsts\": \"{BERTH_STS}\"")),
        "{body}"
    );
    server.shutdown();
    task.abort();
}
