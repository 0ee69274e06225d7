//! `https://` backends: berth connects with TLS, verifies the backend's certificate against
//! the service's CA file (or the built-in roots), sends the request's host (or the service's
//! `server_name`) as SNI and offers ALPN to match `upstream_protocol`.
//!
//! Active HTTP health checks against such backends do the same handshake: with the right CA
//! they pass, with a wrong one the endpoint is excluded with a `tls error` reason.
//!
//! The backend's certificate is signed by a CA made in the test (rcgen), for `backend.test`
//! and `127.0.0.1`; the backend answers with the HTTP version and the SNI it saw.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::common::{base, client, start, yaml};
use crate::wait::wait_for;

/// A test CA (its PEM file) and a server configuration with a certificate it signed.
fn pki(tag: &str) -> (PathBuf, rustls::ServerConfig) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "berth test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let key = KeyPair::generate().expect("key");
    let names = vec!["backend.test".to_owned(), "127.0.0.1".to_owned()];
    let leaf = CertificateParams::new(names)
        .expect("params")
        .signed_by(&key, &rcgen::Issuer::from_params(&ca_params, &ca_key))
        .expect("leaf cert");
    let dir = std::env::temp_dir().join(format!("berth-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (ca_file, config)
}

/// A TLS backend answering `<version> sni=<name>` for every request.
async fn tls_backend(config: rustls::ServerConfig) -> SocketAddr {
    tls_backend_seen(config).await.0
}

/// [`tls_backend`], also logging each request as `<path> host=<Host> sni=<name>`.
async fn tls_backend_seen(config: rustls::ServerConfig) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), Arc::clone(&log));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_owned();
                let service = service_fn(move |req: Request<Incoming>| {
                    let host = req.headers().get("host").and_then(|h| h.to_str().ok());
                    let line = format!(
                        "{} host={} sni={sni}",
                        req.uri().path(),
                        host.unwrap_or("-")
                    );
                    log.lock().expect("log").push(line);
                    let text = format!("{:?} sni={sni}", req.version());
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text)))) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// The requests a [`tls_backend_seen`] served.
type Seen = Arc<Mutex<Vec<String>>>;

async fn get(server: &berth::server::Server, host: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}/", base(server)))
        .header("host", host)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_are_verified_with_the_configured_ca() {
    let (ca, config) = pki("ca");
    let backend = tls_backend(config).await;
    let ca = ca.display();
    let server = start(&yaml(&format!(
        "  h1: {{ listener: web, hosts: [backend.test], tls: {{ ca: \"{ca}\" }}, backends: [\"https://{backend}\"] }}\n\
         \x20 h2: {{ listener: web, hosts: [h2.test], upstream_protocol: h2, tls: {{ ca: \"{ca}\", server_name: backend.test }}, backends: [\"https://{backend}\"] }}\n\
         \x20 ip: {{ listener: web, hosts: [\"127.0.0.1\"], tls: {{ ca: \"{ca}\" }}, backends: [\"https://{backend}\"] }}\n"
    )));
    for _ in 0..3 {
        assert_eq!(
            get(&server, "backend.test").await,
            (200, "HTTP/1.1 sni=backend.test".into()),
            "ALPN http/1.1, SNI from the request's host"
        );
    }
    assert_eq!(
        get(&server, "h2.test").await,
        (200, "HTTP/2.0 sni=backend.test".into()),
        "ALPN h2, SNI from server_name"
    );
    // An IP host is verified against the certificate's IP address (no SNI is sent for it).
    assert_eq!(
        get(&server, "127.0.0.1").await,
        (200, "HTTP/1.1 sni=-".into())
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_issuer_or_a_wrong_name_is_a_502() {
    let (ca, config) = pki("bad");
    let backend = tls_backend(config).await;
    let ca = ca.display();
    let server = start(&yaml(&format!(
        "  roots: {{ listener: web, hosts: [backend.test], backends: [\"https://{backend}\"] }}\n\
         \x20 name: {{ listener: web, hosts: [other.test], tls: {{ ca: \"{ca}\" }}, backends: [\"https://{backend}\"] }}\n"
    )));
    let (status, body) = get(&server, "backend.test").await;
    assert_eq!(
        (status, body.as_str()),
        (502, "upstream error\n"),
        "not signed by a built-in root"
    );
    let (status, _) = get(&server, "other.test").await;
    assert_eq!(status, 502, "the certificate is not for other.test");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_failure_is_retried_on_another_endpoint() {
    let (ca, good) = pki("retry-good");
    let (_, other) = pki("retry-other");
    let (good, other) = (tls_backend(good).await, tls_backend(other).await);
    let ca = ca.display();
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, balance: round_robin, tls: {{ ca: \"{ca}\" }}, backends: [\"https://{good}\", \"https://{other}\"] }}\n"
    )));
    for _ in 0..6 {
        let (status, body) = get(&server, "backend.test").await;
        assert_eq!((status, body.as_str()), (200, "HTTP/1.1 sni=backend.test"));
    }
    server.shutdown();
}

/// The endpoint of service `name` in `/api/services`.
async fn endpoint_doc(server: &berth::server::Server, name: &str) -> serde_json::Value {
    let url = format!("http://{}/api/services", server.admin);
    let doc: serde_json::Value = client()
        .get(url)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let services = doc["services"].as_array().expect("services").iter();
    let service = services
        .into_iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("service {name} in {doc}"));
    service["endpoints"][0].clone()
}

/// The endpoint of service `name` once `done` holds for it (within 10 s).
async fn settled(
    server: &berth::server::Server,
    name: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for(
        Duration::from_secs(10),
        &format!("{name} to settle"),
        || async {
            let e = endpoint_doc(server, name).await;
            if done(&e) {
                Ok(e)
            } else {
                Err(e.to_string())
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_speak_tls_to_https_backends() {
    let (ca, config) = pki("health");
    let (wrong_ca, _) = pki("health-wrong");
    let (backend, seen) = tls_backend_seen(config).await;
    let (ca, wrong_ca) = (ca.display(), wrong_ca.display());
    let check = "health: { path: /health, interval: 100ms, rise: 1, fall: 2 }";
    let server = start(&yaml(&format!(
        "  named: {{ listener: web, hosts: [a.test], tls: {{ ca: \"{ca}\", server_name: backend.test }}, {check}, backends: [\"https://{backend}\"] }}\n\
         \x20 by_ip: {{ listener: web, hosts: [b.test], tls: {{ ca: \"{ca}\" }}, {check}, backends: [\"https://{backend}\"] }}\n\
         \x20 wrong: {{ listener: web, hosts: [c.test], tls: {{ ca: \"{wrong_ca}\" }}, {check}, backends: [\"https://{backend}\"] }}\n\
         \x20 tcp: {{ listener: web, hosts: [d.test], tls: {{ ca: \"{wrong_ca}\" }}, health: {{ interval: 100ms, fall: 1 }}, backends: [\"https://{backend}\"] }}\n"
    )));
    let wrong = settled(&server, "wrong", |e| e["state"] == "excluded").await;
    assert_eq!(wrong["reason"], "active check: failing", "{wrong}");
    let last = wrong["health"]["last_result"].as_str().unwrap_or_default();
    // `BadSignature`: both test CAs have the same name, so the wrong one is found as issuer.
    assert!(
        last.starts_with("tls error: invalid peer certificate: "),
        "{wrong}"
    );
    // A TCP check only connects: the CA plays no part.
    for name in ["named", "by_ip", "tcp"] {
        let e = settled(&server, name, |e| {
            e["health"]["consecutive_passes"].as_u64() >= Some(2)
        })
        .await;
        assert_eq!(e["state"], "routable", "{name}: {e}");
        assert_eq!(e["health"]["last_result"], "pass", "{name}: {e}");
    }
    // Host and SNI: the server_name, else the endpoint's address (SNI: none for an IP).
    let seen = seen.lock().expect("log").clone();
    assert!(
        seen.contains(&"/health host=backend.test sni=backend.test".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&format!("/health host={backend} sni=-")),
        "{seen:?}"
    );
    assert_eq!(
        seen.len(),
        seen.iter().filter(|l| l.starts_with("/health ")).count(),
        "{seen:?}"
    );
    server.shutdown();
}

#[test]
fn tls_without_https_backends_and_unreadable_cas_are_config_errors() {
    let err = berth::config::parse(
        &yaml("  a: { tls: { ca: ca.pem }, backends: [\"127.0.0.1:1\"] }\n"),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("services.a.tls"), "{err}");
    assert!(err.contains("apply to https backends"), "{err}");
    let err = berth::config::parse(
        &yaml("  a: { tls: { ca: /nonexistent/ca.pem }, backends: [\"https://127.0.0.1:1\"] }\n"),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot read CA file /nonexistent/ca.pem"),
        "{err}"
    );
    let err = berth::config::parse(
        &yaml("  a: { backends: [\"https://127.0.0.1:1\", \"127.0.0.1:2\"] }\n"),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("mix https://"), "{err}");
}
