//! The `listeners:` section, from the file as written to typed [`Listener`]s (control plane,
//! load time).
//!
//! Checks names, protocols, the `tls:` block of `https` listeners and the `redirect:` of
//! `http` ones. The certificate files are read and checked here (PEM, leaf parses, key
//! matches), so `berth check` and a reload refuse a bad certificate the way they refuse a
//! bad value, at the line of the entry. Invariant: a returned `https` listener has at least
//! one certificate whose files were readable and consistent when the config was loaded, or
//! the config has an `acme:` section (berth then makes a default certificate itself).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use super::raw;
use super::validate::Problems;
use super::{AcmeScope, CertificateFiles, Listener, Protocol, Redirect, Tls};
use crate::model::certs::{self, CertError, Field};
use crate::model::rules::{check_name, suggest};

/// Checks every listener; `base` is the directory relative certificate paths start from;
/// with `acme` (a top-level `acme:` section) an `https` listener may list no certificate.
pub(super) fn listeners(
    p: &mut Problems,
    raw: Option<raw::UniqueMap<raw::Listener>>,
    base: &Path,
    acme: bool,
) -> BTreeMap<String, Listener> {
    let Some(raw) = raw else {
        let web = Listener {
            name: "web".into(),
            address: SocketAddr::from(([0, 0, 0, 0], 8080)),
            protocol: Protocol::Http,
            trusted_ips: Vec::new(),
            proxy_protocol: false,
            tls: None,
            redirect: None,
            max_connections: None,
            acme: AcmeScope::Labelled,
        };
        return BTreeMap::from([(web.name.clone(), web)]);
    };
    let mut out = BTreeMap::new();
    for (name, l) in raw.0 {
        let path = format!("listeners.{name}");
        if let Some(msg) = check_name("listener", &name) {
            p.add(&path, msg);
        }
        let protocol = l.protocol.unwrap_or(Protocol::Http);
        let (tls, redirect) = match protocol {
            Protocol::Http => (None, http_only(p, &path, l.tls, l.redirect)),
            Protocol::Https => {
                let tls = https_only(p, &path, l.tls, l.redirect, base, acme);
                (Some(tls), None)
            }
            Protocol::Tcp | Protocol::TlsPassthrough => {
                l4_only(p, &path, protocol, l.tls, l.redirect);
                (None, None)
            }
        };
        let trusted_ips: Vec<_> = l
            .trusted_ips
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.0)
            .collect();
        let proxy_protocol = l.proxy_protocol.unwrap_or(false);
        let scope = acme_scope(p, &path, l.acme, protocol, acme);
        if proxy_protocol && trusted_ips.is_empty() {
            p.add(
                format!("{path}.trusted_ips"),
                "`proxy_protocol: true` needs the addresses allowed to send the header: list \
                 the load balancers in front of berth, like trusted_ips: [10.0.0.0/8]",
            );
        }
        let listener = Listener {
            name: name.clone(),
            address: l.address.0,
            protocol,
            trusted_ips,
            proxy_protocol,
            tls,
            redirect,
            max_connections: l.max_connections.map(|c| c.0 as usize),
            acme: scope,
        };
        out.insert(name, listener);
    }
    check_redirect_targets(p, &out);
    out
}

/// `acme:` of a listener: `https` only, with a top-level `acme:` section; `labelled` when absent.
fn acme_scope(
    p: &mut Problems,
    path: &str,
    scope: Option<AcmeScope>,
    protocol: Protocol,
    acme: bool,
) -> AcmeScope {
    let Some(scope) = scope else {
        return AcmeScope::Labelled;
    };
    if protocol != Protocol::Https {
        p.add(
            format!("{path}.acme"),
            "`acme` is for `https` listeners (the ones that serve the certificates); remove it",
        );
    } else if !acme {
        p.add(
            format!("{path}.acme"),
            "`acme` needs a top-level `acme:` section (at least `agree_tos: true`); add it or \
             remove this",
        );
    }
    scope
}

/// An `http` listener: no `tls`, an optional `redirect`.
fn http_only(
    p: &mut Problems,
    path: &str,
    tls: Option<raw::Tls>,
    redirect: Option<raw::Redirect>,
) -> Option<Redirect> {
    if tls.is_some() {
        p.add(
            format!("{path}.tls"),
            "`tls` is only for `https` listeners: set `protocol: https`, or remove `tls`",
        );
    }
    let r = redirect?;
    if r.port == Some(0) {
        p.add(
            format!("{path}.redirect.port"),
            "port 0 cannot be redirected to: give the port clients reach the https listener on, like 443",
        );
    }
    Some(Redirect {
        to: r.to,
        port: r.port,
    })
}

/// A `tcp` or `tls-passthrough` listener: bytes are forwarded, so no `tls` and no `redirect`.
fn l4_only(
    p: &mut Problems,
    path: &str,
    protocol: Protocol,
    tls: Option<raw::Tls>,
    redirect: Option<raw::Redirect>,
) {
    let name = protocol.as_str();
    if tls.is_some() {
        p.add(
            format!("{path}.tls"),
            format!(
                "a {name} listener forwards bytes and terminates no TLS: remove `tls`, or use \
                 `protocol: https` to terminate TLS here"
            ),
        );
    }
    if redirect.is_some() {
        p.add(
            format!("{path}.redirect"),
            format!(
                "a {name} listener does not speak HTTP, so it cannot redirect: remove `redirect`"
            ),
        );
    }
}

/// An `https` listener: a `tls` block whose certificates load, no `redirect`.
fn https_only(
    p: &mut Problems,
    path: &str,
    tls: Option<raw::Tls>,
    redirect: Option<raw::Redirect>,
    base: &Path,
    acme: bool,
) -> Tls {
    if redirect.is_some() {
        p.add(
            format!("{path}.redirect"),
            "`redirect` is for `http` listeners (to send clients to this one); remove it here",
        );
    }
    let empty = tls.as_ref().map_or(true, |t| t.certificates.is_empty());
    if empty && acme {
        return Tls {
            certificates: Vec::new(),
        };
    }
    let Some(tls) = tls else {
        p.add(
            path,
            "an https listener needs certificates: add \
             `tls: { certificates: [ { cert: FILE.pem, key: FILE.key } ] }`, or a top-level \
             `acme:` section to get them automatically",
        );
        return Tls {
            certificates: Vec::new(),
        };
    };
    let path = format!("{path}.tls.certificates");
    if tls.certificates.is_empty() {
        p.add(
            &path,
            "no certificates: list at least one { cert: FILE.pem, key: FILE.key }",
        );
    }
    let certificates = tls
        .certificates
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| certificate(p, &format!("{path}[{i}]"), i, c, base))
        .collect();
    Tls { certificates }
}

/// Reads and checks one certificate entry; `None` (with a problem) when it is unusable.
fn certificate(
    p: &mut Problems,
    path: &str,
    index: usize,
    raw: raw::Certificate,
    base: &Path,
) -> Option<CertificateFiles> {
    let before = p.len();
    for (field, value) in [("cert", Some(&raw.cert)), ("key", raw.key.as_ref())] {
        if value.is_some_and(|v| v.trim().is_empty()) {
            p.add(
                format!("{path}.{field}"),
                format!("`{field}` is empty: give the path of a PEM file"),
            );
        }
    }
    if p.len() > before {
        return None;
    }
    let cert = base.join(&raw.cert);
    let key = raw.key.map_or_else(|| cert.clone(), |k| base.join(k));
    let mut files = CertificateFiles {
        cert,
        key,
        names: Vec::new(),
    };
    match certs::load(&files) {
        Ok(loaded) => files.names = loaded.names,
        Err(e) => {
            p.add(format!("{path}.{}", field_name(&e)), e.to_string());
            return None;
        }
    }
    if index > 0 && files.names.is_empty() {
        p.add(
            format!("{path}.cert"),
            format!(
                "{} names no DNS host (no subjectAltName DNS entry), so no client could be \
                 sent to it: only the first certificate (the default) may lack names; \
                 reissue it with the host names, or list it first",
                files.cert.display()
            ),
        );
    }
    Some(files)
}

fn field_name(e: &CertError) -> &'static str {
    match e.field() {
        Field::Cert => "cert",
        Field::Key => "key",
    }
}

/// A `redirect.to` must name an `https` listener.
fn check_redirect_targets(p: &mut Problems, listeners: &BTreeMap<String, Listener>) {
    let https: Vec<&str> = listeners
        .values()
        .filter(|l| l.protocol == Protocol::Https)
        .map(|l| l.name.as_str())
        .collect();
    for l in listeners.values() {
        let Some(r) = &l.redirect else { continue };
        let path = format!("listeners.{}.redirect.to", l.name);
        match listeners.get(&r.to) {
            Some(target) if target.protocol == Protocol::Https => {}
            Some(_) => p.add(
                path,
                format!(
                    "listener `{}` is not an https listener; {}",
                    r.to,
                    https_hint(&https, &r.to)
                ),
            ),
            None => p.add(
                path,
                format!("unknown listener `{}`; {}", r.to, https_hint(&https, &r.to)),
            ),
        }
    }
}

fn https_hint(https: &[&str], wrong: &str) -> String {
    match https {
        [] => "no https listener is defined: add one with `protocol: https` and `tls:`".into(),
        _ => {
            let near = suggest(wrong, https)
                .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
            format!("https listeners: {}{near}", https.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
