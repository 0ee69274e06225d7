//! The `acme:` section, from the file as written to a typed [`Acme`] (control plane, load
//! time).
//!
//! The CA's terms must be agreed to explicitly; the directory must be an `https` URL; the
//! names must be plain DNS names (no wildcard: that needs DNS-01); the challenge needs the
//! listener it is answered on (`http-01` an `http` listener, `tls-alpn-01` an `https` one);
//! the CA bundle is read now, so a wrong path fails here and not at the first order.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

use super::raw;
use super::validate::Problems;
use super::{Acme, Challenge, Eab, Listener, Protocol};
use crate::model::rules::acme_name;

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Where account and certificates live when the file does not say.
const DEFAULT_STORAGE: &str = "/var/lib/berth/acme";
/// The first wait after a failed order.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

/// Checks `acme:`; `base` is the directory relative paths start from.
pub(super) fn acme(
    p: &mut Problems,
    a: raw::Acme,
    listeners: &BTreeMap<String, Listener>,
    base: &Path,
) -> Acme {
    if a.agree_tos != Some(true) {
        p.add(
            "acme.agree_tos",
            "ordering certificates means agreeing to the CA's terms of service: read them \
             (Let's Encrypt: https://letsencrypt.org/repository/) and set `agree_tos: true`",
        );
    }
    let directory = a.directory.unwrap_or_else(|| LETS_ENCRYPT.to_owned());
    check_directory(p, &directory);
    let names = a
        .names
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            acme_name(n)
                .map_err(|why| p.add(format!("acme.names[{i}]"), why))
                .ok()
        })
        .collect();
    let ca = a.ca.map(|c| base.join(c));
    if let Some(ca) = &ca {
        check_ca(p, ca);
    }
    Acme {
        email: a.email.filter(|e| check_email(p, e)),
        directory,
        storage: base.join(a.storage.as_deref().unwrap_or(DEFAULT_STORAGE)),
        ca,
        challenge: challenge(p, a.challenge, listeners),
        names,
        eab: a.eab.and_then(|e| eab(p, e)),
        backoff: match a.backoff.map(|b| b.0) {
            Some(b) if b.is_zero() => {
                p.add("acme.backoff", "must be more than 0, like 1m");
                DEFAULT_BACKOFF
            }
            b => b.unwrap_or(DEFAULT_BACKOFF),
        },
    }
}

fn check_directory(p: &mut Problems, url: &str) {
    let ok = url
        .parse::<http::Uri>()
        .is_ok_and(|u| u.scheme_str() == Some("https") && u.host().is_some());
    if !ok {
        p.add(
            "acme.directory",
            format!(
                "`{url}` is not an https URL; the ACME directory is like {LETS_ENCRYPT} \
                 (staging: {LETS_ENCRYPT_STAGING})"
            ),
        );
    }
}

fn check_email(p: &mut Problems, email: &str) -> bool {
    let ok = email.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !email.contains([' ', ',', ':', '<', '>'])
    });
    if !ok {
        p.add(
            "acme.email",
            format!("`{email}` is not an email address, like ops@example.com"),
        );
    }
    ok
}

fn check_ca(p: &mut Problems, ca: &Path) {
    let why = match std::fs::read(ca) {
        Err(e) => format!("cannot read {}: {e}", ca.display()),
        Ok(pem) => {
            let mut reader = pem.as_slice();
            match pem_certificates(&mut reader) {
                0 => format!("{} holds no PEM certificate", ca.display()),
                _ => return,
            }
        }
    };
    p.add("acme.ca", why);
}

/// How many PEM certificates `pem` holds.
fn pem_certificates(pem: &mut &[u8]) -> usize {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .filter(|c| c.is_ok())
        .count()
}

/// `http-01` when there is an `http` listener, else `tls-alpn-01`; the one chosen needs its
/// listener.
fn challenge(
    p: &mut Problems,
    chosen: Option<Challenge>,
    listeners: &BTreeMap<String, Listener>,
) -> Challenge {
    let has = |proto| listeners.values().any(|l| l.protocol == proto);
    if !has(Protocol::Https) {
        p.add(
            "acme",
            "no `https` listener serves the certificates: add one, like \
             `websecure: { address: \"0.0.0.0:443\", protocol: https }`",
        );
    }
    let challenge = chosen.unwrap_or(if has(Protocol::Http) {
        Challenge::Http01
    } else {
        Challenge::TlsAlpn01
    });
    if challenge == Challenge::Http01 && !has(Protocol::Http) {
        p.add(
            "acme.challenge",
            "http-01 is answered on an `http` listener (reached by the CA on port 80): add \
             one, or use `challenge: tls-alpn-01`",
        );
    }
    challenge
}

fn eab(p: &mut Problems, e: raw::Eab) -> Option<Eab> {
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(e.hmac_key.trim_end_matches('='))
        .ok()
        .filter(|k| !k.is_empty());
    if key.is_none() {
        p.add(
            "acme.eab.hmac_key",
            "empty or not base64url: paste the HMAC key exactly as the CA gave it",
        );
    }
    if e.kid.is_empty() {
        p.add(
            "acme.eab.kid",
            "empty: paste the key identifier the CA gave",
        );
    }
    let hmac_key = key.filter(|_| !e.kid.is_empty())?;
    Some(Eab {
        kid: e.kid,
        hmac_key,
    })
}

#[cfg(test)]
mod tests;
