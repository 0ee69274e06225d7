//! What ACME gives the data plane: issued certificates by name, and the answers to the CA's
//! challenges (TLS-ALPN-01 certificates by name, HTTP-01 key authorizations by token).
//!
//! The `acme` module (control plane) is the only writer; handshakes and requests read with
//! one lock-free `ArcSwap` load. A write copies the small map and swaps it (`rcu`), so a
//! reader sees the map before or after a change, never a torn one.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// The path prefix of HTTP-01 challenge requests (RFC 8555 §8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

type Map<V> = ArcSwap<HashMap<Box<str>, V>>;

/// Issued certificates and pending challenges, shared by every listener.
#[derive(Debug, Default)]
pub struct Acme {
    certificates: Map<Arc<CertifiedKey>>,
    alpn: Map<Arc<CertifiedKey>>,
    http: Map<Arc<str>>,
}

impl Acme {
    /// The issued certificate for `name` (lowercase, no trailing dot).
    pub fn certificate(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.certificates.load().get(name).cloned()
    }

    /// The TLS-ALPN-01 challenge certificate for `name`, while its challenge is pending.
    pub fn alpn_challenge(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.alpn.load().get(name).cloned()
    }

    /// The HTTP-01 answer (key authorization) for a request path, while its challenge is
    /// pending; `None` for any other path.
    pub fn http_answer(&self, path: &str) -> Option<Arc<str>> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        self.http.load().get(token).cloned()
    }

    /// Serves `key` for `name` from the next handshake on.
    pub fn install(&self, name: &str, key: Arc<CertifiedKey>) {
        insert(&self.certificates, name, key);
    }

    /// Stops serving the issued certificate of `name`.
    pub fn withdraw(&self, name: &str) {
        remove(&self.certificates, name);
    }

    /// Names with an issued certificate now served.
    pub fn served(&self) -> Vec<Box<str>> {
        self.certificates.load().keys().cloned().collect()
    }

    /// Answers TLS-ALPN-01 for `name` with `key` (or stops, with `None`).
    pub fn set_alpn(&self, name: &str, key: Option<Arc<CertifiedKey>>) {
        match key {
            Some(k) => insert(&self.alpn, name, k),
            None => remove(&self.alpn, name),
        }
    }

    /// Answers HTTP-01 `token` with `key_authorization` (or stops, with `None`).
    pub fn set_http(&self, token: &str, key_authorization: Option<&str>) {
        match key_authorization {
            Some(k) => insert(&self.http, token, Arc::from(k)),
            None => remove(&self.http, token),
        }
    }
}

fn insert<V: Clone>(map: &Map<V>, key: &str, value: V) {
    map.rcu(|m| {
        let mut m = HashMap::clone(m);
        m.insert(key.into(), value.clone());
        m
    });
}

fn remove<V: Clone>(map: &Map<V>, key: &str) {
    map.rcu(|m| {
        let mut m = HashMap::clone(m);
        m.remove(key);
        m
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_only_pending_tokens_under_the_prefix() {
        let acme = Acme::default();
        acme.set_http("tok", Some("tok.thumb"));
        let answer = acme.http_answer("/.well-known/acme-challenge/tok");
        assert_eq!(answer.as_deref(), Some("tok.thumb"));
        assert!(acme
            .http_answer("/.well-known/acme-challenge/other")
            .is_none());
        assert!(acme.http_answer("/tok").is_none());
        acme.set_http("tok", None);
        assert!(acme
            .http_answer("/.well-known/acme-challenge/tok")
            .is_none());
    }
}
