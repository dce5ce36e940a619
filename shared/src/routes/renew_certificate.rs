//! `POST /api/domain/renew-certificate/{org_id}` with `{"domain": "..."}`:
//! the owner asks for an immediate renewal of a served hostname.
//!
//! 200 with `status: "success"` once the renewed certificate is served (in
//! the same ACM ARN); 202 with `status: "in_progress"` and the stage reached
//! when the call's time budget ran out, another renewal of the name is under
//! way, or the tenant must publish a new TXT record (named in the answer);
//! call again to continue. 409 `no_certificate` when nothing is served yet;
//! 429 `acme_rate_limited` with `retry_after` when a sixth certificate for
//! the name within 7 days would pass Let's Encrypt's duplicate limit; 422
//! `renewal_refused` when the CA refused (the current certificate stays).

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::json_response;
use super::start_certificate::parse;
use crate::app::App;
use crate::domain::Stage;
use crate::error::Code;
use crate::error::Error;
use crate::flows::acme::renew::{renew_now, Outcome};

#[derive(Serialize, Default)]
struct RenewResponse<'a> {
    status: &'static str,
    domain: &'a str,
    proxy_status: &'static str,
    /// The renewal order's stage (while in progress).
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renew_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    txt_record_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    txt_record_value: Option<&'a str>,
    /// Every TXT record the renewal waits for, one per name of the
    /// certificate (the single fields repeat the first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    records: Vec<crate::domain::NeededRecord>,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let (org, domain) = parse(app, &req).await?;
    let served_status = Stage::Attached.proxy_status();
    Ok(match renew_now(app, &org, &domain).await? {
        Outcome::Renewed(s) => json_response(
            200,
            &RenewResponse {
                status: "success",
                domain: domain.as_str(),
                proxy_status: served_status,
                certificate_arn: Some(&s.certificate_arn),
                serial: Some(&s.certificate.serial),
                not_before: Some(s.certificate.not_before.to_string()),
                not_after: Some(s.certificate.not_after.to_string()),
                renew_after: Some(s.renewal.renew_after.to_string()),
                message: format!("{domain} is served with its renewed certificate"),
                ..Default::default()
            },
        ),
        Outcome::AwaitingDns(o) => json_response(
            202,
            &RenewResponse {
                status: "in_progress",
                domain: domain.as_str(),
                proxy_status: served_status,
                stage: Some(o.stage.proxy_status()),
                txt_record_name: Some(&o.challenge.txt_name),
                txt_record_value: Some(&o.challenge.txt_value),
                records: o.needed_records(),
                message: format!(
                    "add {}, then call renew-certificate again; the current certificate stays served meanwhile",
                    o.needed_records()
                        .iter()
                        .map(|r| format!(
                            "a TXT record named {} with the value {}",
                            r.txt_record_name, r.txt_record_value
                        ))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                ..Default::default()
            },
        ),
        Outcome::InProgress(o) => json_response(
            202,
            &RenewResponse {
                status: "in_progress",
                domain: domain.as_str(),
                proxy_status: served_status,
                stage: Some(o.stage.proxy_status()),
                message: format!(
                    "the renewal reached {}; call renew-certificate again to continue",
                    o.stage.proxy_status()
                ),
                ..Default::default()
            },
        ),
        Outcome::Busy | Outcome::Deferred => json_response(
            202,
            &RenewResponse {
                status: "in_progress",
                domain: domain.as_str(),
                proxy_status: served_status,
                message: "another renewal of this hostname is under way; call again shortly"
                    .to_owned(),
                ..Default::default()
            },
        ),
        Outcome::Failed(o) => {
            return Err(Error::Rejected {
                code: Code::RenewalRefused,
                message: format!(
                    "the certificate authority refused the renewal of {domain} ({}); the current certificate stays served and the renewal is retried later",
                    o.failure.as_deref().unwrap_or("no reason given")
                ),
            })
        }
        Outcome::NotDue => {
            return Err(Error::conflict(
                Code::NoCertificate,
                format!("{domain} has no served certificate to renew"),
            ))
        }
    })
}
