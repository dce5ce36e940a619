//! `DELETE /domains/{domain}`: the caller's tenant releases its hostname.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{json_response, path_param};
use crate::app::App;
use crate::auth;
use crate::domain::ReleaseStep;
use crate::error::Error;
use crate::flows::hostname::release::release_domain;

#[derive(Serialize)]
struct Released<'a> {
    domain: &'a str,
    /// `released`, or `releasing` while steps remain (call again).
    status: &'static str,
    /// The release's steps done so far.
    removed: &'a [ReleaseStep],
    /// The steps still to do.
    remaining: &'a [ReleaseStep],
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = auth::caller(&req, &app.config.tenant_claim)?;
    let domain = super::held_domain(app, &caller, &path_param(&req, "domain")?).await?;
    let release = release_domain(app, &caller, &domain).await?;
    let (code, status, message) = if release.done() {
        (
            200,
            "released",
            format!("{domain} is released; any tenant may now claim it"),
        )
    } else {
        (
            202,
            "releasing",
            format!(
                "{domain} is being released ({} still to do); call again to continue",
                release
                    .remaining
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    Ok(json_response(
        code,
        &Released {
            domain: domain.as_str(),
            status,
            removed: &release.removed,
            remaining: &release.remaining,
            message,
        },
    ))
}
