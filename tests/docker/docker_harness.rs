//! Smoke tests of the Docker test harness (`docker_common`) against the real engine:
//! the replica image, its HEALTHCHECK, graceful stop, networks, the socket relay and cleanup.
//! Each test fails when no engine is reachable, unless `BERTH_SKIP_DOCKER=1` (then it skips).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::docker_common::*;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread")]
async fn replica_answers_its_name_on_its_address() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let cleanup = run.cleanup();
    {
        let image = TestImage::build_plain(&run);
        let started = Instant::now();
        let a = ContainerBuilder::new(&run, &image)
            .name("a")
            .env("NAME", "alpha")
            .label("berth.enable", "true")
            .start();
        assert_eq!(a.health(), None, "the plain image has no HEALTHCHECK");
        let answer = wait_for_answer(&a, "/");
        eprintln!(
            "plain container answering {:.1?} after start",
            started.elapsed()
        );
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "alpha");
        assert_eq!(answer.header("x-replica"), Some("alpha"));
        assert_eq!(answer.header("x-path"), Some("/"));
        assert_eq!(
            a.inspect("{{index .Config.Labels \"berth.enable\"}}"),
            "true"
        );
        assert_eq!(
            a.inspect("{{index .Config.Labels \"berth-test.run\"}}"),
            run.as_str()
        );

        let t = Instant::now();
        let slow = http_request(a.addr(), "GET", "/slow?ms=300", Duration::from_secs(5)).unwrap();
        assert_eq!((slow.status, slow.body.as_str()), (200, "alpha"));
        assert!(t.elapsed() >= Duration::from_millis(300));

        // Without NAME the replica answers its hostname, the container id prefix.
        let b = ContainerBuilder::new(&run, &image).start();
        let answer = wait_for_answer(&b, "/");
        assert!(
            b.id.starts_with(&answer.body) && answer.body.len() >= 12,
            "{answer:?}"
        );
    }
    assert_eq!(run.leftovers(), Vec::<String>::new());
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_follows_the_replica_health() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build(&run);
    let c = ContainerBuilder::new(&run, &image)
        .name("hc")
        .env("NAME", "hc")
        .start();
    let healthy = c.wait_healthy(HEALTH_TIMEOUT);
    eprintln!("start -> healthy in {healthy:.1?}");

    let t = Instant::now();
    c.exec_health(true);
    c.wait_health("unhealthy", HEALTH_TIMEOUT);
    eprintln!("/health/fail -> unhealthy in {:.1?}", t.elapsed());
    let answer = http_request(c.addr(), "GET", "/health", Duration::from_secs(2)).unwrap();
    assert_eq!(answer.status, 503);

    let t = Instant::now();
    c.exec_health(false);
    c.wait_healthy(HEALTH_TIMEOUT);
    eprintln!("/health/ok -> healthy in {:.1?}", t.elapsed());

    // START_UNHEALTHY=1 never becomes healthy until told to.
    let d = ContainerBuilder::new(&run, &image)
        .env("START_UNHEALTHY", "1")
        .start();
    d.wait_health("unhealthy", HEALTH_TIMEOUT);
    d.exec_health(false);
    d.wait_healthy(HEALTH_TIMEOUT);

    // --no-healthcheck removes the image's check.
    let e = ContainerBuilder::new(&run, &image).no_healthcheck().start();
    assert_eq!(e.health(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_drains_in_flight_requests_and_exits_zero() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let c = ContainerBuilder::new(&run, &image)
        .name("stop")
        .env("NAME", "stop")
        .start();
    wait_for_answer(&c, "/");

    let addr = c.addr();
    let in_flight = std::thread::spawn(move || {
        http_request(addr, "GET", "/slow?ms=1500", Duration::from_secs(10))
    });
    // A real sleep: the replica shows no in-flight count, so the request gets time to
    // reach it before the stop.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    c.stop(Duration::from_secs(10));
    let took = t.elapsed();
    eprintln!("docker stop with a 1.5 s request in flight took {took:.1?}");
    let answer = in_flight.join().unwrap().expect("in-flight request");
    assert_eq!((answer.status, answer.body.as_str()), (200, "stop"));
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM not handled: {took:?}"
    );
    assert_eq!(c.wait_exit(Duration::from_secs(5)), 0);
    assert!(c.logs().contains("SIGTERM"), "{}", c.logs());

    // Idle: the stop is immediate.
    let d = ContainerBuilder::new(&run, &image).start();
    wait_for_answer(&d, "/");
    let t = Instant::now();
    d.stop(Duration::from_secs(10));
    eprintln!("docker stop of an idle replica took {:.1?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(d.wait_exit(Duration::from_secs(5)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_pause_and_networks() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let front = Network::create(&run, "front");
    let back = Network::create(&run, "back");
    let c = ContainerBuilder::new(&run, &image)
        .name("multi")
        .env("NAME", "multi")
        .network(&front)
        .network(&back)
        .start();
    let networks = c.networks();
    assert_eq!(
        networks.keys().collect::<Vec<_>>(),
        [&back.name, &front.name],
        "{networks:?}"
    );
    assert_ne!(c.ip(&front), c.ip(&back));
    wait_for_answer(&c, "/");

    c.disconnect_network(&back);
    assert!(!c.networks().contains_key(&back.name));
    c.connect_network(&back);
    assert!(c.networks().contains_key(&back.name));

    // HUP has no handler in the replica; as PID 1 it ignores it and keeps serving.
    c.kill("HUP");
    // It answers after the HUP, so the signal is behind it.
    wait_for_answer(&c, "/");
    assert_eq!(c.status(), "running");

    c.pause();
    assert_eq!(c.status(), "paused");
    assert!(
        http_request(c.addr(), "GET", "/", Duration::from_millis(500)).is_err(),
        "a paused replica does not answer"
    );
    c.unpause();
    assert_eq!(c.status(), "running");
    wait_for_answer(&c, "/");

    c.kill("KILL");
    assert_eq!(c.wait_exit(Duration::from_secs(5)), 137);
}

#[tokio::test(flavor = "multi_thread")]
async fn relay_forwards_cuts_and_restores() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let relay = SocketRelay::start(&run);
    assert_eq!(ping(relay.path()).await.unwrap(), "OK");

    // A long-lived stream (the event stream) is cut too.
    let mut events = UnixStream::connect(relay.path()).await.unwrap();
    events
        .write_all(b"GET /events HTTP/1.0\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), events.read(&mut head))
        .await
        .expect("event stream head")
        .unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.0 200"), "{:?}", &head[..n]);
    assert_eq!(relay.connections(), 1);

    relay.cut();
    assert!(!relay.path().exists());
    assert!(ping(relay.path()).await.is_err(), "ping after cut()");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(2), events.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the event stream did not end on cut()");

    relay.restore();
    assert_eq!(ping(relay.path()).await.unwrap(), "OK");
    assert!(relay.endpoint().starts_with("unix://"));
    let path = relay.path().to_owned();
    drop(relay);
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_guard_removes_what_handles_leaked() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "leak");
    let c = ContainerBuilder::new(&run, &image).network(&net).start();
    // As if a test had panicked with its handles somewhere unreachable.
    std::mem::forget(c);
    std::mem::forget(net);
    std::mem::forget(image);
    assert_eq!(run.leftovers().len(), 3, "{:?}", run.leftovers());
    drop(cleanup);
    assert_eq!(run.leftovers(), Vec::<String>::new());
}

/// `GET /_ping` over the unix socket with a raw HTTP/1.0 request; the body on success.
async fn ping(path: &std::path::Path) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path).await?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await??;
    let raw = String::from_utf8_lossy(&raw);
    match raw.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") => Ok(body.to_owned()),
        _ => Err(std::io::Error::other(format!("bad answer {raw:?}"))),
    }
}

/// Polls the replica until it answers `path` (it listens a few ms after `docker start`).
fn wait_for_answer(c: &Container, path: &str) -> HttpAnswer {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match http_request(c.addr(), "GET", path, Duration::from_secs(1)) {
            Ok(answer) => return answer,
            Err(e) if Instant::now() >= deadline => {
                panic!("{} does not answer: {e}\n{}", c.name, c.logs())
            }
            // The poll interval of this wait (its deadline is above).
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
