//! TLS test fixtures: a throw-away CA issuing server certificates with the `openssl` CLI,
//! and the real clients (`curl`, `openssl s_client`) the tests talk to berth with.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// A CA in a fresh temp directory, and the certificates it issues there.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl Pki {
    /// A new CA (ECDSA P-256) in a temp directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("berth-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca = dir.join("ca.pem");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=berth test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &path_str(&dir.join("ca.key")),
            "-out",
            &path_str(&ca),
        ]);
        Self { dir, ca }
    }

    /// Issues a certificate for `dns` names into `STEM.pem` and `STEM.key` in the directory.
    pub fn issue(&self, stem: &str, dns: &[&str]) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            self.dir.join(format!("{stem}.pem")),
            self.dir.join(format!("{stem}.key")),
        );
        self.issue_to(&cert, &key, dns);
        (cert, key)
    }

    /// Issues a certificate for `dns` into exactly these files.
    pub fn issue_to(&self, cert: &Path, key: &Path, dns: &[&str]) {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let serial = format!(
            "{}{:04}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        let csr = cert.with_extension("csr");
        let ext = cert.with_extension("ext");
        let san: Vec<String> = dns.iter().map(|d| format!("DNS:{d}")).collect();
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
        .expect("write ext");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={}", dns[0]),
            "-keyout",
            &path_str(key),
            "-out",
            &path_str(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &path_str(&csr),
            "-days",
            "2",
            "-set_serial",
            &serial,
            "-CA",
            &path_str(&self.ca),
            "-CAkey",
            &path_str(&self.dir.join("ca.key")),
            "-extfile",
            &path_str(&ext),
            "-out",
            &path_str(cert),
        ]);
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl CLI is needed by the TLS tests (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `openssl s_client` saw of one handshake.
#[derive(Debug)]
pub struct Handshake {
    /// `TLSv1.3`, `TLSv1.2`; empty when the handshake failed.
    pub protocol: String,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<String>,
    /// `subject=...` line of the server certificate.
    pub subject: String,
    /// The server certificate, PEM.
    pub cert: String,
    /// Whether the chain verified against the CA.
    pub verified: bool,
    pub output: String,
}

/// One handshake with `openssl s_client` against 127.0.0.1:`port`; `sni: None` sends none.
pub fn s_client(port: u16, sni: Option<&str>, ca: &Path, extra: &[&str]) -> Handshake {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-CAfile", &path_str(ca)])
        .args(extra)
        .stdin(Stdio::null());
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .output()
        .expect("the openssl CLI is needed by the TLS tests");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    };
    let cert = match (
        output.find("-----BEGIN CERTIFICATE-----"),
        output.find("-----END CERTIFICATE-----"),
    ) {
        (Some(a), Some(b)) => output[a..b + 25].to_owned(),
        _ => String::new(),
    };
    Handshake {
        // `New, TLSv1.3, Cipher is ...` (the session block may be cut short by stdin's EOF).
        protocol: field("New, ")
            .and_then(|v| v.split(',').next().map(str::to_owned))
            .unwrap_or_default(),
        alpn: field("ALPN protocol:"),
        subject: field("subject=").unwrap_or_default(),
        cert,
        verified: output.contains("Verify return code: 0 (ok)"),
        output,
    }
}

/// Runs `curl -sS` with `args`; returns (exit success, stdout, stderr).
pub fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--noproxy", "*"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl is needed by the TLS tests (apt-get install curl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of the sample of `name` whose labels include every `k="v"` of `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An `openssl s_server -www` (a TLS server answering GETs with a status page), killed on drop.
pub struct SServer {
    child: std::process::Child,
    pub port: u16,
}

impl SServer {
    pub fn start(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-www", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        crate::wait::wait_until_blocking(
            std::time::Duration::from_secs(10),
            "openssl s_server to listen",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Self { child, port }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
