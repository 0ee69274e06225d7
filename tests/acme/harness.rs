//! berth as a process (`target/.../berth run`), configured for one [`Pebble`], and the clients
//! the ACME tests look at it with: `openssl s_client` and curl (real clients), a rustls
//! handshake loop (thousands of handshakes across a certificate swap), the admin API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::pebble::{free_port, Options, Pebble};
use crate::wait::wait_for;

/// A directory for one test (config files, storage, logs), removed on drop.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        let dir = std::env::temp_dir().join(format!(
            "berth-acme-{tag}-{}-{:x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).expect("test dir");
        TestDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ports of one berth.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub http: u16,
    pub https: u16,
    pub admin: u16,
}

impl Ports {
    pub fn free() -> Ports {
        Ports {
            http: free_port(),
            https: free_port(),
            admin: free_port(),
        }
    }
}

/// A Pebble validating on `ports`.
pub fn pebble_for(ports: Ports, validity: Option<Duration>) -> Pebble {
    Pebble::start(Options {
        http_port: ports.http,
        tls_port: ports.https,
        validity,
    })
}

/// A berth config: an `http` listener `web`, an `https` listener `websecure` (with `acme:
/// SCOPE` when `scope` is not empty), the admin API, no Docker, and an `acme:` section
/// ordering from `pebble` into `storage` by `challenge`, plus `acme` (more `acme:` keys as
/// YAML lines indented two spaces) and `extra` (top-level YAML).
pub struct ConfigText<'a> {
    pub ports: Ports,
    pub pebble: &'a Pebble,
    pub storage: &'a Path,
    pub challenge: &'a str,
    pub scope: &'a str,
    pub acme: &'a str,
    pub extra: &'a str,
}

impl ConfigText<'_> {
    pub fn render(&self) -> String {
        let scope = match self.scope {
            "" => String::new(),
            s => format!(", acme: {s}"),
        };
        format!(
            "listeners:\n  \
               web: {{ address: \"127.0.0.1:{http}\" }}\n  \
               websecure: {{ address: \"127.0.0.1:{https}\", protocol: https{scope} }}\n\
             admin: {{ address: \"127.0.0.1:{admin}\" }}\n\
             docker: {{ enabled: false }}\n\
             log: {{ level: info, format: json }}\n\
             workers: 1\n\
             acme:\n  \
               email: ops@example.com\n  \
               agree_tos: true\n  \
               directory: {directory}\n  \
               ca: {ca}\n  \
               storage: {storage}\n  \
               challenge: {challenge}\n\
             {acme}{extra}",
            http = self.ports.http,
            https = self.ports.https,
            admin = self.ports.admin,
            directory = self.pebble.directory(),
            ca = self.pebble.api_ca().display(),
            storage = self.storage.display(),
            challenge = self.challenge,
            acme = self.acme,
            extra = self.extra,
        )
    }
}

/// berth running as a process; killed on drop.
pub struct Berth {
    child: Option<Child>,
    pub ports: Ports,
    log: PathBuf,
}

impl Berth {
    /// Writes `config` to `dir/<tag>.yaml`, starts berth on it and waits for its admin API.
    pub async fn start(dir: &TestDir, tag: &str, ports: Ports, config: &str) -> Berth {
        let path = dir.path(&format!("{tag}.yaml"));
        std::fs::write(&path, config).expect("write config");
        let log = dir.path(&format!("{tag}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["run", "--config"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start berth");
        let berth = Berth {
            child: Some(child),
            ports,
            log,
        };
        let url = berth.admin("/healthz");
        wait_for(Duration::from_secs(30), "berth's admin API", || async {
            match reqwest::get(&url).await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("{other:?}\n{}", berth.logs())),
            }
        })
        .await;
        berth
    }

    /// Stops berth (SIGKILL: nothing it keeps may depend on a clean exit).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.admin)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `/api/certificates` entry of `name` (`Value::Null` when not listed).
    pub async fn name_state(&self, name: &str) -> Value {
        let doc = self.certificates().await;
        let names = doc["acme"]["names"].as_array().cloned().unwrap_or_default();
        names
            .into_iter()
            .find(|n| n["name"] == name)
            .unwrap_or(Value::Null)
    }

    pub async fn certificates(&self) -> Value {
        let url = self.admin("/api/certificates");
        let r = reqwest::get(&url).await.expect("GET /api/certificates");
        r.json().await.expect("JSON")
    }

    /// The value of the metric series `series` (exact text before the value), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(self.admin("/metrics"))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `name` is `valid` in the admin API.
    pub async fn wait_valid(&self, name: &str, pebble: &Pebble) {
        wait_for(
            Duration::from_secs(60),
            &format!("{name} valid"),
            || async {
                let state = self.name_state(name).await;
                match state["state"].as_str() {
                    Some("valid") => Ok(()),
                    _ => Err(format!("{state}\n{}\n{}", self.logs(), pebble.logs())),
                }
            },
        )
        .await;
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What `openssl s_client` saw of the certificate served for `name`.
#[derive(Debug)]
pub struct Seen {
    pub subject: String,
    pub issuer: String,
    /// Whether the chain verified against the trust anchor given.
    pub verified: bool,
}

/// Connects with `openssl s_client` to `port` with SNI `name`, verifying against `root`.
pub fn openssl(port: u16, name: &str, root: &Path) -> Seen {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", name, "-verify_hostname", name, "-CAfile"])
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    Seen {
        subject: field("subject="),
        issuer: field("issuer="),
        verified: text.contains("Verify return code: 0 (ok)"),
    }
}

/// A rustls client trusting only `root_pem`.
pub fn tls_client(root_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(root_pem.as_bytes()) {
        roots
            .add(cert.expect("root PEM"))
            .expect("root certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One verified handshake with SNI `name`: the serial of the certificate served.
pub async fn handshake(
    client: &tokio_rustls::TlsConnector,
    port: u16,
    name: &str,
) -> Result<Vec<u8>, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let server_name = rustls_pki_types::ServerName::try_from(name.to_owned())
        .map_err(|e| format!("{name}: {e}"))?;
    let tls = client
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("parse: {e}"))?;
    Ok(cert.raw_serial().to_vec())
}
