//! Ending an order CloudFront refused at attach (`CNAMEAlreadyExists`, an
//! alias the certificate does not cover, a distribution gone), at any
//! stage, so no hostname is left with an order nothing can move.
//!
//! - **Names added to a served certificate** (`Purpose::Extend`): the new
//!   certificate was already re-imported into the served ARN. A start for
//!   other names puts the served certificate back into that ARN (the names
//!   already served stay served, with what their record says), then the
//!   order ends. A name leaving (its release, also a drift detach) and the
//!   sweep end the order without it: the served names' renewal, due at
//!   once, re-imports a certificate without the names that left (meanwhile
//!   the ARN's certificate covers them too, which serves them as before).
//! - **A first issuance** (nothing served to fall back on): the imported
//!   certificate is deleted and the order ends, when a start asks for the
//!   names again (the lead's release does the same through its steps).
//!
//! Each step is safe to repeat: the put-back re-imports the same
//! certificate; a deletion of what is gone is no error.

use crate::adapters::acm::{Deletion, Imported};
use crate::app::App;
use crate::domain::certificate::split_chain;
use crate::domain::{AcmeOrder, Purpose, ServedCertificate};
use crate::error::{Error, Service};
use crate::flows::acme::driver::obtain::KEY_PURPOSE;

/// Ends `order`, refused at attach; `served` is its lead's served
/// certificate, if any.
pub(crate) async fn end_refused(
    app: &App,
    order: &AcmeOrder,
    served: Option<&ServedCertificate>,
) -> Result<(), Error> {
    match (order.purpose, served) {
        (Purpose::Extend, Some(served)) => put_back(app, served).await?,
        _ => {
            if let Some(arn) = &order.certificate_arn {
                if app.edge_certificates.delete(arn).await? == Deletion::InUse {
                    return Err(Error::conflict(
                        crate::error::Code::CertificateChangeInFlight,
                        format!(
                            "the certificate CloudFront refused for {} is still in use; call again in a moment",
                            order.domain
                        ),
                    ));
                }
            }
        }
    }
    tracing::info!(lead = %order.domain, "ended an order CloudFront refused at attach");
    app.store.cancel_order(order).await
}

/// Re-imports the served certificate into its own ARN.
async fn put_back(app: &App, served: &ServedCertificate) -> Result<(), Error> {
    let chain = split_chain(&served.certificate.chain_pem)?;
    let key = app
        .sealer
        .open(
            KEY_PURPOSE,
            served.domain.as_str(),
            &served.certificate.sealed_key,
        )
        .await?;
    let key =
        String::from_utf8(key).map_err(|_| Error::Internal("stored key is not UTF-8".into()))?;
    match app
        .edge_certificates
        .import(
            &served.domain,
            chain.leaf_pem,
            chain.intermediates_pem,
            &key,
            Some(&served.certificate_arn),
        )
        .await?
    {
        Imported::Arn(_) => Ok(()),
        Imported::Throttled => Err(Error::upstream(
            Service::Acm,
            "ACM kept throttling the import that puts the served certificate back; call again",
        )),
    }
}
