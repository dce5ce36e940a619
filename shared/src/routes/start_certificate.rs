//! `POST /api/domain/start-certificate/{org_id}` with `{"domain": "..."}`.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::{json_body, json_response, path_param, tenant_domain};
use crate::app::App;
use crate::auth;
use crate::domain::{AcmeOrder, DomainName, ServedCertificate, Stage, TenantId};
use crate::error::Error;
use crate::flows::start_certificate::{start_certificate, Started};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainRequest {
    pub domain: String,
}

#[derive(Serialize)]
struct StartResponse<'a> {
    domain: &'a str,
    status: &'a str,
    proxy_status: &'a str,
    txt_record_name: &'a str,
    txt_record_value: &'a str,
    /// The alternative to the TXT record, when the platform has a
    /// delegation zone: `_acme-challenge.<host>` CNAME to a name unique to
    /// this claim. Published once, it serves this and every renewal.
    cname_record_name: Option<&'a str>,
    cname_record_value: Option<String>,
    order_url: &'a str,
    authorization_url: &'a str,
    challenge_url: &'a str,
    finalize_url: &'a str,
    certificate_arn: Option<&'a str>,
    message: String,
}

/// Authenticates the caller, who must be the organisation in the path,
/// and reads the hostname from the body.
pub(crate) fn parse(app: &App, req: &Request) -> Result<(TenantId, DomainName), Error> {
    let caller = auth::caller(req, &app.config.tenant_claim)?;
    let org = TenantId::parse("org_id", &path_param(req, "org_id")?)?;
    auth::require_same_tenant(&caller, &org, &format!("organisation {org}"))?;
    let body: DomainRequest = json_body(req)?;
    Ok((org, tenant_domain(app, &body.domain)?))
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let (org, domain) = parse(app, &req)?;
    match start_certificate(app, &org, &domain).await? {
        Started::Order(order) => Ok(json_response(200, &response(app, &order))),
        Started::Served(served) => Ok(json_response(200, &served_response(&served))),
    }
}

#[derive(Serialize)]
struct ServedResponse<'a> {
    domain: &'a str,
    status: &'static str,
    proxy_status: &'static str,
    certificate_arn: &'a str,
    not_after: String,
    message: String,
}

fn served_response(served: &ServedCertificate) -> ServedResponse<'_> {
    ServedResponse {
        domain: served.domain.as_str(),
        status: "valid",
        proxy_status: Stage::Attached.proxy_status(),
        certificate_arn: &served.certificate_arn,
        not_after: served.not_after.to_string(),
        message: format!(
            "{} is served and renews automatically; see GET /api/domain/status/{} for its renewal",
            served.domain, served.org_id
        ),
    }
}

fn response<'a>(app: &App, order: &'a AcmeOrder) -> StartResponse<'a> {
    let c = &order.challenge;
    let cname = app
        .delegation
        .as_ref()
        .zip(order.delegation_label.as_deref())
        .map(|(zone, label)| zone.target(label));
    let message = match (&cname, order.stage.has_certificate()) {
        (_, true) => format!(
            "{} already has a certificate; call complete-certificate to finish or check it",
            order.domain
        ),
        (Some(target), false) => format!(
            "either add a CNAME record named {} pointing to {target} (once: it also serves every renewal, which then needs nobody), or a TXT record named {} with the value {} (this issuance only); then call complete-certificate",
            c.txt_name, c.txt_name, c.txt_value
        ),
        (None, false) => format!(
            "add a TXT record named {} with the value {}, then call complete-certificate",
            c.txt_name, c.txt_value
        ),
    };
    StartResponse {
        domain: order.domain.as_str(),
        status: stage_name(order),
        proxy_status: order.stage.proxy_status(),
        txt_record_name: &c.txt_name,
        txt_record_value: &c.txt_value,
        cname_record_name: cname.as_ref().map(|_| c.txt_name.as_str()),
        cname_record_value: cname,
        order_url: &order.order_url,
        authorization_url: &c.authorization_url,
        challenge_url: &c.challenge_url,
        finalize_url: &order.finalize_url,
        certificate_arn: order.certificate_arn.as_deref(),
        message,
    }
}

fn stage_name(order: &AcmeOrder) -> &'static str {
    use crate::domain::Stage::*;
    match order.stage {
        AwaitingDns => "pending",
        Validating => "validating",
        Finalizing => "issuing",
        Issued => "issued",
        Imported => "imported",
        Attached => "valid",
        Invalid => "invalid",
    }
}
