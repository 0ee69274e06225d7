//! Memory of the rate limiter under a flood of distinct client addresses.
//!
//! What is measured and why: a per-client limiter that keeps a bucket per address grows
//! without bound when an attacker varies its source (or its `X-Forwarded-For` through a
//! trusted proxy). berth's limiter is a fixed table; this bench proves it end to end: berth
//! runs in-process (one worker) with a rate-limited service behind a listener that trusts
//! 127.0.0.1, and 1,000,000 keep-alive requests, each with a distinct `X-Forwarded-For`
//! address, go through it. The process's RSS is printed before and after (the target: flat,
//! within a few MB, whatever the number of addresses).
//!
//! Usage: cargo bench --bench rate_limit_memory      Tuning: REQUESTS=1000000 CONCURRENCY=8

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn backend() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|_| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::main]
async fn main() {
    let requests = env("REQUESTS", 1_000_000);
    let concurrency = env("CONCURRENCY", 8);
    let backend = backend().await;
    let yaml = format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\", trusted_ips: [127.0.0.1] }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\ndocker: {{ enabled: false }}\nworkers: 1\n\
         services:\n  api:\n    rate_limit: {{ average: 1, period: 1m, burst: 1 }}\n    \
         backends: [\"{backend}\"]\n"
    );
    let config = berth::config::parse(&yaml, "bench.yaml").expect("config");
    let server = berth::server::Server::start(config, None).expect("berth starts");
    let url = format!("http://{}/", server.listener("web").expect("web"));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    // Warm up: connections, the limiter's table, allocator arenas.
    for i in 0..1000u32 {
        let xff = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        let _ = http.get(&url).header("x-forwarded-for", xff).send().await;
    }
    let before = rss_kib();
    let next = Arc::new(AtomicU64::new(0));
    let (passed, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, next) = (http.clone(), url.clone(), next.clone());
            let (passed, refused) = (passed.clone(), refused.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    // Distinct addresses from 11.0.0.0 on: one per request.
                    let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i as u32).to_string();
                    let r = http.get(&url).header("x-forwarded-for", ip).send().await;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(200) => passed.fetch_add(1, Ordering::Relaxed),
                        Ok(429) => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected {other:?}"),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let after = rss_kib();
    println!(
        "rate_limit_memory: {requests} requests from {requests} addresses in {:.1} s \
         ({} passed, {} refused): RSS {} KiB before, {} KiB after ({:+} KiB)",
        started.elapsed().as_secs_f64(),
        passed.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        before,
        after,
        after as i64 - before as i64
    );
}
