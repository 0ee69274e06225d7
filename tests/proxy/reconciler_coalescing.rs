//! Coalescing: a burst of 500 upserts sent back-to-back into a running reconciler costs a
//! handful of snapshot rebuilds, not 500, and the last snapshot holds every endpoint.
//!
//! No timing is asserted; rebuilds are counted by the published snapshot's `generation`,
//! which increases by exactly one per `publish`.

use std::sync::Arc;
use std::time::Duration;

use berth::discovery::Input;
use berth::model::{
    Availability, Defaults, EndpointKey, EndpointSpec, Layer, ProviderId, ServiceSpec, Update,
};
use berth::state::reconciler::Reconciler;
use tokio::sync::mpsc;

use crate::common;
use crate::wait::wait_for;

const BURST: usize = 500;
/// Rebuilds a burst may cost: one per coalescing window (2 ms quiet, 20 ms at most); a
/// back-to-back burst fills a few windows at worst even on a loaded machine.
const MAX_REBUILDS: u64 = 10;

fn config() -> Arc<berth::config::Config> {
    let yaml = "listeners:\n  web: { address: \"127.0.0.1:0\" }\nadmin: { address: \"127.0.0.1:0\" }\ndocker: { enabled: false }\n";
    Arc::new(berth::config::parse(yaml, "coalescing.yaml").expect("valid test config"))
}

/// Endpoint `i` of service `svc-<i % 100>`, as a starting container would be announced.
fn upsert(i: usize) -> Input {
    let service = i % 100;
    Input::Event {
        update: Update::Upsert {
            provider: ProviderId::Docker,
            endpoint: EndpointSpec {
                key: EndpointKey {
                    source: format!("container-{i}").into(),
                    addr: ([10, 2, (i >> 8) as u8, i as u8], 8080).into(),
                },
                weight: 1,
                service: Arc::new(ServiceSpec {
                    path: format!("/s{service}"),
                    ..Defaults::default().service(format!("svc-{service}").into(), Layer::Http)
                }),
                availability: Availability::default(),
                origin: format!("container c{i}").into(),
            },
        },
        at: std::time::SystemTime::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_upserts_costs_a_handful_of_rebuilds() {
    // It measures time: not while another test saturates the CPU.
    let _cpu = common::timed().await;
    let reconciler = Reconciler::new(config());
    let published = reconciler.published();
    let before = published.load().generation;
    // Room for the whole burst, so the sender never waits on the reconciler.
    let (tx, rx) = mpsc::channel(BURST);
    let running = tokio::spawn(reconciler.run(rx));

    for i in 0..BURST {
        tx.send(upsert(i)).await.expect("reconciler running");
    }

    let what = format!("a snapshot holding all {BURST} endpoints");
    let snapshot = wait_for(Duration::from_secs(30), &what, || async {
        let snapshot = published.load_full();
        let endpoints: usize = snapshot.services.iter().map(|s| s.endpoints.len()).sum();
        if endpoints == BURST {
            Ok(snapshot)
        } else {
            Err(format!(
                "the snapshot holds {endpoints} of {BURST} endpoints"
            ))
        }
    })
    .await;
    // Let any rebuild still pending land before counting.
    drop(tx);
    running.await.expect("reconciler task");
    let rebuilds = published.load().generation - before;

    assert!(
        (1..=MAX_REBUILDS).contains(&rebuilds),
        "{BURST} upserts cost {rebuilds} rebuilds (at most {MAX_REBUILDS} expected)"
    );
    assert_eq!(snapshot.services.len(), 100);
    assert!(snapshot
        .services
        .iter()
        .all(|s| s.endpoints.len() == BURST / 100 && s.routable_count() == BURST / 100));
    let routed = &snapshot.listeners[0].routes;
    for service in [0, 42, 99] {
        let found = routed
            .find(None, &format!("/s{service}/x"))
            .unwrap_or_else(|| panic!("route /s{service}"));
        assert_eq!(&*found.target.service.spec.name, format!("svc-{service}"));
    }
    eprintln!("{BURST} upserts → {rebuilds} rebuild(s)");
}
