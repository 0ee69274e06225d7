//! Snapshot rebuild: `Reconciler::publish` with 100 endpoints in 20 services, 1,000 in 200 and
//! 10,000 in 2,000, for `round_robin` and `least_request` services.
//!
//! Every burst of provider updates (a container starting, a health change, a config reload)
//! costs one full rebuild: selectors, route tables and the metric handles the hot path uses
//! are all built anew, so the rebuild time is the floor of discovery convergence and the cost
//! of an event storm. Target (issue 3): ≤ 5 ms at 1,000 endpoints in 200 services.
//!
//! The rebuild is measured twice: first with no metrics recorder installed (the `metrics`
//! macros are no-ops, so this is the cost of berth's own structures), then with berth's
//! Prometheus recorder installed as `Server::start` does (every rebuild resolves a counter per
//! status code per service and endpoint in the recorder's registry). A third group times the
//! parts of a rebuild on their own (`Service::new`, `StatusCounters::new`, the route table),
//! to show where the time goes. Run with
//! `cargo bench --bench snapshot -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;

use berth::discovery::Input;
use berth::endpoint::Endpoint;
use berth::metrics::{label, StatusCounters, REQUESTS_TOTAL, UPSTREAM_REQUESTS_TOTAL};
use berth::model::{
    Availability, Balance, Defaults, EndpointKey, EndpointSpec, Layer, ProviderId, ServiceSpec,
    Update,
};
use berth::state::reconciler::Reconciler;
use berth::state::route::RouteTableBuilder;
use berth::state::snapshot::Service;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// (endpoints, services): five replicas per service.
const SIZES: [(usize, usize); 3] = [(100, 20), (1_000, 200), (10_000, 2_000)];

fn config() -> Arc<berth::config::Config> {
    let yaml = "listeners:\n  web: { address: \"127.0.0.1:0\" }\nadmin: { address: \"127.0.0.1:0\" }\ndocker: { enabled: false }\n";
    Arc::new(berth::config::parse(yaml, "bench.yaml").expect("valid bench config"))
}

/// Service `i`: path `/s<i>`, host `s<i>.example.com` on every third, half round_robin and half
/// least_request.
fn service(i: usize) -> Arc<ServiceSpec> {
    Arc::new(ServiceSpec {
        hosts: if i % 3 == 0 {
            vec![format!("s{i}.example.com")]
        } else {
            Vec::new()
        },
        path: format!("/s{i}"),
        balance: if i % 2 == 0 {
            Balance::RoundRobin
        } else {
            Balance::LeastRequest
        },
        ..Defaults::default().service(format!("svc-{i}").into(), Layer::Http)
    })
}

fn specs(endpoints: usize, services: usize) -> Vec<EndpointSpec> {
    let services: Vec<_> = (0..services).map(service).collect();
    (0..endpoints)
        .map(|i| EndpointSpec {
            key: EndpointKey {
                source: format!("{i:064x}").into(),
                addr: ([10, 1, (i >> 8) as u8, i as u8], 8080).into(),
            },
            weight: 1 + (i % 3) as u32,
            service: Arc::clone(&services[i % services.len()]),
            availability: Availability::default(),
            origin: format!("container c{i} on network front").into(),
        })
        .collect()
}

/// A reconciler holding `endpoints` in `services`, published once.
fn reconciler(endpoints: usize, services: usize) -> Reconciler {
    let mut r = Reconciler::new(config());
    r.apply(Input::Update(Update::Reset {
        provider: ProviderId::Docker,
        endpoints: specs(endpoints, services),
    }));
    r.publish();
    let snap = r.published().load_full();
    assert_eq!(snap.services.len(), services);
    assert_eq!(snap.listeners[0].routes.len(), services);
    r
}

fn rebuild(c: &mut Criterion, group: &str) {
    let mut g = c.benchmark_group(group);
    for (endpoints, services) in SIZES {
        let mut r = reconciler(endpoints, services);
        g.bench_function(
            BenchmarkId::from_parameter(format!("{endpoints}ep_{services}svc")),
            |b| b.iter(|| r.publish()),
        );
        black_box(r.published().load().generation);
    }
    g.finish();
}

/// Without a recorder: the `metrics` macros are no-ops.
fn publish_noop_recorder(c: &mut Criterion) {
    rebuild(c, "publish/noop_recorder");
}

/// With berth's Prometheus recorder, as in a running server. Must run after the no-op group:
/// a global recorder cannot be uninstalled.
fn publish_prometheus(c: &mut Criterion) {
    let _handle = berth::metrics::install();
    rebuild(c, "publish/prometheus");
}

/// The parts of a 1,000-endpoint rebuild on their own (Prometheus recorder installed).
fn parts(c: &mut Criterion) {
    let _handle = berth::metrics::install();
    let (endpoints, services) = (1_000, 200);
    let specs = specs(endpoints, services);
    let mut grouped: Vec<(Arc<ServiceSpec>, Vec<Arc<Endpoint>>)> = (0..services)
        .map(|i| (Arc::clone(&specs[i].service), Vec::new()))
        .collect();
    for (i, s) in specs.iter().enumerate() {
        grouped[i % services]
            .1
            .push(Arc::new(Endpoint::new(s.key.clone(), s.weight)));
    }
    let mut g = c.benchmark_group("publish_parts_1000ep_200svc");
    g.bench_function("service_new_x200", |b| {
        let mut counters = berth::metrics::StatusCache::default();
        b.iter(|| {
            let built = grouped
                .iter()
                .map(|(spec, eps)| Service::new(Arc::clone(spec), eps.clone(), &mut counters))
                .collect::<Vec<_>>();
            counters.sweep();
            built
        })
    });
    g.bench_function("status_counters_new_x1200", |b| {
        b.iter(|| {
            let mut all = Vec::with_capacity(1_200);
            for (spec, eps) in &grouped {
                all.push(StatusCounters::new(
                    REQUESTS_TOTAL,
                    vec![
                        label("listener", "web"),
                        label("service", spec.name.to_string()),
                    ],
                ));
                for e in eps {
                    all.push(StatusCounters::new(
                        UPSTREAM_REQUESTS_TOTAL,
                        vec![
                            label("service", spec.name.to_string()),
                            label("endpoint", e.label().to_string()),
                        ],
                    ));
                }
            }
            all
        })
    });
    g.bench_function("route_table_200", |b| {
        b.iter(|| {
            let mut builder = RouteTableBuilder::new();
            for (spec, _) in &grouped {
                builder
                    .add(&spec.hosts, &spec.path, Arc::clone(&spec.name))
                    .expect("distinct routes");
            }
            builder.build()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60);
    targets = publish_noop_recorder, publish_prometheus, parts
}
criterion_main!(benches);
