//! `POST /api/domain/complete-certificate/{org_id}` with `{"domain": "..."}`.
//!
//! 200 with `status: "success"` once the hostname is served; 202 with
//! `status: "in_progress"` and the stage reached when the call's time budget
//! ran out (call again to resume); errors in the common error shape.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::json_response;
use super::start_certificate::parse;
use crate::adapters::cloudfront::Deployment;
use crate::app::App;
use crate::domain::Stage;
use crate::error::Error;
use crate::flows::acme::complete::{complete_certificate, Progress};
use crate::flows::hostname::announce::announce;
use crate::flows::hostname::status::edge_status;

#[derive(Serialize)]
struct CompleteResponse<'a> {
    status: &'static str,
    domain: &'a str,
    proxy_status: &'static str,
    certificate_arn: Option<&'a str>,
    not_after: Option<String>,
    /// Once served: where the tenant points the hostname (a CNAME target,
    /// or its DNS host's ALIAS for an apex).
    dns_target: Option<&'a str>,
    /// Once served: `deploying` while CloudFront deploys the change to its
    /// edge locations (a few minutes), then `deployed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    edge_status: Option<Deployment>,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let (org, domain) = parse(app, &req).await?;
    if let Some(answer) = managed(app, &org, &domain).await? {
        return Ok(answer);
    }
    let progress = complete_certificate(app, &org, &domain).await?;
    let deployment = match &progress {
        Progress::Done(served) => edge_status(app, Some(served)).await,
        Progress::InProgress(_) => None,
    };
    // Done: validated, issued (and maybe active) to tell. A call that
    // stops short tells them at the next that finishes, or a status read.
    if matches!(progress, Progress::Done(_)) {
        announce(app, &domain, deployment).await;
    }
    Ok(match progress {
        Progress::Done(served) => {
            let deploying = match deployment {
                Some(Deployment::Deploying) => {
                    " (CloudFront is deploying it to its edge locations: expect a few minutes)"
                }
                _ => "",
            };
            json_response(
            200,
            &CompleteResponse {
                status: "success",
                domain: served.domain.as_str(),
                proxy_status: Stage::Attached.proxy_status(),
                certificate_arn: Some(&served.certificate_arn),
                not_after: Some(served.certificate.not_after.to_string()),
                dns_target: served.dns_target.as_deref(),
                edge_status: deployment,
                message: match (&served.dns_target, served.edge) {
                    (Some(target), crate::domain::Edge::CloudfrontTenant) => format!(
                        "{domain} is served over HTTPS by its own CloudFront distribution tenant{deploying}: point it at {target} with a CNAME record (or your DNS host's ALIAS for an apex)"
                    ),
                    (Some(target), _) => format!(
                        "{domain} is served over HTTPS by its CloudFront distribution{deploying}: point it at {target} with a CNAME record (or your DNS host's ALIAS for an apex)"
                    ),
                    (None, _) => format!("{domain} is served over HTTPS by its CloudFront distribution{deploying}"),
                },
            },
        )
        }
        Progress::InProgress(order) => json_response(
            202,
            &CompleteResponse {
                status: "in_progress",
                domain: order.domain.as_str(),
                proxy_status: order.stage.proxy_status(),
                certificate_arn: order.certificate_arn.as_deref(),
                not_after: order.certificate.as_ref().map(|c| c.not_after.to_string()),
                dns_target: None,
                edge_status: None,
                message: format!(
                    "{domain} reached {}; call complete-certificate again to continue",
                    order.stage.proxy_status()
                ),
            },
        ),
    })
}

/// A hostname on a CloudFront-managed certificate (not a hand-off still
/// serving its ACME certificate): moved on (`flows::managed::advance`);
/// 202 until the certificate is attached, then 200 `SSL_VALIDATED`, as the
/// ACME path answers. What the tenant must do first is the error.
async fn managed(
    app: &App,
    org: &crate::domain::TenantId,
    domain: &crate::domain::DomainName,
) -> Result<Option<Response<Body>>, Error> {
    let records = app.store.load_hostname(domain).await?;
    if records.path() != Some("managed") {
        return Ok(None);
    }
    let progress =
        crate::flows::managed::advance(app, org, domain, crate::flows::managed::Caller::Tenant)
            .await?;
    announce(app, domain, None).await;
    if let Some(why) = progress.waiting_for {
        return Err(why);
    }
    let records = app.store.load_hostname(domain).await?;
    let mut view = super::managed_view::ManagedView::of(domain, &records, &progress.record);
    let status = match progress.done() {
        true => {
            view.edge_status = managed_edge_status(app, &progress.record).await;
            200
        }
        false => 202,
    };
    Ok(Some(json_response(status, &view)))
}

/// Whether CloudFront has deployed the managed hostname's tenant.
pub(crate) async fn managed_edge_status(
    app: &App,
    m: &crate::domain::ManagedCertificate,
) -> Option<Deployment> {
    match app
        .distributions
        .deployment(&m.distribution_id, &m.domain, true)
        .await
    {
        Ok(deployment) => deployment,
        Err(e) => {
            tracing::warn!(domain = %m.domain, error = %e, "could not read the edge's deployment");
            None
        }
    }
}
