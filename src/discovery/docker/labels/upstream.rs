//! The `http.upstream_protocol`, `scheme`, `tls.ca` and `tls.server_name` labels: how berth
//! talks to a container (control plane; reads the CA file a label names).
//!
//! `scheme=https` makes berth connect with TLS, verifying the container's certificate
//! against the built-in roots, or the CA file `tls.ca` names, for the request's host or
//! `tls.server_name`. The `tls.*` labels without `scheme=https` are a problem, as is a CA
//! file that cannot be read: the container is rejected with the reason. `tls.ca` is a path
//! in berth's own filesystem (not the container's), absolute or relative to berth's working
//! directory: a label has no config file to be relative to, unlike a static service's
//! `tls.ca`.

use std::path::Path;
use std::str::FromStr;

use super::reader::Labels;
use crate::model::{Upstream, UpstreamProtocol, UpstreamTls};

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 4] = [
    "http.upstream_protocol",
    "scheme",
    "tls.ca",
    "tls.server_name",
];

/// The labels' upstream settings (problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>) -> Upstream {
    let protocol = labels.parse("http.upstream_protocol", UpstreamProtocol::from_str);
    let https = labels.parse("scheme", |v| match v {
        "http" => Ok(false),
        "https" => Ok(true),
        _ => Err("use http or https".to_owned()),
    });
    let ca = labels.parse("tls.ca", |v| Ok(v.to_owned()));
    let name = labels.parse("tls.server_name", |v| Ok(v.to_owned()));
    let tls = match https.unwrap_or(false) {
        true => UpstreamTls::new(ca.as_deref().map(Path::new), name.as_deref())
            .map_err(|e| labels.problem(format!("{}: {e}", tls_keys(labels))))
            .ok(),
        false => {
            if labels.has("tls.ca") || labels.has("tls.server_name") {
                let msg = format!(
                    "{} apply to https endpoints: set {}=https or remove them",
                    tls_keys(labels),
                    labels.key("scheme")
                );
                labels.problem(msg);
            }
            None
        }
    };
    Upstream {
        protocol: protocol.unwrap_or_default(),
        tls,
    }
}

fn tls_keys(labels: &Labels<'_>) -> String {
    format!("labels {}.tls.*", labels.prefix())
}
