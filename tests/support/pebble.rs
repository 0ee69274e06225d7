//! Pebble, Let's Encrypt's test ACME server (Debian package `pebble`), on loopback ports for
//! the ACME tests: `tests/acme/main.rs` and the Docker ACME test include it with `#[path]`.
//!
//! One [`Pebble`] is one CA: `pebble` itself, its API served with a certificate from a CA the
//! harness makes (the file berth's `acme.ca` names), and `pebble-challtestsrv` as its DNS
//! server, answering every name with 127.0.0.1. Pebble validates HTTP-01 on `http_port` and
//! TLS-ALPN-01 on `tls_port` of 127.0.0.1: the ports of the berth under test. The root Pebble
//! issues under comes from its management API ([`Pebble::root`]); orders are counted from its
//! log ([`Pebble::orders`]). Both processes are killed and the directory removed on drop.
#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether Pebble is installed (`scripts/test.sh` installs it).
pub fn installed() -> bool {
    ["pebble", "pebble-challtestsrv"].iter().all(|bin| {
        Command::new(bin)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("bound").port()
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
    s.local_addr().expect("bound").port()
}

/// What a [`Pebble`] is started with.
pub struct Options {
    /// Where Pebble validates HTTP-01 (berth's `http` listener).
    pub http_port: u16,
    /// Where Pebble validates TLS-ALPN-01 (berth's `https` listener).
    pub tls_port: u16,
    /// Lifetime of issued certificates (Pebble's default is 5 years).
    pub validity: Option<Duration>,
}

/// A running Pebble and its DNS server.
pub struct Pebble {
    dir: PathBuf,
    children: Vec<Child>,
    api: u16,
    management: u16,
}

impl Pebble {
    /// Starts Pebble and its DNS, and waits until its directory answers.
    pub fn start(options: Options) -> Pebble {
        let dir = std::env::temp_dir().join(format!(
            "berth-pebble-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("pebble dir");
        write_listener_certificate(&dir);
        let (api, management, dns) = (free_port(), free_port(), free_udp_port());
        let validity = options
            .validity
            .map(|v| format!(", \"certificateValidityPeriod\": {}", v.as_secs()))
            .unwrap_or_default();
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{api}",
            "managementListenAddress": "127.0.0.1:{management}",
            "certificate": "{cert}", "privateKey": "{key}",
            "httpPort": {http}, "tlsPort": {tls}, "ocspResponderURL": "",
            "externalAccountBindingRequired": false{validity}}}}}"#,
            cert = dir.join("listener.pem").display(),
            key = dir.join("listener.key").display(),
            http = options.http_port,
            tls = options.tls_port,
        );
        std::fs::write(dir.join("pebble.json"), config).expect("pebble config");
        let mut pebble = Pebble {
            children: Vec::new(),
            dir,
            api,
            management,
        };
        let dns_addr = format!("127.0.0.1:{dns}");
        pebble.spawn(
            "challtestsrv.log",
            Command::new("pebble-challtestsrv").args([
                "-dns01",
                &dns_addr,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-management",
                &format!("127.0.0.1:{}", free_port()),
            ]),
        );
        let config_path = pebble.dir.join("pebble.json");
        pebble.spawn(
            "pebble.log",
            Command::new("pebble")
                .arg("-config")
                .arg(&config_path)
                .args(["-dnsserver", &dns_addr])
                // No random validation sleeps, no rejected nonces, a fresh authorization (and
                // so a challenge) for every order.
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0"),
        );
        pebble.wait_ready();
        pebble
    }

    fn spawn(&mut self, log: &str, command: &mut Command) {
        let out = std::fs::File::create(self.dir.join(log)).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start for {log}: {e} (install the `pebble` package)"));
        self.children.push(child);
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let dns_up = self
                .log_of("challtestsrv.log")
                .contains("Starting challenge servers");
            if dns_up && self.curl(&self.directory()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pebble did not start:\n{}", self.logs());
    }

    /// The ACME directory URL (berth's `acme.directory`).
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.api)
    }

    /// The port of the ACME API.
    pub fn api_port(&self) -> u16 {
        self.api
    }

    /// The CA of Pebble's own API certificate (berth's `acme.ca`).
    pub fn api_ca(&self) -> PathBuf {
        self.dir.join("api-ca.pem")
    }

    /// The root Pebble issues certificates under, as PEM, from its management API.
    pub fn root(&self) -> String {
        let url = format!("https://127.0.0.1:{}/roots/0", self.management);
        self.curl(&url)
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", self.logs()))
    }

    /// [`Pebble::root`] written to a file in Pebble's directory (for curl and openssl).
    pub fn root_file(&self) -> PathBuf {
        let path = self.dir.join("root.pem");
        std::fs::write(&path, self.root()).expect("write root");
        path
    }

    /// How many orders Pebble has received.
    pub fn orders(&self) -> usize {
        self.log_of("pebble.log").matches("Added order").count()
    }

    /// How many certificates Pebble has issued.
    pub fn issued(&self) -> usize {
        self.log_of("pebble.log")
            .matches("Issued certificate")
            .count()
    }

    /// Both logs, for a failure message.
    pub fn logs(&self) -> String {
        format!(
            "--- pebble ---\n{}\n--- challtestsrv ---\n{}",
            self.log_of("pebble.log"),
            self.log_of("challtestsrv.log")
        )
    }

    fn log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    fn curl(&self, url: &str) -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "5", "--cacert"])
            .arg(self.api_ca())
            .arg(url)
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes the certificate Pebble's API is served with: a leaf for 127.0.0.1 and localhost
/// signed by a CA of its own (`api-ca.pem`; Pebble refuses a self-signed leaf as its own CA).
fn write_listener_certificate(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "berth test: pebble api ca");
    let ca_cert = ca.self_signed(&ca_key).expect("ca certificate");
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    leaf.subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let cert = leaf.signed_by(&key, &issuer).expect("leaf certificate");
    std::fs::write(dir.join("api-ca.pem"), ca_cert.pem()).expect("write ca");
    std::fs::write(dir.join("listener.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("listener.key"), key.serialize_pem()).expect("write key");
}
