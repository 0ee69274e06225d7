//! One ACME order for one name (control plane): the challenge answered through the shared
//! [`Acme`] state the data plane reads, the CA polled until the order is ready, a fresh key
//! and CSR sent, the certificate chain fetched.
//!
//! The answers are also written to the store, for replicas sharing it to serve (the CA's
//! validation request may reach any of them), and the CA is told to validate only once the
//! replicas have had time to read them ([`PUBLISH`]).
//!
//! Invariant: whatever happens (success, error, timeout, the task dropped), the challenge
//! answers are withdrawn when the order ends ([`Answers`] clears them on drop).

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewOrder,
    OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use base64::Engine as _;

use super::store::{Challenge as StoredChallenge, ChallengeKind, Store};
use super::AcmeError;
use crate::config::Challenge;
use crate::model::certs;
use crate::tls::acme::Acme;

/// How long the CA may take to validate and to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(90));

/// How long answers are left in the store before the CA is asked to validate: replicas read
/// the store once a second.
const PUBLISH: Duration = Duration::from_millis(1500);

/// A certificate just issued: its private key and chain, both PEM.
#[derive(Debug)]
pub struct Issued {
    pub key_pem: String,
    pub chain_pem: String,
}

/// Orders a certificate for `name`, answering `challenge` through `acme`.
pub async fn order(
    account: &Account,
    name: &str,
    challenge: Challenge,
    acme: &Arc<Acme>,
    store: &Arc<Store>,
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<Issued, AcmeError> {
    let identifiers = [Identifier::Dns(name.to_owned())];
    let mut order = new_order(account, &identifiers, replaces).await?;
    let mut answers = Answers {
        acme: Arc::clone(acme),
        store: Arc::clone(store),
        published: Vec::new(),
    };
    let kind = match challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(AcmeError::Refused(format!("authorization is {other:?}"))),
        }
        let mut handle = authorization.challenge(kind.clone()).ok_or_else(|| {
            AcmeError::Refused(format!("the CA offers no {}", challenge.as_str()))
        })?;
        let key_authorization = handle.key_authorization();
        let answer = match challenge {
            Challenge::Http01 => StoredChallenge {
                kind: ChallengeKind::Http01,
                key: handle.token.clone(),
                value: key_authorization.as_str().to_owned(),
            },
            Challenge::TlsAlpn01 => StoredChallenge {
                kind: ChallengeKind::TlsAlpn01,
                key: name.to_owned(),
                value: BASE64.encode(key_authorization.digest()),
            },
        };
        answers.publish(answer)?;
        tokio::time::sleep(PUBLISH).await;
        handle.set_ready().await?;
    }
    let status = order.poll_ready(&POLL).await?;
    if status != OrderStatus::Ready {
        return Err(AcmeError::Refused(why_invalid(&mut order).await));
    }
    drop(answers);
    let key = KeyPair::generate().map_err(|e| AcmeError::Key(e.to_string()))?;
    let mut params =
        CertificateParams::new(vec![name.to_owned()]).map_err(|e| AcmeError::Key(e.to_string()))?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    order.finalize_csr(csr.der()).await?;
    let chain_pem = order.poll_certificate(&POLL).await?;
    Ok(Issued {
        key_pem: key.serialize_pem(),
        chain_pem,
    })
}

/// A new order, naming the certificate it replaces to a CA that speaks ARI; if the CA
/// refuses that (the certificate was already replaced, by another replica), a plain one.
async fn new_order(
    account: &Account,
    identifiers: &[Identifier],
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<instant_acme::Order, AcmeError> {
    let Some(replaces) = replaces else {
        return Ok(account.new_order(&NewOrder::new(identifiers)).await?);
    };
    let replacing = NewOrder::new(identifiers).replaces(replaces);
    match account.new_order(&replacing).await {
        Err(instant_acme::Error::Api(problem)) => {
            tracing::info!(detail = ?problem.detail, "acme: the CA refused the ARI replacement; ordering anew");
            Ok(account.new_order(&NewOrder::new(identifiers)).await?)
        }
        placed => Ok(placed?),
    }
}

/// What the CA said about a failed validation.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut a)) = authorizations.next().await {
        let Ok(state) = a.refresh().await else {
            continue;
        };
        for c in &state.challenges {
            if let Some(p) = &c.error {
                reasons.push(p.detail.clone().unwrap_or_else(|| format!("{p}")));
            }
        }
    }
    match reasons.is_empty() {
        true => "the order became invalid".to_owned(),
        false => format!("validation failed: {}", reasons.join("; ")),
    }
}

/// Serves `answer` through `acme` (or stops serving it, with `serve` false).
pub fn serve(acme: &Acme, answer: &StoredChallenge, serve: bool) -> Result<(), AcmeError> {
    match (answer.kind, serve) {
        (ChallengeKind::Http01, true) => acme.set_http(&answer.key, Some(&answer.value)),
        (ChallengeKind::Http01, false) => acme.set_http(&answer.key, None),
        (ChallengeKind::TlsAlpn01, true) => {
            let digest = BASE64
                .decode(&answer.value)
                .map_err(|e| AcmeError::Key(format!("stored tls-alpn-01 digest: {e}")))?;
            acme.set_alpn(&answer.key, Some(alpn_certificate(&answer.key, &digest)?));
        }
        (ChallengeKind::TlsAlpn01, false) => acme.set_alpn(&answer.key, None),
    }
    Ok(())
}

/// A self-signed certificate for `name` carrying the acmeIdentifier extension (RFC 8737).
fn alpn_certificate(name: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let key = KeyPair::generate().map_err(|e| AcmeError::Key(e.to_string()))?;
    let mut params =
        CertificateParams::new(vec![name.to_owned()]).map_err(|e| AcmeError::Key(e.to_string()))?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params
        .self_signed(&key)
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    // Not `CertifiedKey::from_der`: its key check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension the CA requires here.
    let signer = certs::provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// The challenge answers of one order, served here and published in the store; withdrawn
/// from both on drop.
struct Answers {
    acme: Arc<Acme>,
    store: Arc<Store>,
    published: Vec<StoredChallenge>,
}

impl Answers {
    fn publish(&mut self, answer: StoredChallenge) -> Result<(), AcmeError> {
        serve(&self.acme, &answer, true)?;
        self.published.push(answer.clone());
        self.store.save_challenge(&answer)?;
        Ok(())
    }
}

impl Drop for Answers {
    fn drop(&mut self) {
        for answer in &self.published {
            let _ = serve(&self.acme, answer, false);
            if let Err(e) = self.store.remove_challenge(answer.kind, &answer.key) {
                tracing::warn!("acme challenge answer left in the store: {e}");
            }
        }
    }
}
