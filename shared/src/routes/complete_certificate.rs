//! `POST /api/domain/complete-certificate/{org_id}` with `{"domain": "..."}`.
//!
//! 200 with `status: "success"` once the hostname is served; 202 with
//! `status: "in_progress"` and the stage reached when the call's time budget
//! ran out (call again to resume); errors in the common error shape.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::json_response;
use super::start_certificate::parse;
use crate::app::App;
use crate::error::Error;
use crate::flows::complete_certificate::{complete_certificate, Progress};

#[derive(Serialize)]
struct CompleteResponse<'a> {
    status: &'static str,
    domain: &'a str,
    proxy_status: &'static str,
    certificate_arn: Option<&'a str>,
    not_after: Option<&'a str>,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let (org, domain) = parse(app, &req)?;
    let (code, status, order) = match complete_certificate(app, &org, &domain).await? {
        Progress::Done(order) => (200, "success", order),
        Progress::InProgress(order) => (202, "in_progress", order),
    };
    let message = if code == 200 {
        format!("{domain} is served over HTTPS by its CloudFront distribution")
    } else {
        format!(
            "{domain} reached {}; call complete-certificate again to continue",
            order.stage.proxy_status()
        )
    };
    Ok(json_response(
        code,
        &CompleteResponse {
            status,
            domain: order.domain.as_str(),
            proxy_status: order.stage.proxy_status(),
            certificate_arn: order.certificate_arn.as_deref(),
            not_after: order.certificate.as_ref().map(|c| c.not_after.as_str()),
            message,
        },
    ))
}
