//! L4 services from container labels against a real engine: `berth.tcp.listener` makes a
//! container an endpoint of a `tcp` listener; connections are balanced over the replicas;
//! a replica told to stop keeps its open connections for `berth.drain`, then berth closes
//! them; a container naming an unknown tcp listener is rejected alone.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::docker_common::*;

/// The port the replicas' echo service listens on.
const ECHO: &str = "9000";

/// An echo replica of service `db` on the `pg` listener.
fn replica(
    run: &RunId,
    image: &TestImage,
    b: &Berth,
    name: &str,
    net: &Network,
) -> ContainerBuilder {
    ContainerBuilder::new(run, image)
        .name(name)
        .env("NAME", name)
        .env("ECHO_PORT", ECHO)
        .env("STOP_DELAY_MS", "5000")
        .label(&b.label("enable"), "true")
        .label(&b.label("service"), "db")
        .label(&b.label("tcp.listener"), "pg")
        .label(&b.label("port"), ECHO)
        .label(&b.label("drain"), "1s")
        .network(net)
}

/// Connects through `pg`; the replica's name line.
async fn connect(b: &Berth) -> (TcpStream, String) {
    let addr = b.server().listener("pg").expect("pg listener");
    let mut s = TcpStream::connect(addr).await.expect("connect to berth");
    let mut name = Vec::new();
    loop {
        let byte = tokio::time::timeout(Duration::from_secs(5), s.read_u8())
            .await
            .expect("name line in time")
            .expect("name line");
        if byte == b'\n' {
            break;
        }
        name.push(byte);
    }
    (s, String::from_utf8(name).expect("utf-8"))
}

async fn echoes(s: &mut TcpStream, byte: u8) -> bool {
    if s.write_all(&[byte]).await.is_err() {
        return false;
    }
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read_u8()).await,
        Ok(Ok(b)) if b == byte
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_replicas_serve_a_tcp_listener_and_drain_on_stop() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start_with_listeners(
        &run,
        "  pg: { address: \"127.0.0.1:0\", protocol: tcp }\n",
        "defaults: { slow_start: 0s }\n",
    );
    let http = client();
    let (r1, r2) = (
        replica(&run, &image, &b, "r1", &net),
        replica(&run, &image, &b, "r2", &net),
    );
    let bad = ContainerBuilder::new(&run, &image)
        .name("bad")
        .label(&b.label("enable"), "true")
        .label(&b.label("tcp.listener"), "nope")
        .network(&net);
    let (r1, r2, bad) = blocking(move || (r1.start(), r2.start(), bad.start())).await;
    b.wait_routable(&http, "db", &[&r1.id, &r2.id]).await;

    // Held connections are balanced: least_request counts open connections.
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(connect(&b).await);
    }
    let on_r1 = held.iter().filter(|(_, n)| n == "r1").count();
    assert_eq!(on_r1, 3, "open connections split evenly over the replicas");

    // Stop r1: its connections live on for berth.drain (1 s), new ones go to r2.
    let stopped = Instant::now();
    let id = r1.id.clone();
    blocking(move || docker_ok(&["kill", "-s", "TERM", &id])).await;
    let http2 = http.clone();
    b.wait_endpoint(&http2, "db", &r1.id, "draining", |e| !e.routable())
        .await;
    for (s, name) in held.iter_mut().filter(|(_, n)| n == "r1") {
        assert!(
            echoes(s, b'd').await,
            "{name}'s connection works inside the grace"
        );
    }
    for _ in 0..4 {
        let (_s, name) = connect(&b).await;
        assert_eq!(name, "r2", "no new connection to a draining replica");
    }
    for (s, _) in held.iter_mut().filter(|(_, n)| n == "r1") {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(8), s.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "berth closes the connection after the grace"
        );
    }
    let after = stopped.elapsed();
    assert!(
        after < Duration::from_millis(4500),
        "closed by berth's 1 s grace, not by the replica's exit 5 s after TERM: {after:?}"
    );
    for (s, _) in held.iter_mut().filter(|(_, n)| n == "r2") {
        assert!(echoes(s, b'k').await, "r2's connections are untouched");
    }
    let drained = b
        .metric(
            &http,
            "berth_tcp_connections_total{listener=\"pg\",service=\"db\",result=\"drained\"}",
        )
        .await;
    assert_eq!(drained, 3);

    // The container naming an unknown listener was rejected, alone.
    wait_until(CONVERGE, "the bad container to be rejected", || async {
        b.rejected_ids(&http).await.contains(&bad.id)
    })
    .await;
}
