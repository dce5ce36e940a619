//! `POST /operator/hostnames/{domain}/renew`: the platform's operators
//! renew any tenant's served hostname now (a token carrying the operator
//! claim: `auth::operator`), clearing a failing renewal's backoff: a new
//! cycle of attempts starts, as the owner's renew-now starts one. `200`
//! with the outcome (`renewed`, `in_progress`, `awaiting_dns` with the
//! tenant's TXT record, `failed`, `not_due`, `busy`).

use lambda_http::{Body, Request, Response};

use super::{json_response, path_param};
use crate::app::App;
use crate::auth;
use crate::domain::DomainName;
use crate::error::Error;
use crate::flows::acme::renew::operator_renew_now;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let operator = auth::operator(&req, &app.config.operator)?;
    let raw = path_param(&req, "domain")?;
    let lower = raw.trim_end_matches('.').to_ascii_lowercase();
    // Any stored name, as stored (today's parsing rules may refuse an older one).
    let domain = DomainName::parse(&lower).or_else(|_| DomainName::stored(&lower))?;
    tracing::info!(%operator, %domain, "operator renew-now");
    let report = operator_renew_now(app, &domain).await?;
    Ok(json_response(200, &report))
}
