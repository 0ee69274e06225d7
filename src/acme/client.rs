//! The ACME account and the HTTPS client it talks to the CA with (control plane).
//!
//! The client trusts the built-in Mozilla roots (so a `FROM scratch` image works), or only the
//! CAs of `acme.ca` (a private or test CA such as Pebble's). The account's key and URL are
//! kept in the storage directory: a restart or another replica uses the same account instead
//! of registering a new one.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, AccountCredentials, BodyWrapper, ExternalAccountKey, NewAccount};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::store::Store;
use super::AcmeError;
use crate::config::Acme as Settings;
use crate::model::certs;

/// An HTTPS client for the CA that trusts `ca`'s certificates, or the built-in roots.
fn http_client(ca: Option<&Path>) -> Result<Box<dyn instant_acme::HttpClient>, AcmeError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| AcmeError::Ca(format!("{}: {e}", path.display())))?;
            roots.add_parsable_certificates(certs);
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(certs::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| AcmeError::Ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: Client<_, BodyWrapper<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(client))
}

/// The stored account, or a new one registered (and stored) now.
pub async fn account(settings: &Settings, store: &Store) -> Result<Arc<Account>, AcmeError> {
    let builder = || http_client(settings.ca.as_deref()).map(Account::builder_with_http);
    if let Some(json) = store.account()? {
        let credentials: AccountCredentials =
            serde_json::from_str(&json).map_err(|e| AcmeError::Account(e.to_string()))?;
        let account = builder()?.from_credentials(credentials).await?;
        return Ok(Arc::new(account));
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let eab = settings
        .eab
        .as_ref()
        .map(|e| ExternalAccountKey::new(e.kid.clone(), &e.hmac_key));
    let new = NewAccount {
        contact: &contact,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = builder()?
        .create(&new, settings.directory.clone(), eab.as_ref())
        .await?;
    let json =
        serde_json::to_string(&credentials).map_err(|e| AcmeError::Account(e.to_string()))?;
    store.save_account(&json)?;
    Ok(Arc::new(account))
}
