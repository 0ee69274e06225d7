//! Proves that `Selector::pick` makes no heap allocation, for every algorithm, at 1,000
//! endpoints (some draining, so probing and fallbacks run too), with and without retries.
//!
//! A counting global allocator wraps `System`; it counts, per thread, only on a thread that has
//! switched measuring on, so the test harness's own threads cannot disturb (or mask) the count.
//! Selectors, contexts and header maps are all built before measuring starts.
//!
//! Its own test binary, not a module of `tests/proxy/`: `#[global_allocator]` is per binary,
//! and this one would put every allocation of the other suites through the counter; alone,
//! the proof depends on nothing but what it links.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use berth::balance::{PickContext, Selector};

use berth::endpoint::Endpoint;
use berth::model::{Balance, EndpointKey};
use http::{HeaderMap, HeaderValue};

struct Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    /// Per thread, so tests running in parallel cannot add to each other's count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    if MEASURING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the only
// addition is bumping an atomic counter, which neither allocates nor touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract of `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn endpoints(n: u16) -> Vec<Arc<Endpoint>> {
    (0..n)
        .map(|i| {
            let key = EndpointKey {
                source: format!("c{i}").into(),
                addr: ([10, 1, (i >> 8) as u8, i as u8], 8080).into(),
            };
            let e = Arc::new(Endpoint::new(key, u32::from(i % 4 + 1)));
            if i % 10 == 3 {
                e.drain();
            }
            e
        })
        .collect()
}

/// Header maps with distinct keys, and one without any key (the keyless fallback).
fn header_maps() -> Vec<HeaderMap> {
    let mut maps: Vec<HeaderMap> = (0..64)
        .map(|i| {
            let mut h = HeaderMap::new();
            let user = format!("user-{i}-0123456789abcdef");
            h.insert("x-user", HeaderValue::from_str(&user).expect("ascii"));
            let cookie = format!("theme=dark; sid=\"{user}\"; lang=en");
            h.insert("cookie", HeaderValue::from_str(&cookie).expect("ascii"));
            h
        })
        .collect();
    maps.push(HeaderMap::new());
    maps
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(
        n >= 1,
        "the counting allocator must be able to fail this test"
    );
}

#[test]
fn pick_never_allocates() {
    let eps = endpoints(1_000);
    let maps = header_maps();
    let forms = [
        "round_robin",
        "least_request",
        "peak_ewma",
        "hash(header:x-user)",
        "hash(cookie:sid)",
        "hash(client_ip)",
    ];
    for form in forms {
        let balance: Balance = form.parse().expect("valid form");
        let selector = Selector::new(&balance, &eps);
        let ctxs: Vec<PickContext<'_>> = (0u32..)
            .zip(&maps)
            .map(|(i, headers)| PickContext {
                client_ip: IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | i)),
                headers,
            })
            .collect();
        // First use on this thread seeds the thread-local generator (no allocation either,
        // but it is set-up, not the hot path).
        let _ = selector.pick(&eps, &ctxs[0], &[]);
        let mut picked = 0usize;
        let count = allocations_in(|| {
            let mut last = 0usize;
            for i in 0..10_000 {
                let ctx = &ctxs[i % ctxs.len()];
                let retry = [last, (last + 1) % 1_000, 3, 13];
                let tried = if i % 3 == 0 { &retry[..] } else { &[][..] };
                last = selector.pick(&eps, ctx, tried).unwrap_or(0);
                picked += 1;
            }
        });
        assert_eq!(picked, 10_000);
        assert_eq!(count, 0, "{form}: {count} allocations in 10,000 picks");
    }
}
