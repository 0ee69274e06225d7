//! Faults around berth, each while a well-behaved client on the side keeps being served
//! (the abuse suites' harness, berth run as a process): a backend that resets mid-response
//! (the client sees a cut answer, the endpoint is blamed) or a client that leaves
//! mid-response (the endpoint is not), a backend that drips its answer, the config file
//! deleted or replaced by a directory, and an access log on a full disk (`/dev/full`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::abuse::harness::{under_attack, Berth, Setup, TIMEOUT};
use crate::common::{self, backend};
use crate::wait::wait_until;

/// How a [`raw_backend`] answers a request other than `/health`.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// A head promising 100,000 bytes, 1,000 of them, then at `go` a reset (RST).
    ResetMidBody,
    /// Its head one byte every 100 ms, forever.
    DripHead,
    /// A head promising 6 bytes, 3 of them, then waits for `go` before the last 3.
    HalfThenWait,
}

/// Reads one request head from `s`; `None` when the client closed first.
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A backend written over raw TCP: `/health` is answered 200 (keep-alive), anything else
/// as `how` says.
async fn raw_backend(how: Misbehaviour, go: Arc<Notify>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, how, Arc::clone(&go)));
        }
    });
    addr
}

async fn serve(mut s: TcpStream, how: Misbehaviour, go: Arc<Notify>) {
    while let Some(head) = read_head(&mut s).await {
        if head.starts_with("GET /health ") {
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if s.write_all(ok).await.is_err() {
                return;
            }
            continue;
        }
        match how {
            Misbehaviour::ResetMidBody => {
                let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
                let _ = s.write_all(head).await;
                let _ = s.write_all(&[b'x'; 1000]).await;
                go.notified().await;
                // SO_LINGER 0: the close is a reset.
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            }
            Misbehaviour::DripHead => {
                for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                    .iter()
                    .cycle()
                {
                    // The drip under test: a real sleep between bytes.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if s.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                }
            }
            Misbehaviour::HalfThenWait => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc")
                    .await;
                go.notified().await;
                let _ = s.write_all(b"def").await;
                continue;
            }
        }
        return;
    }
}

fn outlier(tag: &str) -> Setup<'_> {
    let top = "defaults: { outlier: { consecutive_failures: 3, max_ejected_percent: 100 } }\n";
    Setup {
        tag,
        top,
        ..Setup::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_reset_mid_response_cuts_the_answer_and_is_blamed() {
    let _cpu = common::exclusive().await;
    let go = Arc::new(Notify::new());
    let addr = raw_backend(Misbehaviour::ResetMidBody, Arc::clone(&go)).await;
    // Two: berth never ejects the last endpoint of a service.
    let other = raw_backend(Misbehaviour::ResetMidBody, Arc::clone(&go)).await;
    // The side client is served by another service: its successes would reset the count of
    // failures in a row.
    let good = backend("faults-midreset-side").await;
    let services = format!(
        "  side: {{ listener: web, backends: [\"{}\"] }}\n",
        good.addr
    );
    let setup = Setup {
        service: ", path: /cut",
        services: &services,
        ..outlier("midreset")
    };
    let berth = Berth::start_with(setup, &[addr, other]).await;
    let url = berth.url("/cut");
    let fault = async {
        // Three in a row on each endpoint (round robin).
        for _ in 0..6 {
            let r = common::client().get(&url).send().await.expect("a head");
            assert_eq!(r.status(), 200, "the head came before the reset");
            go.notify_one();
            let body = r.bytes().await;
            assert!(body.is_err(), "a cut answer must not look whole: {body:?}");
        }
    };
    under_attack(&berth, "backend reset mid-response", fault).await;
    let ejected = "berth_ejections_total{service=\"midreset\"}";
    wait_until(TIMEOUT, "the endpoint to be ejected", || async {
        berth.metric(ejected).await == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_response_does_not_blame_the_backend() {
    let _cpu = common::exclusive().await;
    let a = backend("faults-leave").await;
    let berth = Berth::start(outlier("leave"), a.addr).await;
    let fault = async {
        for _ in 0..6 {
            let mut s = TcpStream::connect(berth.web).await.expect("connect");
            let request = "GET /download?bytes=10000000 HTTP/1.1\r\nHost: h\r\n\r\n";
            s.write_all(request.as_bytes()).await.expect("request");
            let mut some = [0u8; 4096];
            let n = s.read(&mut some).await.expect("the answer starts");
            assert!(some[..n].starts_with(b"HTTP/1.1 200"));
            // The client goes away with most of the body unread: a reset.
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    };
    under_attack(&berth, "client leaving mid-response", fault).await;
    assert_eq!(
        berth
            .metric("berth_ejections_total{service=\"leave\"}")
            .await,
        0
    );
    let eps = common::endpoints(&berth.admin, "leave").await;
    assert!(eps.iter().all(|e| e["state"] == "routable"), "{eps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_dripping_its_head_gets_504_at_the_request_timeout() {
    let _cpu = common::exclusive().await;
    let addr = raw_backend(Misbehaviour::DripHead, Arc::default()).await;
    let setup = Setup {
        tag: "drip",
        service: ", timeout: 1s",
        ..Setup::default()
    };
    let berth = Berth::start(setup, addr).await;
    let url = berth.url("/drip");
    let fault = async {
        let tasks = (0..20).map(|_| async { common::client().get(&url).send().await });
        for answer in futures_util::future::join_all(tasks).await {
            assert_eq!(answer.expect("an answer").status(), 504);
        }
    };
    under_attack(&berth, "backend dripping its head", fault).await;
    let series = format!(
        "berth_upstream_requests_total{{service=\"drip\",endpoint=\"{addr}\",code=\"504\"}}"
    );
    assert_eq!(berth.metric(&series).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_body_is_streamed_as_it_comes() {
    let _cpu = common::exclusive().await;
    let go = Arc::new(Notify::new());
    let addr = raw_backend(Misbehaviour::HalfThenWait, Arc::clone(&go)).await;
    let setup = Setup {
        tag: "dripbody",
        service: ", timeout: 1s",
        ..Setup::default()
    };
    let berth = Berth::start(setup, addr).await;
    let url = berth.url("/half");
    let fault = async {
        let mut r = common::client().get(&url).send().await.expect("a head");
        // The backend holds the rest until this part has reached the client.
        let first = r.chunk().await.expect("a first part").expect("bytes");
        assert_eq!(&first[..], b"abc", "the part sent so far, not held back");
        go.notify_one();
        let rest = r.chunk().await.expect("the rest").expect("bytes");
        assert_eq!(&rest[..], b"def");
    };
    under_attack(&berth, "backend dripping its body", fault).await;
}

/// Waits until `berth` has refused one more reload than `before`.
async fn refused_after(berth: &Berth, before: u64) {
    let series = "berth_config_reloads_total{result=\"error\"}";
    wait_until(TIMEOUT, "the reload to be refused", || async {
        berth.metric(series).await > before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_unreadable_config_keeps_the_last_good_one() {
    let _cpu = common::exclusive().await;
    let a = backend("faults-config").await;
    let berth = Berth::start(
        Setup {
            tag: "cfg",
            ..Setup::default()
        },
        a.addr,
    )
    .await;
    let good = std::fs::read_to_string(&berth.config).expect("config");
    let errors = "berth_config_reloads_total{result=\"error\"}";
    let fault = async {
        std::fs::remove_file(&berth.config).expect("delete the config");
        refused_after(&berth, 0).await;
        // Unreadable: a directory where the file was (a mode of 000 does not stop root).
        std::fs::create_dir(&berth.config).expect("a directory in its place");
        refused_after(&berth, 1).await;
        std::fs::remove_dir(&berth.config).expect("remove the directory");
        // A change, or the reload would be a no-op and not counted.
        let changed = good.replace("backends:", "timeout: 5s, backends:");
        common::replace_file(&berth.config, &changed);
    };
    under_attack(&berth, "config deleted, then a directory", fault).await;
    let log = berth.log();
    assert!(
        log.contains("config reload refused, the last good config keeps serving"),
        "{log}"
    );
    let ok = "berth_config_reloads_total{result=\"ok\"}";
    wait_until(TIMEOUT, "the good file back to reload", || async {
        berth.metric(ok).await >= 1
    })
    .await;
    assert!(berth.metric(errors).await >= 2);
    let status = common::client()
        .get(berth.url("/"))
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_log_on_a_full_disk_drops_lines_and_berth_serves() {
    let _cpu = common::exclusive().await;
    let a = backend("faults-full").await;
    let top = "log: { access_log: { format: json, path: \"/dev/full\" } }\n";
    let berth = Berth::start(
        Setup {
            tag: "full",
            top,
            ..Setup::default()
        },
        a.addr,
    )
    .await;
    let url = berth.url("/");
    let fault = async {
        for _ in 0..50 {
            let r = common::client().get(&url).send().await.expect("get");
            assert_eq!(r.status(), 200);
        }
    };
    under_attack(&berth, "access log on a full disk", fault).await;
    let dropped = "berth_access_log_dropped_total";
    wait_until(TIMEOUT, "50 dropped lines at least", || async {
        berth.metric(dropped).await >= 50
    })
    .await;
}
