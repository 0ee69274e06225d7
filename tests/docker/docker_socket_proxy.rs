//! Least privilege: berth follows the engine through a read-only socket proxy — HAProxy
//! allowing only `GET` on the calls berth makes, the way docker-socket-proxy does — and
//! routes, drains and removes containers as usual, while the proxy refuses any write.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::docker_common::*;

/// The calls berth makes (README, "What berth asks of the engine"), `GET` only.
const ALLOWED: &str = r"^(/v[0-9.]+)?/(_ping|version|info|events|containers/json|containers/[A-Za-z0-9_.-]+/json|services|services/[A-Za-z0-9]+|tasks)$";

/// HAProxy in front of the engine's socket on a free loopback port; stopped on drop.
struct SocketProxy {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl SocketProxy {
    fn start(run: &RunId) -> SocketProxy {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("addr").port()
        };
        let dir = std::env::temp_dir().join(run.name("socket-proxy"));
        std::fs::create_dir_all(&dir).expect("proxy dir");
        let config = format!(
            "global\n  maxconn 256\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 1h\n  \
             timeout server 1h\n  timeout tunnel 1h\n\
             frontend engine_ro\n  bind 127.0.0.1:{port}\n  \
             http-request deny unless METH_GET\n  \
             http-request deny unless {{ path_reg {ALLOWED} }}\n  \
             default_backend engine\n\
             backend engine\n  server socket /var/run/docker.sock\n"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        // Debian installs it in /usr/sbin, not always on a test's PATH.
        let haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("haproxy");
        let child = Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (the test script installs it) starts");
        let proxy = SocketProxy { child, port, dir };
        wait_until_blocking(Duration::from_secs(10), "haproxy to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", proxy.port)).is_ok()
        });
        proxy
    }

    fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn berth_works_through_a_read_only_socket_proxy() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let proxy = SocketProxy::start(&run);
    let addr = format!("127.0.0.1:{}", proxy.port).parse().expect("addr");
    let write = http_request(addr, "POST", "/containers/create", Duration::from_secs(5));
    assert_eq!(
        write.map(|a| a.status).ok(),
        Some(403),
        "the proxy refuses writes"
    );

    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let docker = format!("enabled: true, endpoint: \"{}\"", proxy.endpoint());
    let b = Berth::start_watched_with(&run, &docker, "");
    let service = format!("{}-ro", run.as_str());
    let replica = ContainerBuilder::new(&run, &image)
        .name("ro")
        .env("NAME", "ro")
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), &service)
        .network(&net)
        .start();
    let http = client();
    wait_until(
        CONVERGE,
        "the container routed through the proxy",
        || async { b.routable(&http, &service).await.len() == 1 },
    )
    .await;
    wait_until(CONVERGE, "an answer through berth", || async {
        match http.get(b.url("/")).send().await {
            Ok(r) => r.text().await.is_ok_and(|t| t == "ro"),
            Err(_) => false,
        }
    })
    .await;
    replica.stop(Duration::from_secs(5));
    wait_until(
        CONVERGE,
        "the stopped container no longer routed",
        || async { b.routable(&http, &service).await.is_empty() },
    )
    .await;
}
