//! `DELETE /domains/{domain}`: the caller's tenant releases its hostname.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{json_response, path_param};
use crate::app::App;
use crate::auth;
use crate::domain::DomainName;
use crate::error::Error;
use crate::flows::release_domain::release_domain;

#[derive(Serialize)]
struct Released<'a> {
    domain: &'a str,
    status: &'static str,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = auth::caller(&req, &app.config.tenant_claim)?;
    let domain = DomainName::parse(&path_param(&req, "domain")?)?;
    release_domain(app, &caller, &domain).await?;
    Ok(json_response(
        200,
        &Released {
            domain: domain.as_str(),
            status: "released",
            message: format!("{domain} is released; any tenant may now claim it"),
        },
    ))
}
