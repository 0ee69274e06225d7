//! The Swarm judgement: task phases, tasks and VIP endpoints, rejections, convergence.

use std::collections::BTreeSet;

use super::*;
use crate::discovery::swarm::tasks::{AttachedNetwork, NetworkAttachment, NetworkSpec, TaskStatus};
use crate::model::Defaults;

fn service(labels: &[(&str, &str)]) -> ServiceFacts {
    ServiceFacts {
        id: "s1".into(),
        name: "shop_web".into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        replicas: Some(2),
        vips: BTreeMap::from([("o1".to_owned(), IpAddr::from([10, 0, 1, 2]))]),
        ..ServiceFacts::default()
    }
}

fn attach(id: &str, name: &str, ingress: bool, addr: &str) -> NetworkAttachment {
    NetworkAttachment {
        network: AttachedNetwork {
            id: id.into(),
            spec: NetworkSpec {
                name: name.into(),
                ingress,
            },
        },
        addresses: vec![addr.into()],
    }
}

fn task(id: &str, slot: u64, desired: &str, state: &str, ip: &str) -> Task {
    Task {
        id: id.into(),
        service_id: "s1".into(),
        node_id: "n1".into(),
        slot: Some(slot),
        desired_state: desired.into(),
        status: TaskStatus {
            timestamp: Some("2026-12-04T18:00:01Z".into()),
            state: state.into(),
            container_status: None,
        },
        networks_attachments: vec![
            attach("ing", "ingress", true, "10.0.0.9/24"),
            attach("o1", "front", false, &format!("{ip}/24")),
        ],
    }
}

fn judged(service: &ServiceFacts, tasks: &[Task]) -> Judged {
    let own = BTreeSet::new();
    let defaults = Defaults::default();
    let http = vec!["web".to_owned()];
    let settings = LabelSettings {
        prefix: "berth",
        exposed_by_default: false,
        network: None,
        own_networks: &own,
        defaults: &defaults,
        http_listeners: &http,
        l4_listeners: &[],
    };
    judge(service, tasks, &settings)
}

fn routed(judged: Judged) -> Vec<Wanted> {
    match judged {
        Judged::Routed(w) => w,
        other => panic!("not routed: {other:?}"),
    }
}

const ENABLED: [(&str, &str); 2] = [("berth.enable", "true"), ("berth.port", "8080")];

#[test]
fn phases_follow_desired_and_actual_state() {
    assert_eq!(
        phase(&task("a", 1, "running", "running", "10.0.1.5")),
        Phase::Serving
    );
    assert_eq!(
        phase(&task("a", 1, "shutdown", "running", "10.0.1.5")),
        Phase::Draining
    );
    assert_eq!(
        phase(&task("a", 1, "running", "starting", "10.0.1.5")),
        Phase::Gone
    );
    assert_eq!(
        phase(&task("a", 1, "shutdown", "shutdown", "10.0.1.5")),
        Phase::Gone
    );
}

#[test]
fn each_live_task_is_an_endpoint_on_its_overlay_address() {
    let tasks = [
        task("t1", 1, "running", "running", "10.0.1.5"),
        task("t2", 2, "shutdown", "running", "10.0.1.6"),
        task("t3", 3, "shutdown", "shutdown", "10.0.1.7"),
        task("t4", 4, "running", "preparing", "10.0.1.8"),
    ];
    let wanted = routed(judged(&service(&ENABLED), &tasks));
    let got: Vec<(&str, String, bool)> = wanted
        .iter()
        .map(|w| (w.id.as_str(), w.spec.key.addr.to_string(), w.draining))
        .collect();
    assert_eq!(
        got,
        [
            ("t1", "10.0.1.5:8080".to_owned(), false),
            ("t2", "10.0.1.6:8080".to_owned(), true)
        ]
    );
    assert_eq!(&*wanted[0].spec.service.name, "shop_web");
    assert_eq!(&*wanted[0].spec.key.source, "t1");
    let origin = &*wanted[0].spec.origin;
    assert!(
        origin.starts_with("task shop_web.1 on network front"),
        "{origin}"
    );
    assert!(wanted[0].since.is_some() && wanted[1].since.is_none());
}

#[test]
fn a_service_without_the_enable_label_is_ignored() {
    let tasks = [task("t1", 1, "running", "running", "10.0.1.5")];
    assert_eq!(
        judged(&service(&[("berth.port", "80")]), &tasks),
        Judged::Ignored
    );
    assert_eq!(judged(&service(&[]), &tasks), Judged::Ignored);
}

#[test]
fn wrong_labels_reject_the_service_with_every_reason() {
    let tasks = [task("t1", 1, "running", "running", "10.0.1.5")];
    let labels = [
        ("berth.enable", "true"),
        ("berth.port", "nope"),
        ("berth.hots", "x"),
    ];
    let Judged::Rejected(reason) = judged(&service(&labels), &tasks) else {
        panic!("not rejected");
    };
    assert!(
        reason.contains("berth.port") && reason.contains("berth.hots"),
        "{reason}"
    );
}

#[test]
fn a_service_with_no_task_yet_is_still_judged() {
    assert_eq!(routed(judged(&service(&ENABLED), &[])), Vec::new());
    let typo = [
        ("berth.enable", "true"),
        ("berth.port", "80"),
        ("berth.hots", "x"),
    ];
    assert!(matches!(judged(&service(&typo), &[]), Judged::Rejected(_)));
}

#[test]
fn without_a_port_label_the_published_target_port_serves() {
    let mut s = service(&[("berth.enable", "true")]);
    let tasks = [task("t1", 1, "running", "running", "10.0.1.5")];
    let Judged::Rejected(reason) = judged(&s, &tasks) else {
        panic!("accepted without a port");
    };
    assert!(
        reason.contains("no label berth.port and the service publishes no TCP port"),
        "{reason}"
    );
    s.target_ports = vec![3000];
    let wanted = routed(judged(&s, &tasks));
    assert_eq!(wanted[0].spec.key.addr.port(), 3000);
}

#[test]
fn vip_mode_routes_one_endpoint_at_the_virtual_ip() {
    let labels = [
        ("berth.enable", "true"),
        ("berth.port", "8080"),
        ("berth.endpoint_mode", "vip"),
    ];
    let tasks = [
        task("t1", 1, "running", "running", "10.0.1.5"),
        task("t2", 2, "running", "running", "10.0.1.6"),
    ];
    let wanted = routed(judged(&service(&labels), &tasks));
    assert_eq!(wanted.len(), 1);
    assert_eq!(wanted[0].id, "s1");
    assert_eq!(wanted[0].spec.key.addr.to_string(), "10.0.1.2:8080");
    assert!(
        wanted[0].spec.origin.contains("virtual IP"),
        "{}",
        wanted[0].spec.origin
    );
    let idle = [task("t1", 1, "shutdown", "running", "10.0.1.5")];
    assert_eq!(routed(judged(&service(&labels), &idle)), Vec::new());
}

#[test]
fn vip_mode_needs_a_virtual_ip_and_a_known_mode() {
    let tasks = [task("t1", 1, "running", "running", "10.0.1.5")];
    let mut dnsrr = service(&[
        ("berth.enable", "true"),
        ("berth.port", "8080"),
        ("berth.endpoint_mode", "vip"),
    ]);
    dnsrr.dnsrr = true;
    assert!(matches!(judged(&dnsrr, &tasks), Judged::Rejected(r) if r.contains("dnsrr")));
    let odd = service(&[
        ("berth.enable", "true"),
        ("berth.port", "8080"),
        ("berth.endpoint_mode", "dns"),
    ]);
    assert!(matches!(judged(&odd, &tasks), Judged::Rejected(r) if r.contains("`vip`")));
}

#[test]
fn convergence_needs_settled_tasks_all_replicas_and_no_update() {
    let mut s = service(&ENABLED);
    let two = [
        task("t1", 1, "running", "running", "10.0.1.5"),
        task("t2", 2, "running", "running", "10.0.1.6"),
        task("t0", 2, "shutdown", "shutdown", "10.0.1.4"),
    ];
    assert!(converged(&s, &two));
    assert!(!converged(&s, &two[..1]), "one replica short");
    let starting = [
        task("t1", 1, "running", "running", "10.0.1.5"),
        task("t2", 2, "running", "starting", "10.0.1.6"),
    ];
    assert!(!converged(&s, &starting));
    s.updating = true;
    assert!(!converged(&s, &two));
}
