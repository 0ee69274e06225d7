//! Route lookup cost: [`RouteTable::find`] is called once per HTTP request, so it must stay
//! far inside the ~1 µs per-request budget berth has on top of a bare hyper proxy (target:
//! ≤ 200 ns median with 1,000 routes, no allocation).
//!
//! Measured with 1,000 routes in two shapes — 1,000 distinct hosts with one path each (many
//! small virtual hosts), and 10 hosts × 100 path prefixes (a few API gateways) — plus a
//! wildcard hit that has to miss the exact level first, and a miss that walks every level of
//! a deep path. Request hosts carry a port and mixed case, as clients send them. Before
//! timing, a counting allocator checks that a lookup allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use berth::state::route::{RouteTable, RouteTableBuilder};
use criterion::{criterion_group, criterion_main, Criterion};

/// The system allocator, counting allocations so the bench can assert there are none.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call unchanged to `System`, which upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// 1,000 hosts `svcN.example.com`, each with the single prefix `/`, plus `*.apps.example.com`.
fn many_hosts() -> RouteTable<usize> {
    let mut builder = RouteTableBuilder::new();
    for i in 0..1000 {
        let host = [format!("svc{i}.example.com")];
        builder.add(&host, "/", i).expect("distinct hosts");
    }
    builder
        .add(&["*.apps.example.com"], "/", 1000)
        .expect("distinct wildcard");
    builder.build()
}

/// 10 hosts `hostH.example.com`, each with 100 prefixes `/svcP`.
fn many_paths() -> RouteTable<usize> {
    let mut builder = RouteTableBuilder::new();
    for h in 0..10 {
        let host = [format!("host{h}.example.com")];
        for p in 0..100 {
            builder
                .add(&host, &format!("/svc{p}"), h * 100 + p)
                .expect("distinct routes");
        }
    }
    builder.build()
}

fn lookup(c: &mut Criterion, name: &str, table: &RouteTable<usize>, host: &str, path: &str) {
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..1000 {
        black_box(table.find(black_box(Some(host)), black_box(path)));
    }
    assert_eq!(
        ALLOCATIONS.load(Relaxed),
        before,
        "{name}: lookup allocated"
    );
    c.bench_function(name, |b| {
        b.iter(|| {
            black_box(table.find(black_box(Some(host)), black_box(path)))
                .map(|m| *m.target + m.prefix_len)
        })
    });
}

fn route(c: &mut Criterion) {
    let hosts = many_hosts();
    let paths = many_paths();
    let hit = |t: &RouteTable<usize>, host, path| t.find(Some(host), path).is_some();
    assert!(hit(&hosts, "Svc500.Example.com:8080", "/api/v1/users/42"));
    assert!(hit(&paths, "HOST5.example.com:8080", "/svc57/items/123"));
    assert!(hit(&hosts, "Web-7.Apps.example.com:443", "/index.html"));
    assert!(!hit(
        &paths,
        "unknown.example.org:8080",
        "/svc57/items/123/a/b/c"
    ));

    let path = "/api/v1/users/42";
    lookup(
        c,
        "1000 hosts x 1 path",
        &hosts,
        "Svc500.Example.com:8080",
        path,
    );
    let path = "/svc57/items/123";
    lookup(
        c,
        "10 hosts x 100 paths",
        &paths,
        "HOST5.example.com:8080",
        path,
    );
    let host = "Web-7.Apps.example.com:443";
    lookup(c, "wildcard hit", &hosts, host, "/index.html");
    let path = "/svc57/items/123/a/b/c";
    lookup(c, "miss", &paths, "unknown.example.org:8080", path);
}

criterion_group!(benches, route);
criterion_main!(benches);
