//! `POST /domains/request` with `{"domain": "...", "workspace_id": "..."}`.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::{json_body, json_response, tenant_domain};
use crate::app::App;
use crate::auth;
use crate::domain::{AcmRequest, AcmStage, CustomMetadata, TenantId, ValidationRecord};
use crate::error::Error;
use crate::flows::acm::request::request_domain;
use crate::routes::start_certificate::ClaimRecord;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    domain: String,
    workspace_id: String,
    /// The platform's own data, kept with the hostname (`CustomMetadata`).
    custom_metadata: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct RequestResponse<'a> {
    request_id: &'a str,
    domain: &'a str,
    workspace_id: &'a str,
    status: &'static str,
    certificate_status: Option<&'a str>,
    validation_records: Vec<ValidationRecord>,
    /// The workspace's claim record while it is required and unseen (it is
    /// in `validation_records` too), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_record: Option<ClaimRecord>,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = auth::caller(&req, &app.config.tenant_claim)?;
    let body: RequestBody = json_body(&req)?;
    let workspace = TenantId::parse("workspace_id", &body.workspace_id)?;
    auth::require_same_tenant(&caller, &workspace, &format!("workspace {workspace}"))?;
    let domain = tenant_domain(app, &body.domain)?;
    let metadata = body
        .custom_metadata
        .as_ref()
        .map(CustomMetadata::parse)
        .transpose()?;
    let request = request_domain(app, &workspace, &domain).await?;
    if let Some(metadata) = &metadata {
        crate::flows::hostname::metadata::set(app, &workspace, &domain, Some(metadata)).await?;
    }
    crate::flows::hostname::announce::announce(app, &domain, None).await;
    Ok(json_response(200, &response(&request)))
}

fn response(r: &AcmRequest) -> RequestResponse<'_> {
    let (status, message) = match r.stage {
        AcmStage::Requested if r.validation_records.is_empty() => (
            "PENDING_VALIDATION",
            "ACM has not published the validation records yet; request again in a few seconds to see them".to_owned(),
        ),
        AcmStage::Requested => ("PENDING_VALIDATION", add_records_message(r)),
        AcmStage::Issued | AcmStage::DomainCreated | AcmStage::Mapped => (
            "CONFIGURING",
            format!("the certificate is issued; poll /domains/status/{} to finish the setup", r.request_id),
        ),
        AcmStage::Configured => ("CONFIGURED", format!("{} is configured", r.domain)),
        AcmStage::Failed => ("FAILED", "ACM could not issue the certificate".to_owned()),
    };
    RequestResponse {
        request_id: &r.request_id,
        domain: r.domain.as_str(),
        workspace_id: r.workspace_id.as_str(),
        status,
        certificate_status: r.certificate_status.as_deref(),
        validation_records: r.records_to_publish(),
        claim_record: claim_record(r),
        message,
    }
}

/// The claim record `r` asks of its workspace while it is unseen, as the
/// ACME path's start answer shows one.
pub(crate) fn claim_record(r: &AcmRequest) -> Option<ClaimRecord> {
    r.ownership_due()
        .map(|o| ClaimRecord::new(&r.domain, &r.workspace_id, o.reason))
}

/// Tells the tenant which DNS records to add.
pub(crate) fn add_records_message(r: &AcmRequest) -> String {
    let records: Vec<String> = r
        .records_to_publish()
        .iter()
        .map(|v| format!("{} {} {}", v.name, v.record_type, v.value))
        .collect();
    let ownership = match r.ownership_due() {
        Some(o) => format!(
            " (ACM's record is the same for every certificate of the name and {}, so your claim record, the TXT record {}, proves that this workspace controls the name; nothing is configured until it is seen)",
            o.reason.reason(),
            o.record.name
        ),
        None => String::new(),
    };
    format!(
        "add these DNS records so AWS can validate {}: {}{ownership}; then poll /domains/status/{}",
        r.domain,
        records.join("; "),
        r.request_id
    )
}
