//! The ACM path, step 1: request a certificate and tell the tenant which
//! CNAME records prove control of the name.
//!
//! Idempotent: the same hostname and workspace answer the existing request.
//! The hostname is claimed first: one claimed by another tenant (on either
//! path) is a conflict, and nothing is requested for it.

use std::time::Duration;

use tokio::time::Instant;

use crate::adapters::acm::Deletion;
use crate::adapters::store::PendingPlace;
use crate::app::App;
use crate::domain::{AcmRequest, AcmStage, DomainName, TenantId};
use crate::error::Code;
use crate::error::Error;
use crate::flows::acm::records::learn_records;

/// The longest name ACM requests a certificate for (X.509 `ub-common-name`).
pub const ACM_MAX_DOMAIN_LEN: usize = 64;

#[tracing::instrument(name = "request_domain", skip_all, fields(%domain, tenant = %workspace))]
pub async fn request_domain(
    app: &App,
    workspace: &TenantId,
    domain: &DomainName,
) -> Result<AcmRequest, Error> {
    // A deployment that cannot finish the setup refuses before claiming.
    if app.config.api_gateway_id.is_none() {
        return Err(Error::Internal("API_GATEWAY_ID is not configured".into()));
    }
    // ACM puts the first name in the certificate's subject common name,
    // which X.509 limits to 64 characters: RequestCertificate refuses a
    // longer one. A client's mistake, said before anything is claimed.
    if domain.as_str().len() > ACM_MAX_DOMAIN_LEN {
        return Err(Error::validation(
            Code::DomainTooLongForAcm,
            format!(
                "{domain} is {} characters long; ACM issues certificates only for names of at most {ACM_MAX_DOMAIN_LEN} (the certificate's common name)",
                domain.as_str().len()
            ),
        ));
    }
    // A hostname new to this tenant must fit under its pending limit
    // (`TENANT_PENDING_HOSTNAMES`) and takes one of its new-hostname slots
    // (`TENANT_NEW_ORDERS_PER_HOUR`), before anything is claimed or asked of
    // ACM.
    let known = app.store.load_hostname(domain).await?;
    if !known.is_owned_by(workspace) || known.acm_request.is_none() {
        app.store
            .check_pending(workspace, app.config.tenant_pending_hostnames)
            .await?;
        crate::flows::quota::check_new(app, crate::domain::quota::NewHostname::Acm).await?;
        app.store
            .take_new_order_slot(
                workspace,
                app.config.tenant_new_orders_per_hour,
                Duration::from_secs(3600),
            )
            .await?;
    }
    let claimed_at = crate::flows::hostname::claim::claim(app, domain, workspace).await?;
    let existing = app.store.load_acm_request(domain).await?;
    if let Some(mut existing) = existing.clone().filter(|r| r.stage != AcmStage::Failed) {
        if existing.validation_records.is_empty() && existing.stage == AcmStage::Requested {
            let seen = app
                .regional_certificates
                .describe(&existing.certificate_arn)
                .await?;
            if !seen.validation_records.is_empty() {
                learn_records(app, &mut existing, seen.validation_records).await?;
                existing.certificate_status = Some(seen.status);
                app.store.save_acm_request(&mut existing).await?;
            }
        }
        return Ok(existing);
    }

    // The request holds one of the workspace's pending places from here on,
    // taken before ACM is asked for anything: of requests racing each
    // other, those past the limit stop here.
    let place = PendingPlace::Takes {
        limit: app.config.tenant_pending_hostnames,
    };
    app.store
        .take_pending_place(workspace, domain, place)
        .await?;
    // A failed request is replaced by a new one (with a new token, so ACM
    // issues a new certificate rather than answering the failed one).
    let replacing = existing.as_ref().map(|r| (r.version, r.request_id.clone()));
    let token = idempotency_token(
        domain,
        workspace,
        &claimed_at,
        replacing.as_ref().map(|(_, id)| id.as_str()),
    );
    let arn = app
        .regional_certificates
        .request(domain, workspace.as_str(), &token)
        .await?;
    // ACM publishes the validation records a moment after the request.
    let deadline = Instant::now() + app.config.acm_records_wait;
    // Polled at 250 ms, then less often (to 1 s): ACM allows 10
    // DescribeCertificate requests a second per account (ACM's API rate
    // quotas), shared by every request-domain and status poll at once.
    let mut seen = app.regional_certificates.describe(&arn).await?;
    let mut wait = Duration::from_millis(250);
    while seen.validation_records.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
        seen = app.regional_certificates.describe(&arn).await?;
    }
    let now = crate::domain::Timestamp::now();
    let mut request = AcmRequest {
        request_id: new_request_id()?,
        domain: domain.clone(),
        workspace_id: workspace.clone(),
        certificate_arn: arn.clone(),
        stage: AcmStage::Requested,
        validation_records: Vec::new(),
        api_gateway_domain: None,
        certificate_status: Some(seen.status),
        failure: None,
        ownership_record: None,
        ownership_proven: false,
        version: replacing.as_ref().map_or(0, |(v, _)| v + 1),
        created_at: now,
        updated_at: now,
    };
    learn_records(app, &mut request, seen.validation_records).await?;
    app.store
        .insert_acm_request(
            &request,
            replacing.as_ref().map(|(v, id)| (*v, id.as_str())),
            place,
        )
        .await?;
    // The failed request's certificate is of no use: deleted, so it does not
    // count against the account's ACM quota (a failure is logged; the
    // release deletes nothing of a replaced request).
    if let Some(failed) = existing.filter(|r| r.stage == AcmStage::Failed) {
        match app
            .regional_certificates
            .delete(&failed.certificate_arn)
            .await
        {
            Ok(Deletion::Deleted | Deletion::Refused) => {}
            Ok(Deletion::InUse) => {
                tracing::warn!("could not delete the failed request's certificate: still in use")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not delete the failed request's certificate")
            }
        }
    }
    Ok(request)
}

/// ACM's idempotency token: 32 hex characters, the same on every retry of
/// one request, and new for a new claim on the name (after a release, ACM
/// must not answer with the certificate deleted at that release) or for a
/// request replacing a failed one.
fn idempotency_token(
    domain: &DomainName,
    workspace: &TenantId,
    claimed_at: &str,
    replaces: Option<&str>,
) -> String {
    let input = format!(
        "{domain}\n{workspace}\n{claimed_at}\n{}",
        replaces.unwrap_or_default()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    digest
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random request ID: 128 bits, hex.
fn new_request_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Internal("no randomness".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_short() {
        let d = DomainName::parse("client.example.com").unwrap();
        let w = TenantId::parse("w", "workspace-1").unwrap();
        let t = idempotency_token(&d, &w, "t0", None);
        assert_eq!(t, idempotency_token(&d, &w, "t0", None));
        assert_ne!(t, idempotency_token(&d, &w, "t1", None));
        assert_eq!(t.len(), 32);
        assert_ne!(
            t,
            idempotency_token(
                &d,
                &TenantId::parse("w", "workspace-2").unwrap(),
                "t0",
                None
            )
        );
        assert_ne!(t, idempotency_token(&d, &w, "t0", Some("old")));
        assert_ne!(new_request_id().unwrap(), new_request_id().unwrap());
    }
}
