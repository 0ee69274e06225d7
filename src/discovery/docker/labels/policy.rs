//! The policy labels (control plane, pure): `allow.ips` (comma-separated IPs and CIDRs) and
//! `allow.forwarded_depth`, read with the config file's rules ([`Allow::new`]). A depth
//! without the IPs means nothing and is a problem. Every problem is recorded in `labels`,
//! which rejects the container.

use super::reader::Labels;
use crate::model::policy::{Allow, Policies, MAX_FORWARDED_DEPTH};
use crate::model::value::{int_in, ip_nets};

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 2] = ["allow.ips", "allow.forwarded_depth"];

/// The labels' policies (problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>) -> Policies {
    Policies {
        allow: allow(labels),
    }
}

fn allow(labels: &mut Labels<'_>) -> Option<Allow> {
    let [ips_key, depth_key] = SUFFIXES;
    let ips = labels.parse(ips_key, ip_nets);
    let depth = labels.parse(depth_key, int_in(0, u32::from(MAX_FORWARDED_DEPTH)));
    if !labels.has(ips_key) {
        if labels.has(depth_key) {
            let msg = format!(
                "label {} has no effect without {}: set the IPs that may pass, or remove it",
                labels.key(depth_key),
                labels.key(ips_key)
            );
            labels.problem(msg);
        }
        return None;
    }
    let allow = Allow::new(ips?, depth.unwrap_or(0));
    allow
        .map_err(|e| {
            let key = labels.key(&format!("allow.{}", e.field()));
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}
