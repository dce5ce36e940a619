//! `GET /operator/usage`: the platform's usage across tenants, for its
//! operators (a token carrying the operator claim: `auth::operator`):
//! each quota with `name`, `used` and `limit`, hostnames by state,
//! certificates due in the next 7 days, renewals failing and overdue
//! certificates (`flows::hostname::usage`).

use lambda_http::{Body, Request, Response};

use super::json_response;
use crate::app::App;
use crate::auth;
use crate::error::Error;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    auth::operator(&req, &app.config.operator)?;
    let usage = crate::flows::hostname::usage::usage(app).await?;
    Ok(json_response(200, &usage))
}
