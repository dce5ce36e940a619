//! Claiming a hostname (both paths), and ending a squatter's claim.
//!
//! A claim is made before anything is asked of a CA or ACM, so one tenant
//! owns a name at a time. A claim nobody backs with proof would block the
//! name's real owner for ever, so a claim whose tenant never proved control
//! by DNS (its TXT or CNAME seen by the precheck, or ACM's validation
//! passed) expires after `UNPROVEN_CLAIM_EXPIRY_HOURS` (default 7 days):
//! the next tenant to claim the name ends it (with its order or request, and
//! that request's certificate) and claims it. A proven claim never expires;
//! it ends only by its owner's release.

use crate::app::App;
use crate::domain::{DomainName, TenantId, Timestamp};
use crate::error::Error;

/// Claims `domain` for `tenant` (see `Store::claim`), first ending another
/// tenant's expired, unproven claim. Answers when the claim began.
pub async fn claim(app: &App, domain: &DomainName, tenant: &TenantId) -> Result<String, Error> {
    match app.store.claim(domain, tenant).await {
        Err(Error::Conflict {
            code: "domain_taken",
            message,
        }) => {
            let stale_before = Timestamp::now().minus(app.config.unproven_claim_expiry);
            let Some(certificate) = app.store.end_stale_claim(domain, stale_before).await? else {
                return Err(Error::Conflict {
                    code: "domain_taken",
                    message,
                });
            };
            tracing::info!(%domain, %tenant, "ended an unproven claim past its expiry");
            if let Some(arn) = certificate {
                if let Err(e) = app.regional_certificates.delete(&arn).await {
                    tracing::warn!(%domain, error = %e, "could not delete the ended claim's certificate");
                }
            }
            app.store.claim(domain, tenant).await
        }
        other => other,
    }
}
