//! Streaming bodies, WebSocket upgrades, HTTP/2 cleartext clients and graceful shutdown.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{backend, base, client, rss_kib, start, stream_bytes, yaml};
use crate::wait::wait_until;

const HUNDRED_MB: u64 = 100 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabytes_stream_both_ways_without_buffering() {
    let sink = backend("sink").await;
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, backends: [\"{}\"] }}\n",
        sink.addr
    )));
    let http = client();
    // Warm up allocator arenas and pools so the RSS baseline is fair.
    let _ = http
        .get(format!("{}/download?bytes=1048576", base(&server)))
        .send()
        .await;
    let before = rss_kib();

    let up = http
        .post(format!("{}/upload", base(&server)))
        .body(reqwest::Body::wrap(stream_bytes(HUNDRED_MB)))
        .send()
        .await
        .expect("upload");
    assert_eq!(up.text().await.expect("count"), HUNDRED_MB.to_string());
    let after_up = rss_kib();

    let down = http
        .get(format!("{}/download?bytes={HUNDRED_MB}", base(&server)))
        .send()
        .await
        .expect("download");
    let mut stream = down.bytes_stream();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        got += chunk.expect("chunk").len() as u64;
    }
    assert_eq!(got, HUNDRED_MB);
    let after_down = rss_kib();
    // Whole-body buffering would add ~100 MiB; streaming stays within a few MiB of noise.
    for after in [after_up, after_down] {
        let grown = after.saturating_sub(before);
        assert!(
            grown < 32 * 1024,
            "RSS grew {grown} KiB (before {before} KiB)"
        );
    }
    server.shutdown();
}

async fn ws_echo_backend() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_berth() {
    let (addr, task) = ws_echo_backend().await;
    let server = start(&yaml(&format!(
        "  ws: {{ listener: web, backends: [\"{addr}\"] }}\n"
    )));
    let web = server.listener("web").expect("web");
    let stream = tokio::net::TcpStream::connect(web).await.expect("connect");
    let (mut ws, response) = tokio_tungstenite::client_async(format!("ws://{web}/chat"), stream)
        .await
        .expect("websocket handshake through berth");
    assert_eq!(response.status(), 101);
    for i in 0..20 {
        let text = format!("hello {i}");
        ws.send(Message::text(text.clone())).await.expect("send");
        let echoed = ws.next().await.expect("frame").expect("ok frame");
        assert_eq!(echoed.into_text().expect("text").as_str(), text);
    }
    ws.close(None).await.expect("close");
    task.abort();
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_client() {
    let b = backend("h1-backend").await;
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, backends: [\"{}\"] }}\n",
        b.addr
    )));
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .expect("h2 client");
    let web = server.listener("web").expect("web");
    for _ in 0..5 {
        let r = h2
            .get(format!("http://{web}/x"))
            .send()
            .await
            .expect("h2 request");
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.expect("body"), "h1-backend");
    }
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let slow = backend("slow").await;
    let server = start(&yaml(&format!(
        "  s: {{ listener: web, backends: [\"{}\"] }}\n",
        slow.addr
    )));
    let url = format!("{}/slow?ms=700", base(&server));
    let web = server.listener("web").expect("web");
    let in_flight = tokio::spawn(async move { client().get(url).send().await });
    wait_until(
        Duration::from_secs(5),
        "the request to reach the backend",
        || async { slow.hits() == 1 },
    )
    .await;
    let started = Instant::now();
    let stopper = std::thread::spawn(move || server.shutdown());
    let response = in_flight
        .await
        .expect("task")
        .expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "slow");
    stopper.join().expect("shutdown thread");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        tokio::net::TcpStream::connect(web).await.is_err(),
        "no longer accepting"
    );
}
