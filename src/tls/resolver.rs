//! Choosing the certificate for a handshake by SNI (data plane), swappable at run time.
//!
//! A [`CertSet`] maps host names to certificates: exact names first, then `*.suffix`
//! wildcards (one label, as browsers match them), else the first certificate of the listener
//! (the default, also for clients that send no SNI). The [`CertResolver`] holds the current
//! set in an `ArcSwap`: a handshake does one lock-free load, and a reload stores a whole new
//! set, so a handshake sees either the old set or the new one, never a mix. Invariant: a set
//! always has a default certificate, so every handshake gets one. With ACME on, a name no
//! file certificate serves gets its issued certificate (`tls::acme`), files winning.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::acme::{Acme, ACME_TLS_ALPN};
use crate::model::certs::Loaded;

/// The certificates of one listener, indexed by the names they serve.
#[derive(Debug)]
pub struct CertSet {
    default: Arc<CertifiedKey>,
    exact: HashMap<Box<str>, Arc<CertifiedKey>>,
    /// Keyed by the suffix after `*.`.
    wildcard: HashMap<Box<str>, Arc<CertifiedKey>>,
}

impl CertSet {
    /// The set of `loaded`, in config order (the first one listed wins a name two certificates
    /// share); `None` when `loaded` is empty.
    pub fn new(loaded: &[Loaded]) -> Option<Self> {
        let default = Arc::clone(&loaded.first()?.key);
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for cert in loaded {
            for name in &cert.names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(suffix) => (&mut wildcard, suffix),
                    None => (&mut exact, name.as_str()),
                };
                map.entry(key.into())
                    .or_insert_with(|| Arc::clone(&cert.key));
            }
        }
        Some(Self {
            default,
            exact,
            wildcard,
        })
    }

    /// The certificate for `sni` (already lowercase, as rustls hands it over).
    pub fn pick(&self, sni: Option<&str>) -> &Arc<CertifiedKey> {
        sni.and_then(|n| self.find(n)).unwrap_or(&self.default)
    }

    /// The certificate that serves `name` by exact name, then by wildcard; `None`: only the
    /// default would.
    fn find(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.');
        if let Some(key) = self.exact.get(name) {
            return Some(key);
        }
        name.split_once('.')
            .and_then(|(_, suffix)| self.wildcard.get(suffix))
    }
}

/// rustls' certificate resolver for one listener.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertSet>,
    /// With ACME on: issued certificates (after the files' names) and challenge answers.
    acme: Option<Arc<Acme>>,
}

impl CertResolver {
    pub fn new(set: CertSet, acme: Option<Arc<Acme>>) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
            acme,
        }
    }

    /// With ACME: a TLS-ALPN-01 validation gets its challenge certificate (or nothing: the
    /// handshake fails); any other handshake the files' certificate for the name, else the
    /// issued one, else the default.
    fn with_acme(&self, acme: &Acme, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        let challenge = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.all(|p| p == ACME_TLS_ALPN));
        if challenge {
            return name.and_then(|n| acme.alpn_challenge(n.trim_end_matches('.')));
        }
        let set = self.current.load();
        let Some(name) = name else {
            return Some(Arc::clone(&set.default));
        };
        let found = set.find(name).map(Arc::clone);
        found
            .or_else(|| acme.certificate(name.trim_end_matches('.')))
            .or_else(|| Some(Arc::clone(&set.default)))
    }

    /// Serves `set` from the next handshake on; handshakes under way keep what they chose.
    pub fn store(&self, set: CertSet) {
        self.current.store(Arc::new(set));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(acme) = &self.acme {
            return self.with_acme(acme, &hello);
        }
        Some(Arc::clone(self.current.load().pick(hello.server_name())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{certs, CertificateFiles};

    fn fixture(name: &str) -> Loaded {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let files = CertificateFiles {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
            names: Vec::new(),
        };
        certs::load(&files).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let (a, b) = (fixture("a"), fixture("b"));
        let set = CertSet::new(&[a.clone(), b.clone()]).expect("two certificates");
        let is = |got: &Arc<CertifiedKey>, want: &Loaded| Arc::ptr_eq(got, &want.key);
        assert!(is(set.pick(Some("a.test")), &a));
        assert!(is(set.pick(Some("a.test.")), &a));
        assert!(is(set.pick(Some("x.b.test")), &b));
        assert!(is(set.pick(Some("b.test")), &a), "a wildcard needs a label");
        assert!(
            is(set.pick(Some("y.x.b.test")), &a),
            "a wildcard is one label"
        );
        assert!(is(set.pick(Some("unknown.test")), &a));
        assert!(is(set.pick(None), &a));
    }

    #[test]
    fn first_listed_wins_a_shared_name_and_empty_has_no_set() {
        let (a1, a2) = (fixture("a"), fixture("a"));
        let set = CertSet::new(&[fixture("b"), a1.clone(), a2]).expect("certificates");
        assert!(Arc::ptr_eq(set.pick(Some("a.test")), &a1.key));
        assert!(CertSet::new(&[]).is_none());
    }
}
