//! `GET /domains/status/{request_id}?domain=...`.

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::request_domain::{add_records_message, claim_record};
use super::start_certificate::ClaimRecord;
use super::{json_response, path_param};
use crate::app::App;
use crate::auth;
use crate::domain::lifecycle::AcmPhase;
use crate::domain::{DomainName, ValidationRecord};
use crate::error::Code;
use crate::error::Error;
use crate::flows::acm::advance::domain_status;

#[derive(Serialize)]
struct StatusResponse<'a> {
    request_id: &'a str,
    domain: &'a str,
    workspace_id: &'a str,
    status: &'static str,
    certificate_status: Option<&'a str>,
    validation_records: Vec<ValidationRecord>,
    /// The workspace's claim record while it is required and unseen.
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_record: Option<ClaimRecord>,
    api_gateway_domain: Option<&'a str>,
    failure_reason: Option<&'a str>,
    /// Whether the live hostname points at its edge (null until live).
    dns: Option<super::dns_view::DnsView>,
    /// The platform's own data about the hostname, as last set.
    custom_metadata: Option<crate::domain::CustomMetadata>,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = auth::caller(&req, &app.config.tenant_claim)?;
    let request_id = path_param(&req, "request_id")?;
    if request_id.len() > 64
        || !request_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::NotFound(format!(
            "no domain request {}",
            request_id.chars().take(64).collect::<String>()
        )));
    }
    let query = req.query_string_parameters();
    let domain = query.first("domain").ok_or_else(|| {
        Error::validation(
            Code::MissingParameter,
            "add ?domain=<the hostname> to the URL",
        )
    })?;
    let domain = DomainName::parse(domain)?;
    let r = domain_status(app, &caller, &request_id, &domain).await?;
    let owner = app
        .store
        .load_owner(&r.domain)
        .await?
        .filter(|o| o.tenant_id == caller);
    let custom_metadata = owner.as_ref().and_then(|o| o.custom_metadata.clone());
    // A poll tells what it moved (issued, configured), reading nothing more
    // when there is nothing new.
    let seen = crate::domain::HostnameRecords {
        owner,
        acm_request: Some(r.clone()),
        ..Default::default()
    };
    if crate::flows::hostname::announce::has_news(&seen) {
        crate::flows::hostname::announce::announce(app, &r.domain, None).await;
    }
    let phase = AcmPhase::of(r.stage);
    // A configured hostname's DNS, as drift-check last saw it.
    let dns = match phase {
        AcmPhase::Served => {
            let records = app.store.load_hostname(&domain).await?;
            super::dns_view::dns_view(&records, app.config.drift_grace)
        }
        _ => None,
    };
    let message = match phase {
        AcmPhase::Validating => add_records_message(&r),
        AcmPhase::Configuring(_) => "the setup is under way; poll again".to_owned(),
        AcmPhase::Served => format!(
            "{} is configured: point a CNAME record for it at {}",
            r.domain,
            r.api_gateway_domain.as_deref().unwrap_or_default()
        ),
        AcmPhase::Failed => format!(
            "ACM could not issue the certificate ({}); send a new request to try again",
            r.failure.as_deref().unwrap_or("no reason given")
        ),
    };
    let status = phase.request_status();
    Ok(json_response(
        200,
        &StatusResponse {
            request_id: &r.request_id,
            domain: r.domain.as_str(),
            workspace_id: r.workspace_id.as_str(),
            status,
            certificate_status: r.certificate_status.as_deref(),
            validation_records: r.records_to_publish(),
            claim_record: claim_record(&r),
            api_gateway_domain: r.api_gateway_domain.as_deref(),
            failure_reason: r.failure.as_deref(),
            dns,
            custom_metadata,
            message,
        },
    ))
}
