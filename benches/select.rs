//! Endpoint selection on the hot path: `Selector::pick` for every algorithm at 3, 100 and
//! 1,000 endpoints.
//!
//! Selection runs once per request (and once more per retry) inside a budget of about a
//! microsecond for everything berth adds to a proxied request (see docs/ARCHITECTURE.md, "Hot path"), so
//! its target is a median ≤ 50 ns at 1,000 endpoints. Endpoints have mixed weights and a few
//! requests in flight, as in a live service; the hash keys rotate over 256 prepared requests so
//! the Maglev table is not read from one hot cache line only. Run with
//! `cargo bench --bench select -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use berth::balance::{PickContext, Selector};

use berth::endpoint::{Endpoint, InFlight};
use berth::model::{Balance, EndpointKey};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderValue};

const SIZES: [u16; 3] = [3, 100, 1_000];
const FORMS: [(&str, &str); 5] = [
    ("round_robin", "round_robin"),
    ("least_request", "least_request"),
    ("peak_ewma", "peak_ewma"),
    ("hash_header", "hash(header:x-user)"),
    ("hash_client_ip", "hash(client_ip)"),
];

/// `n` endpoints, weights 1–4, with some requests in flight (the guards keep them there).
fn endpoints(n: u16) -> (Vec<Arc<Endpoint>>, Vec<InFlight>) {
    let eps: Vec<Arc<Endpoint>> = (0..n)
        .map(|i| {
            let key = EndpointKey {
                source: format!("container-{i}").into(),
                addr: ([10, 1, (i >> 8) as u8, i as u8], 8080).into(),
            };
            Arc::new(Endpoint::new(key, u32::from(i % 4 + 1)))
        })
        .collect();
    let busy = eps
        .iter()
        .enumerate()
        .flat_map(|(i, e)| (0..i % 3).map(|_| e.begin_request()))
        .collect();
    (eps, busy)
}

/// 256 requests with distinct keys (a UUID-sized header value, distinct client addresses).
fn requests() -> Vec<(IpAddr, HeaderMap)> {
    (0u32..256)
        .map(|i| {
            let mut h = HeaderMap::new();
            let user = format!("{i:08x}-7d2c-4f0e-9a51-3b6c0e2d9f14");
            if let Ok(v) = HeaderValue::from_str(&user) {
                h.insert("x-user", v);
            }
            (IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | i)), h)
        })
        .collect()
}

fn select(c: &mut Criterion) {
    let reqs = requests();
    let mut group = c.benchmark_group("pick");
    for n in SIZES {
        let (eps, _busy) = endpoints(n);
        for (name, form) in FORMS {
            let Ok(balance) = form.parse::<Balance>() else {
                panic!("bench form {form} must parse");
            };
            let selector = Selector::new(&balance, &eps);
            let ctxs: Vec<PickContext<'_>> = reqs
                .iter()
                .map(|(ip, h)| PickContext {
                    client_ip: *ip,
                    headers: h,
                })
                .collect();
            let mut i = 0usize;
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    i = (i + 1) & 255;
                    black_box(selector.pick(black_box(&eps), &ctxs[i], black_box(&[])))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
