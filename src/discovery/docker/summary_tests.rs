//! Unit tests of `summary.rs`: a real engine's list entry and inspect document of the same
//! container (Docker 20.10, kept in `benches/fake_docker/`) must give the same view.

use super::*;
use bollard::models::{ContainerInspectResponse, Port, PortTypeEnum};

const SUMMARY: &str = include_str!("../../../benches/fake_docker/summary.json");
const INSPECT: &str = include_str!("../../../benches/fake_docker/inspect.json");

fn summary() -> ContainerSummary {
    serde_json::from_str(SUMMARY).expect("the stored list entry parses")
}

fn read(c: ContainerSummary) -> Inspected {
    match from_summary(c) {
        Listed::Read(i) => i,
        other => panic!("expected a complete entry, got {other:?}"),
    }
}

#[test]
fn the_list_entry_gives_what_the_inspect_gives() {
    let listed = read(summary());
    let doc: ContainerInspectResponse = serde_json::from_str(INSPECT).expect("inspect parses");
    let inspected = Inspected::from_response(doc);
    assert_eq!(listed.facts, inspected.facts);
    assert_eq!(listed.availability, inspected.availability);
    assert_eq!(listed.availability.health, Health::None);
    assert!(listed.running && inspected.running);
    assert_eq!(listed.created, inspected.created);
    assert!(listed.created.is_some());
    assert_eq!(listed.facts.exposed_ports, vec![8080]);
    assert_eq!(listed.facts.networks.len(), 1);
    assert_eq!(listed.stop_signal, StopSignal::Unread);
    assert_eq!(inspected.stop_signal, StopSignal::Read(None));
}

#[test]
fn health_is_read_from_the_status() {
    let with = |status: &str| {
        let mut c = summary();
        c.status = Some(status.into());
        from_summary(c)
    };
    let health = |status: &str| match with(status) {
        Listed::Read(i) => (i.availability.health, i.facts.has_healthcheck),
        other => panic!("{status}: {other:?}"),
    };
    assert_eq!(health("Up 2 minutes (healthy)"), (Health::Healthy, true));
    assert_eq!(health("Up 2 hours (unhealthy)"), (Health::Unhealthy, true));
    assert_eq!(health("Up 3 seconds"), (Health::None, false));
    assert!(matches!(
        with("Up 1 second (health: starting)"),
        Listed::Inspect(_)
    ));
}

#[test]
fn paused_portless_and_stateless_entries_are_inspected() {
    let mut paused = summary();
    paused.state = Some(ContainerSummaryStateEnum::PAUSED);
    paused.status = Some("Up 2 minutes (Paused)".into());
    let mut portless = summary();
    portless.ports = Some(Vec::new());
    let mut stateless = summary();
    stateless.state = None;
    for c in [paused, portless, stateless] {
        assert!(matches!(from_summary(c), Listed::Inspect(id) if id.len() == 64));
    }
    let mut restarting = summary();
    restarting.state = Some(ContainerSummaryStateEnum::RESTARTING);
    assert!(matches!(from_summary(restarting), Listed::NotRunning));
}

#[test]
fn ports_keep_tcp_only_and_names_skip_links() {
    let mut c = summary();
    let port = |private_port, typ| Port {
        private_port,
        typ: Some(typ),
        ..Default::default()
    };
    c.ports = Some(vec![
        port(9000, PortTypeEnum::TCP),
        port(53, PortTypeEnum::UDP),
        port(9000, PortTypeEnum::TCP),
        port(80, PortTypeEnum::TCP),
    ]);
    c.names = Some(vec!["/front/web".into(), "/web-1".into()]);
    let i = read(c);
    assert_eq!(i.facts.exposed_ports, vec![80, 9000]);
    assert_eq!(i.facts.name, "web-1");
}
