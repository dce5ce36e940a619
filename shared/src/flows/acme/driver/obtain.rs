//! Validating → Finalizing → Issued: the CA's verdict, the certificate's
//! key and CSR (saved sealed before finalising), and the certificate itself.

use base64::prelude::{Engine, BASE64_STANDARD};
use tokio::time::Instant;

use super::step::{fail, remove_delegated_record, Step};
use crate::adapters::acme::OrderStatus;
use crate::app::App;
use crate::domain::certificate::{csr_matches, inspect, new_key_and_csr};
use crate::domain::{AcmeOrder, IssuedCertificate, PendingKey, Stage};
use crate::error::Error;

pub(crate) const KEY_PURPOSE: &str = "certificate-key";

/// Validating → Finalizing: wait for the CA's verdict; once the order is
/// ready, make a fresh EC P-256 key and CSR and save them (sealed) before
/// finalising, so a retried finalise uses the same key. Renewals get a new
/// key of the same type: ACM refuses a re-import that changes key type.
pub(super) async fn await_validation(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
    key_in_hand: &mut Option<String>,
) -> Result<Step, Error> {
    let (status, problem) = app
        .acme
        .poll_order(&order.order_url, app.config.acme_poll_interval, deadline)
        .await?;
    match status {
        OrderStatus::Pending => Ok(Step::Waiting),
        OrderStatus::Invalid => fail(app, order, problem).await,
        OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => {
            // Validated: the delegated record has done its job.
            remove_delegated_record(app, order).await;
            if order.pending_key.is_none() {
                let (key_pem, csr) = new_key_and_csr(&order.certificate_names())?;
                let sealed_key = app
                    .sealer
                    .seal(KEY_PURPOSE, order.domain.as_str(), key_pem.as_bytes())
                    .await?;
                order.pending_key = Some(PendingKey {
                    sealed_key,
                    csr: BASE64_STANDARD.encode(csr),
                });
                *key_in_hand = Some(key_pem);
            }
            order.advance(Stage::Finalizing)?;
            app.store.save_order(order).await?;
            Ok(Step::Advanced)
        }
    }
}

/// Finalizing → Issued: send the CSR, wait for the certificate, save chain
/// and sealed key. Nothing after this point can lose the certificate.
pub(super) async fn obtain_certificate(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
) -> Result<Step, Error> {
    let pending = order
        .pending_key
        .clone()
        .ok_or_else(|| Error::Internal("finalizing without a saved key".into()))?;
    let csr = BASE64_STANDARD
        .decode(&pending.csr)
        .map_err(|_| Error::Internal("stored CSR is not base64".into()))?;
    app.acme.finalize(&order.order_url, &csr).await?;
    let (status, problem) = app
        .acme
        .poll_order(&order.order_url, app.config.acme_poll_interval, deadline)
        .await?;
    match status {
        OrderStatus::Invalid => return fail(app, order, problem).await,
        OrderStatus::Valid => {}
        _ => return Ok(Step::Waiting),
    }
    let chain = app
        .acme
        .download_certificate(&order.order_url)
        .await?
        .ok_or_else(|| Error::Internal("order valid but no certificate".into()))?;
    let facts = inspect(&chain)?;
    // The certificate is for the saved key if it is for the CSR's key (no
    // need to open the sealed key for that).
    if !csr_matches(&csr, &facts)? {
        return Err(Error::Internal(
            "the issued certificate does not match the saved key".into(),
        ));
    }
    order.certificate = Some(IssuedCertificate {
        chain_pem: chain,
        sealed_key: pending.sealed_key,
        serial: facts.serial,
        not_before: facts.not_before,
        not_after: facts.not_after,
    });
    order.pending_key = None;
    order.advance(Stage::Issued)?;
    // The import comes next, and may take effect before its answer is
    // seen: marked in this same save (one write less per issuance).
    order.import_started = true;
    app.store.save_order(order).await?;
    tracing::info!(domain = %order.domain, purpose = ?order.purpose, "certificate issued and saved");
    // Counted against the CA's per-domain and duplicate limits (a failure
    // to count is logged: the certificate is safe, the ledger a guard).
    if let Err(e) =
        crate::flows::acme::limits::issued(app, &order.domain, order.replaces.is_some()).await
    {
        tracing::warn!(domain = %order.domain, error = %e, "could not count the issued certificate");
    }
    Ok(Step::Advanced)
}
