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

use tokio::time::Instant;

use crate::adapters::dns::{presence, Presence};
use crate::app::App;
use crate::domain::{DomainName, TenantId, Timestamp};
use crate::error::Code;
use crate::error::Error;

/// The label under the hostname where a tenant proves control to take over
/// an unproven claim.
pub const TAKEOVER_LABEL: &str = "_custom-domains-claim";

/// The TXT record that proves `tenant` controls `domain`'s DNS: its value is
/// derived from both (not secret: it can only ever let this tenant in, and
/// only if published in the name's own zone).
pub fn takeover_record(domain: &DomainName, tenant: &TenantId) -> (String, String) {
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!(
            "custom-domains claim\0{}\0{}",
            tenant.as_str(),
            domain.as_str()
        )
        .as_bytes(),
    );
    (
        format!("{TAKEOVER_LABEL}.{domain}"),
        BASE64_URL_SAFE_NO_PAD.encode(&digest.as_ref()[..24]),
    )
}

/// Claims `domain` for `tenant` (see `Store::claim`), first ending another
/// tenant's unproven claim that has expired or that `tenant` proves control
/// over. Answers when the claim began.
pub async fn claim(app: &App, domain: &DomainName, tenant: &TenantId) -> Result<String, Error> {
    let message = match app.store.claim(domain, tenant).await {
        Err(Error::Conflict {
            code: Code::DomainTaken,
            message,
        }) => message,
        other => return other,
    };
    let stale_before = Timestamp::now().minus(app.config.unproven_claim_expiry);
    if let Some(certificate) = app.store.end_stale_claim(domain, stale_before).await? {
        tracing::info!(%domain, %tenant, "ended an unproven claim past its expiry");
        delete_certificate(app, domain, certificate).await;
        return app.store.claim(domain, tenant).await;
    }
    let records = app.store.load_hostname(domain).await?;
    let unproven = records.owner.as_ref().is_some_and(|o| {
        o.proven_at.is_none() && o.releasing_since.is_none() && &o.tenant_id != tenant
    }) && records.served.is_none()
        && records.mapping.is_none();
    if !unproven {
        return Err(Error::Conflict {
            code: Code::DomainTaken,
            message,
        });
    }
    let (name, value) = takeover_record(domain, tenant);
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    let seen = app.dns.observe(&name, deadline).await;
    if presence(&seen, &value) != Presence::Present {
        return Err(Error::Contested {
            message: format!(
                "{domain} is claimed by another tenant that has not proved control of it; to take it over, publish a TXT record named {name} with the value {value} and call again"
            ),
            details: serde_json::json!({
                "takeover_record": { "name": name, "type": "TXT", "value": value },
                "found": seen,
            }),
        });
    }
    // Any unproven claim, however recent (the condition still requires it
    // unproven at the moment of the write).
    let any_time = Timestamp::now().plus(std::time::Duration::from_secs(1));
    let Some(certificate) = app.store.end_stale_claim(domain, any_time).await? else {
        return Err(Error::Conflict {
            code: Code::DomainTaken,
            message,
        });
    };
    tracing::info!(%domain, %tenant, "took over an unproven claim by DNS proof");
    delete_certificate(app, domain, certificate).await;
    app.store.claim(domain, tenant).await
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
