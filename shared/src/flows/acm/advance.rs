//! The ACM path, step 2: report ACM's progress and, once the certificate is
//! issued, finish the setup: the API Gateway custom domain, its mapping to
//! the HTTP API, and the domain → workspace record. Each step is idempotent
//! and saved before the next, so a poll cut short is finished by the next.
//! The setup runs under the hostname's lease, read again once it is held:
//! a release (which holds the same lease) and a poll never interleave, so
//! no poll creates an API Gateway domain after a release has removed it.

use crate::adapters::apigateway::Paced;
use crate::app::App;
use crate::auth::require_same_tenant;
use crate::domain::{AcmRequest, AcmStage, DomainMapping, DomainName, Edge, TenantId};
use crate::error::Error;
use crate::flows::lease::{self, with_lease, Lease};

/// Reads the request `request_id`, which must be for `domain` and belong to
/// `caller` (another tenant's request is refused before anything is done).
#[tracing::instrument(name = "domain_status", skip_all, fields(%domain, tenant = %caller, %request_id))]
pub async fn domain_status(
    app: &App,
    caller: &TenantId,
    request_id: &str,
    domain: &DomainName,
) -> Result<AcmRequest, Error> {
    let not_found = || Error::NotFound(format!("no domain request {request_id} for {domain}"));
    match app.store.acm_request_domain(request_id).await? {
        Some(d) if &d == domain => {}
        _ => return Err(not_found()),
    }
    let mut request = app
        .store
        .load_acm_request(domain)
        .await?
        .ok_or_else(not_found)?;
    if request.request_id != request_id {
        return Err(not_found());
    }
    require_same_tenant(
        caller,
        &request.workspace_id,
        &format!("domain request {request_id}"),
    )?;
    if request.stage != AcmStage::Configured
        && app.store.load_hostname(domain).await?.is_releasing()
    {
        return Err(crate::flows::hostname::release::releasing(domain));
    }
    loop {
        match request.stage {
            AcmStage::Configured | AcmStage::Failed => return Ok(request),
            AcmStage::Requested => {
                let seen = app
                    .regional_certificates
                    .describe(&request.certificate_arn)
                    .await?;
                let changed = request.certificate_status.as_deref() != Some(seen.status.as_str())
                    || (request.validation_records.is_empty()
                        && !seen.validation_records.is_empty());
                request.certificate_status = Some(seen.status.clone());
                if request.validation_records.is_empty() {
                    crate::flows::acm::records::learn_records(
                        app,
                        &mut request,
                        seen.validation_records,
                    )
                    .await?;
                }
                if seen.issued && !ownership_seen(app, &mut request).await {
                    // ACM issued on a record that may be a previous
                    // owner's: nothing is configured until this
                    // workspace's own record is seen.
                    if changed {
                        app.store.save_acm_request(&mut request).await?;
                    }
                    return Ok(request);
                }
                if seen.failed {
                    request.failure =
                        Some(seen.failure_reason.unwrap_or_else(|| seen.status.clone()));
                    request.advance(AcmStage::Failed)?;
                } else if seen.issued {
                    api_id(app)?;
                    // ACM validated the tenant's CNAME records: proof of control.
                    app.store
                        .mark_proven(&request.domain, &request.workspace_id)
                        .await?;
                    request.advance(AcmStage::Issued)?;
                } else {
                    if changed {
                        app.store.save_acm_request(&mut request).await?;
                    }
                    return Ok(request);
                }
                app.store.save_acm_request(&mut request).await?;
            }
            AcmStage::Issued | AcmStage::DomainCreated | AcmStage::Mapped => {
                let holder = lease::holder("domain-status");
                let lease = Lease::for_a_call(app, domain, &holder);
                return match with_lease(app, lease, || configure(app, domain, request_id)).await? {
                    Some(configured) => Ok(configured),
                    // A release (or another poll) holds the hostname: the
                    // next poll goes on from where this one stands.
                    None => Ok(request),
                };
            }
        }
    }
}

/// The setup once ACM has issued (the caller holds the hostname's lease):
/// the API Gateway custom domain, its mapping, the domain → workspace
/// record, each saved before the next. Read again under the lease: a
/// release that began meanwhile stops it.
async fn configure(app: &App, domain: &DomainName, request_id: &str) -> Result<AcmRequest, Error> {
    let records = app.store.load_hostname(domain).await?;
    if records.is_releasing() {
        return Err(crate::flows::hostname::release::releasing(domain));
    }
    let mut request = records
        .acm_request
        .filter(|r| r.request_id == request_id)
        .ok_or_else(|| Error::NotFound(format!("no domain request {request_id} for {domain}")))?;
    loop {
        match request.stage {
            AcmStage::Requested | AcmStage::Configured | AcmStage::Failed => return Ok(request),
            AcmStage::Issued => {
                api_id(app)?;
                match app
                    .api_domains
                    .ensure_domain(&request.domain, &request.certificate_arn)
                    .await?
                {
                    Paced::Done(target) => {
                        request.api_gateway_domain = Some(target);
                        request.advance(AcmStage::DomainCreated)?;
                    }
                    // API Gateway takes one CreateDomainName per 30 s per
                    // account: the next poll creates it.
                    Paced::NotYet => return Ok(request),
                }
                app.store.save_acm_request(&mut request).await?;
            }
            AcmStage::DomainCreated => {
                let api = api_id(app)?;
                app.api_domains
                    .ensure_mapping(&request.domain, api, &app.config.api_gateway_stage)
                    .await?;
                request.advance(AcmStage::Mapped)?;
                app.store.save_acm_request(&mut request).await?;
            }
            AcmStage::Mapped => {
                app.store
                    .put_mapping(&DomainMapping {
                        domain: request.domain.clone(),
                        tenant_id: request.workspace_id.clone(),
                        edge: Edge::ApiGateway,
                        target: request.api_gateway_domain.clone().unwrap_or_default(),
                        certificate_arn: request.certificate_arn.clone(),
                        configured_at: crate::domain::Timestamp::now(),
                        dns_target: request.api_gateway_domain.clone(),
                    })
                    .await?;
                request.advance(AcmStage::Configured)?;
                app.store.save_acm_request(&mut request).await?;
                tracing::info!(domain = %request.domain, workspace = %request.workspace_id, "domain configured");
            }
        }
    }
}

/// Whether this workspace's ownership record, if one is required, is
/// answered by every authoritative server (kept once seen).
async fn ownership_seen(app: &App, request: &mut AcmRequest) -> bool {
    let Some(due) = request.ownership_due() else {
        return true;
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let seen = app.dns.observe(&due.record.name, deadline).await;
    request.ownership_proven = crate::adapters::dns::presence(&seen, &due.record.value)
        == crate::adapters::dns::Presence::Present;
    request.ownership_proven
}

fn api_id(app: &App) -> Result<&str, Error> {
    app.config
        .api_gateway_id
        .as_deref()
        .ok_or_else(|| Error::Internal("API_GATEWAY_ID is not configured".into()))
}
