//! One ACME task of the manager (control plane): an order under the name's lease, or an
//! ARI question about a served certificate; both report an [`Outcome`]. The account is
//! loaded (or registered, under its own lease) by the first task that needs it.

use std::sync::Arc;
use std::time::SystemTime;

use instant_acme::{Account, CertificateIdentifier};
use rustls_pki_types::CertificateDer;
use tokio::sync::OnceCell;
use tracing::info;

use super::store::Store;
use super::{ari, client, order, read_stored, schedule, AcmeError, Settings, Shared, LEASE};
use super::{LOCKED_RECHECK, ORDER_TIMEOUT};
use crate::metrics as m;

/// How an order task (or an ARI question) ended.
pub(super) enum Outcome {
    /// A certificate is in the store (ordered now, or by another replica meanwhile).
    Stored,
    /// Another replica holds the lock.
    Locked,
    Failed(AcmeError),
    /// The CA's renewal window for the certificate served.
    Ari(Result<ari::Answer, AcmeError>),
}

/// One order task's inputs.
pub(super) struct Job {
    pub(super) name: String,
    pub(super) settings: Settings,
    pub(super) store: Arc<Store>,
    pub(super) shared: Arc<Shared>,
    pub(super) account: Arc<OnceCell<Arc<Account>>>,
    pub(super) owner: String,
}

impl Job {
    /// Orders a certificate under the name's lease.
    pub(super) async fn run(
        self: Arc<Self>,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Outcome {
        let lease = match self.store.try_lock(&self.name, &self.owner, LEASE) {
            Ok(Some(lease)) => lease,
            Ok(None) => return Outcome::Locked,
            Err(e) => return Outcome::Failed(e.into()),
        };
        let result = tokio::time::timeout(ORDER_TIMEOUT, self.order(replaces)).await;
        drop(lease);
        match result {
            Ok(Ok(())) => {
                metrics::counter!(m::ACME_ORDERS_TOTAL, "result" => "issued").increment(1);
                info!(name = %self.name, "acme certificate issued");
                Outcome::Stored
            }
            Ok(Err(e)) => Outcome::Failed(e),
            Err(_) => Outcome::Failed(AcmeError::Timeout(ORDER_TIMEOUT)),
        }
    }

    /// Asks the CA when `leaf` should be renewed.
    pub(super) async fn ari(self: Arc<Self>, leaf: CertificateDer<'static>) -> Outcome {
        let asked = async { ari::ask(self.account().await?, &leaf).await };
        let answer = tokio::time::timeout(ORDER_TIMEOUT, asked).await;
        Outcome::Ari(answer.unwrap_or(Err(AcmeError::Timeout(ORDER_TIMEOUT))))
    }

    async fn order(
        &self,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Result<(), AcmeError> {
        if self.stored_fresh() {
            return Ok(());
        }
        let issued = order::order(
            self.account().await?,
            &self.name,
            self.settings.challenge,
            &self.shared,
            &self.store,
            replaces,
        )
        .await?;
        self.store
            .save_certificate(&self.name, &issued.key_pem, &issued.chain_pem)?;
        Ok(())
    }

    /// Whether the store already holds a certificate not yet due (another replica ordered it
    /// while this one waited for the lock).
    fn stored_fresh(&self) -> bool {
        read_stored(&self.store, &self.name)
            .is_ok_and(|l| l.is_some_and(|l| SystemTime::now() < schedule::renew_at(l.validity)))
    }

    async fn account(&self) -> Result<&Account, AcmeError> {
        let account = self.account.get_or_try_init(|| self.account_locked());
        Ok(account.await?)
    }

    /// The account, registered by one replica at a time.
    async fn account_locked(&self) -> Result<Arc<Account>, AcmeError> {
        loop {
            if let Some(lease) = self.store.try_lock("account", &self.owner, LEASE)? {
                let account = client::account(&self.settings, &self.store).await;
                drop(lease);
                return account;
            }
            tokio::time::sleep(LOCKED_RECHECK).await;
        }
    }
}
