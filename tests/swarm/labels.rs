//! What a service's labels ask for: a service with a wrong label is refused and listed on
//! `/api/rejected` with a reason naming the label, while a good one beside it serves; and
//! `<prefix>.endpoint_mode=vip` routes to the service's virtual IP, one endpoint (and
//! traffic reaches the tasks through it, where the kernel has IPVS).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::docker_common::{blocking, docker_ok, TestImage, REPLICA_PORT};
use crate::harness::stack::{vip, wait_converged};
use crate::harness::{Backend, BerthService, Stack, SwarmGuard};

/// `replicas` tasks of a service enabled for `berth` with `port` (none: no port label).
fn enabled(berth: &BerthService, name: &str, replicas: u32, port: Option<&str>) -> Backend {
    let backend = Backend::new(name, replicas).label(&berth.label("enable"), "true");
    match port {
        Some(port) => backend.label(&berth.label("port"), port),
        None => backend,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_with_wrong_labels_is_rejected_and_the_others_serve() {
    let Some(swarm) = SwarmGuard::acquire() else {
        return;
    };
    let net = swarm.overlay("net");
    let berth = BerthService::start(&swarm, &net).await;
    let image = TestImage::build_plain(swarm.run());
    let port = REPLICA_PORT.to_string();
    let backends = [
        enabled(&berth, "good", 2, Some(&port)),
        enabled(&berth, "badport", 1, Some("nope")),
        enabled(&berth, "typo", 1, Some(&port)).label(&berth.label("http.hots"), "a.example"),
        enabled(&berth, "noport", 1, None),
    ];
    let stack = Stack::deploy(&swarm, "app", &image, &net, &backends);
    // Each bad service, and what its reason must name.
    let bad = [
        ("badport", berth.label("port")),
        ("typo", berth.label("http.hots")),
        ("noport", berth.label("port")),
    ];

    let rejected = berth
        .wait_for("the three bad services on /api/rejected", || async {
            let list = berth.rejected().await;
            let names: BTreeSet<&str> = list.iter().filter_map(|r| r["name"].as_str()).collect();
            match bad
                .iter()
                .all(|(s, _)| names.contains(stack.service(s).as_str()))
            {
                true => Ok(list),
                false => Err(format!("{list:#?}")),
            }
        })
        .await;
    for (suffix, label) in &bad {
        let service = stack.service(suffix);
        let entry = find(&rejected, &service);
        let reason = entry["reason"].as_str().unwrap_or_default();
        eprintln!("rejected {service}: {reason}");
        assert!(
            reason.contains(label.as_str()),
            "{service}: {reason:?} names no {label}\nberth's logs:\n{}",
            berth.logs()
        );
        assert_eq!(entry["provider"], "swarm", "{entry}");
        let id = docker_ok(&["service", "inspect", "--format", "{{.ID}}", &service]);
        assert_eq!(entry["id"], id.as_str(), "{entry}");
        assert!(
            berth.endpoints(&service).await.is_empty(),
            "{service} is routed"
        );
    }
    assert_eq!(rejected.len(), bad.len(), "rejected: {rejected:#?}");

    let good = stack.service("good");
    let tasks = {
        let good = good.clone();
        blocking(move || wait_converged(&good, 2)).await
    };
    berth
        .wait_tasks_routed(&good, &tasks, &net, REPLICA_PORT)
        .await;
    let names: BTreeSet<String> = tasks.iter().map(|t| t.name()).collect();
    for name in berth.answers("/", 50).await {
        assert!(names.contains(&name), "{name} answered; tasks: {names:?}");
    }
}

/// The entry of `/api/rejected` for service `name`.
fn find<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not on /api/rejected: {list:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoint_mode_vip_routes_to_the_virtual_ip() {
    let Some(swarm) = SwarmGuard::acquire() else {
        return;
    };
    let net = swarm.overlay("net");
    let berth = BerthService::start(&swarm, &net).await;
    let image = TestImage::build_plain(swarm.run());
    let backend = enabled(&berth, "api", 2, Some(&REPLICA_PORT.to_string()))
        .label(&berth.label("endpoint_mode"), "vip");
    let stack = Stack::deploy(&swarm, "app", &image, &net, &[backend]);
    let service = stack.service("api");
    let tasks = {
        let service = service.clone();
        blocking(move || wait_converged(&service, 2)).await
    };
    let want = format!("{}:{REPLICA_PORT}", vip(&service, &net));

    berth
        .wait_for(
            &format!("{service} to be routed at its VIP {want}"),
            || async {
                let endpoints = berth.endpoints(&service).await;
                match endpoints.as_slice() {
                    [one] if one.address == want && one.routable() => Ok(()),
                    _ => Err(format!("{endpoints:#?}")),
                }
            },
        )
        .await;
    if !ipvs_available() {
        eprintln!(
            "not sending traffic to {want}: this kernel has no IPVS (no /proc/net/ip_vs; \
             CONFIG_IP_VS), so Swarm's virtual IPs carry no traffic on this machine"
        );
        return;
    }
    let names: BTreeSet<String> = tasks.iter().map(|t| t.name()).collect();
    for name in berth.answers("/", 50).await {
        assert!(names.contains(&name), "{name} answered; tasks: {names:?}");
    }
}

/// Whether the kernel balances Swarm's virtual IPs: the engine programs them with IPVS,
/// and without it (a kernel built without `CONFIG_IP_VS`, as in some VMs) a connection to
/// a VIP goes nowhere, whatever berth does.
fn ipvs_available() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}
