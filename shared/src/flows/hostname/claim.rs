//! Claiming a hostname (both paths), ending a squatter's claim, and taking
//! over a claim by DNS proof.
//!
//! A claim is made before anything is asked of a CA or ACM, so one tenant
//! owns a name at a time. A claim nobody backs with proof would block the
//! name's real owner, so a claim whose tenant never proved control by DNS
//! (its TXT or CNAME seen by the precheck, or ACM's validation passed) can
//! end two ways, Cloudflare's custom-hostname pre-validation being the
//! model for the second:
//! - it **expires** after `UNPROVEN_CLAIM_EXPIRY_HOURS` (default 7 days):
//!   the next tenant to claim the name ends it (with its order or request,
//!   and that request's certificate) and claims it;
//! - before that, another tenant **takes it over** by proving control: its
//!   refused claim answers `409 domain_taken` with a TXT record
//!   ([`takeover_record`], specific to that tenant and name) and, once every
//!   authoritative server answers it, the same call ends the unproven claim
//!   and claims the name.
//!
//! A proven claim never expires and is never taken over; it ends only by its
//! owner's release.
//!
//! Ending a claim ends what the CA keeps of it first: its order's
//! authorizations are deactivated before the new claim is written (one ACME
//! account serves every tenant, and Let's Encrypt would answer the next
//! claimant's order with the old pending one, whose TXT value the earlier
//! claimant may have had published). If the CA fails, nothing changes and
//! the caller is told to call again. The ended claim is kept as the name's
//! previous claim for 30 days, in which another tenant proves control with
//! its own [`claim_record`] before anything is validated (ACME path) or
//! configured (ACM path, whose validation CNAME is the same for every
//! certificate of the name) ([`crate::domain::ClaimProof`]).

use tokio::time::Instant;

use crate::adapters::dns::{presence, Presence};
use crate::app::App;
use crate::domain::{DomainName, TenantId, Timestamp};
use crate::error::Code;
use crate::error::Error;

pub use crate::domain::{claim_record, CLAIM_LABEL};

/// Claims `domain` for `tenant` (see `Store::claim`), first ending another
/// tenant's unproven claim that has expired or that `tenant` proves control
/// over. Answers when the claim began.
pub async fn claim(app: &App, domain: &DomainName, tenant: &TenantId) -> Result<String, Error> {
    match app.store.claim(domain, tenant).await {
        Err(Error::Conflict {
            code: Code::DomainTaken,
            ..
        }) => {}
        other => return other,
    }
    let stale_before = Timestamp::now().minus(app.config.unproven_claim_expiry);
    let records = app.store.load_hostname(domain).await?;
    if records
        .unproven_claim_of_other(tenant)
        .is_some_and(|o| o.last_active().is_some_and(|t| t < stale_before))
    {
        end_at_the_ca(app, domain, &records).await?;
    }
    if let Some(certificate) = app.store.end_stale_claim(domain, stale_before).await? {
        tracing::info!(%domain, %tenant, "ended an unproven claim past its expiry");
        delete_certificate(app, domain, certificate).await;
        return app.store.claim(domain, tenant).await;
    }
    // One answer for every refusal, whatever the claim's state (proven or
    // not, how old, being released): a refused tenant learns only that the
    // name is unavailable to it, and how a tenant that controls its DNS
    // takes over a claim that was never proved. The record is looked up
    // either way, so the answer's timing tells nothing either.
    let (name, value) = claim_record(domain, tenant);
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    let seen = app.dns.observe(&name, deadline).await;
    let unavailable = || {
        Error::Contested {
        message: format!(
            "{domain} is not available; if you control its DNS and it is held without proof, publish a TXT record named {name} with the value {value} and call again"
        ),
        details: serde_json::json!({
            "takeover_record": { "name": name, "type": "TXT", "value": value },
            "found": seen,
        }),
    }
    };
    if records.unproven_claim_of_other(tenant).is_none()
        || presence(&seen, &value) != Presence::Present
    {
        return Err(unavailable());
    }
    end_at_the_ca(app, domain, &records).await?;
    // Any unproven claim, however recent (the condition still requires it
    // unproven at the moment of the write).
    let any_time = Timestamp::now().plus(std::time::Duration::from_secs(1));
    let Some(certificate) = app.store.end_stale_claim(domain, any_time).await? else {
        return Err(unavailable());
    };
    tracing::info!(%domain, %tenant, "took over an unproven claim by DNS proof");
    delete_certificate(app, domain, certificate).await;
    app.store.claim(domain, tenant).await
}

/// Deactivates the authorizations of the order of the claim about to end
/// (its own order, or its name's in the order that would add it to another
/// hostname's certificate), so the CA cannot hand them to the next
/// claimant. A CA that fails leaves the claim as it is: the caller calls
/// again.
async fn end_at_the_ca(
    app: &App,
    domain: &DomainName,
    records: &crate::domain::HostnameRecords,
) -> Result<(), Error> {
    let deadline = Instant::now() + app.config.time_budget + crate::flows::acme::driver::CA_GRACE;
    let lead_order = match (&records.order, &records.order_ref) {
        (None, Some(lead)) => app.store.load_hostname(lead).await?.order,
        _ => None,
    };
    let (url, only) = match (&records.order, &lead_order) {
        (Some(own), _) => (own.order_url.clone(), None),
        (None, Some(lead)) => (lead.order_url.clone(), Some(domain)),
        (None, None) => return Ok(()),
    };
    crate::adapters::acme::within(
        deadline,
        Box::pin(app.acme.deactivate_authorizations(&url, only)),
    )
    .await
    .inspect(|()| tracing::info!(%domain, "ended the previous claim's order at the CA"))
}

async fn delete_certificate(app: &App, domain: &DomainName, certificate: Option<String>) {
    if let Some(arn) = certificate {
        match app.regional_certificates.delete(&arn).await {
            Ok(
                crate::adapters::acm::Deletion::Deleted | crate::adapters::acm::Deletion::Refused,
            ) => {}
            Ok(crate::adapters::acm::Deletion::InUse) => {
                tracing::warn!(%domain, "could not delete the ended claim's certificate: still in use")
            }
            Err(e) => {
                tracing::warn!(%domain, error = %e, "could not delete the ended claim's certificate")
            }
        }
    }
}
