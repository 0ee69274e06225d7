//! Finding the container berth itself runs in (control plane).
//!
//! When berth runs in a container, the networks it shares with a service's containers are the
//! ones it can reach them on (docs/ARCHITECTURE.md, "Labels": network). Its own id is read from
//! `/proc/self/mountinfo` and `/proc/self/cgroup`, or a hostname that looks like a short id,
//! and confirmed by inspecting it. Invariant: any failure means "not in a container" (no
//! networks), never an error.

use std::collections::BTreeSet;

use bollard::query_parameters::InspectContainerOptions;
use bollard::Docker;

use super::inspect::network_names;

/// The networks of the container berth runs in; empty when it runs on the host.
pub async fn own_networks(client: &Docker) -> BTreeSet<String> {
    for candidate in own_container_candidates() {
        let options = Some(InspectContainerOptions { size: false });
        if let Ok(doc) = client.inspect_container(&candidate, options).await {
            if doc
                .id
                .as_deref()
                .is_some_and(|id| id.starts_with(&candidate))
            {
                return network_names(&doc);
            }
        }
    }
    BTreeSet::new()
}

/// Ids berth's own container may have: from `/proc/self/mountinfo` (the engine mounts
/// `/etc/hostname` from `.../containers/<id>/`), `/proc/self/cgroup`, and a hostname that
/// looks like a short container id.
fn own_container_candidates() -> Vec<String> {
    let mut ids = Vec::new();
    for file in ["/proc/self/mountinfo", "/proc/self/cgroup"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            ids.extend(hex_ids(&text, 64));
        }
    }
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if host.len() == 12 && host.bytes().all(|b| b.is_ascii_hexdigit()) {
            ids.push(host.to_owned());
        }
    }
    ids.dedup();
    ids
}

/// Runs of exactly `len` lowercase hex digits in `text`.
fn hex_ids(text: &str, len: usize) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| {
            w.len() == len
                && w.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_container_ids_in_mountinfo() {
        let id = "3f".repeat(32);
        let line =
            format!("1234 99 0:50 /var/lib/docker/containers/{id}/hostname /etc/hostname rw");
        assert_eq!(hex_ids(&line, 64), vec![id]);
        assert!(hex_ids("no ids here 1234", 64).is_empty());
    }
}
