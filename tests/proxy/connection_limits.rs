//! Connection limits: a listener's `max_connections` and `connections.per_client` close the
//! connection over the limit at once (counted), and a slot comes back when a connection
//! ends; a berth holding as many idle connections as its descriptors allow still answers
//! its admin listener and does not spin.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{self, backend, start};
use crate::wait::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// True when berth closes `s` without a word within 5 s.
async fn closed_at_once(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
}

/// A GET on a new connection answers 200.
async fn served(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    let request = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    if s.write_all(request).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    answer.starts_with(b"HTTP/1.1 200")
}

fn config(listener: &str, extra: &str, backend: SocketAddr) -> String {
    format!(
        "listeners:\n  {listener}: {{ address: \"127.0.0.1:0\"{extra} }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\ndocker: {{ enabled: false }}\nworkers: 1\n\
         services:\n  {listener}-s: {{ listener: {listener}, backends: [\"{backend}\"] }}\n"
    )
}

#[tokio::test]
async fn a_listener_over_its_max_connections_closes_the_next_one() {
    let a = backend("cl-a").await;
    let server = start(&config("capped", ", max_connections: 3", a.addr));
    let web = server.listener("capped").expect("listener");
    let admin = format!("http://{}", server.admin);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(web).await.expect("connect"));
    }
    let refused =
        "berth_connections_refused_total{listener=\"capped\",reason=\"listener_max_connections\"}";
    // The three are accepted before the fourth (one accept loop, in order).
    let mut fourth = TcpStream::connect(web).await.expect("connect");
    assert!(
        closed_at_once(&mut fourth).await,
        "the 4th connection is closed"
    );
    assert_eq!(common::metric(&admin, refused).await, 1);
    held.pop();
    wait_until(Duration::from_secs(5), "a freed slot to serve", || {
        served(web)
    })
    .await;
}

#[tokio::test]
async fn one_client_over_per_client_is_closed_others_are_not_counted_against_it() {
    let a = backend("cl-pc").await;
    let yaml = format!(
        "{}connections: {{ per_client: 2 }}\n",
        config("perclient", "", a.addr)
    );
    let server = start(&yaml);
    let web = server.listener("perclient").expect("listener");
    let admin = format!("http://{}", server.admin);
    let _held = [
        TcpStream::connect(web).await.expect("connect"),
        TcpStream::connect(web).await.expect("connect"),
    ];
    let mut third = TcpStream::connect(web).await.expect("connect");
    assert!(
        closed_at_once(&mut third).await,
        "a 3rd from one IP is closed"
    );
    let refused = "berth_connections_refused_total{listener=\"perclient\",reason=\"per_client\"}";
    assert_eq!(common::metric(&admin, refused).await, 1);
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("addr").port()
}

/// CPU seconds process `pid` has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// berth run with 128 open files at most: a flood of idle connections fills the default
/// limit (derived from those 128), the rest are closed at once, the admin listener keeps
/// answering and berth does not spin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_berth_still_answers_admin_and_does_not_spin() {
    let (web, admin) = (free_port(), free_port());
    let path = std::env::temp_dir().join(format!("berth-fds-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "listeners:\n  fds: {{ address: \"127.0.0.1:{web}\" }}\n\
             admin: {{ address: \"127.0.0.1:{admin}\" }}\ndocker: {{ enabled: false }}\nworkers: 1\n"
        ),
    )
    .expect("write config");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 128 && exec {} run --config {}",
            env!("CARGO_BIN_EXE_berth"),
            path.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth");
    let healthz = format!("http://127.0.0.1:{admin}/healthz");
    let http = common::client();
    let up = || async { http.get(&healthz).send().await.is_ok() };
    wait_until(Duration::from_secs(15), "berth to start", up).await;
    let mut held = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", web)).await {
            held.push(s);
        }
    }
    let before = cpu_seconds(child.id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = cpu_seconds(child.id()) - before;
    let answer = http.get(&healthz).send().await;
    let metrics = http
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let _ = child.kill();
    let mut log = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut log);
    }
    let _ = child.wait();
    let status = answer.map(|r| r.status().as_u16()).unwrap_or(0);
    assert_eq!(
        status, 200,
        "admin answers with every descriptor in use; log:\n{log}"
    );
    assert!(
        busy < 0.5,
        "berth used {busy:.2} s of CPU in 2 s while full; log:\n{log}"
    );
    let refused = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                "berth_connections_refused_total{listener=\"fds\",reason=\"max_connections\"}",
            )
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        refused > 100.0,
        "connections over the limit are refused: {refused}"
    );
    assert!(plain(&log).contains("max_connections=48"), "{log}");
}

/// `text` without its ANSI colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence ends with its first letter.
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
