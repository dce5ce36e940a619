//! `PATCH /domains/{domain}` with `{"custom_metadata": {...}}`: replaces
//! the platform's metadata on the caller's hostname; `null` removes it.
//!
//! The whole object is replaced, not merged (RFC 7396's merge patch would
//! let two writers leave a mix of both; the platform owns the data and
//! sends all of it). The answer is the hostname with its metadata as now
//! stored. Another tenant's name is `404`, one being released `409`.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use super::{json_body, json_response, path_param};
use crate::app::App;
use crate::auth;
use crate::domain::CustomMetadata;
use crate::error::{Code, Error};
use crate::flows::hostname::metadata;

#[derive(Serialize)]
struct Updated<'a> {
    domain: &'a str,
    custom_metadata: Option<&'a CustomMetadata>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = auth::caller(&req, &app.config.tenant_claim)?;
    let domain = super::held_domain(app, &caller, &path_param(&req, "domain")?).await?;
    // Read as a map, so a missing field is not taken for `null`.
    let mut body: serde_json::Map<String, Value> = json_body(&req)?;
    let value = body.remove("custom_metadata").ok_or_else(|| {
        Error::validation(
            Code::InvalidJson,
            "the body needs `custom_metadata` (an object, or null)",
        )
    })?;
    if let Some(other) = body.keys().next() {
        return Err(Error::validation(
            Code::InvalidJson,
            format!("unknown field `{other}`: only `custom_metadata` can be changed"),
        ));
    }
    let new = match value {
        Value::Null => None,
        v => Some(CustomMetadata::parse(&v)?),
    };
    metadata::set(app, &caller, &domain, new.as_ref()).await?;
    Ok(json_response(
        200,
        &Updated {
            domain: domain.as_str(),
            custom_metadata: new.as_ref(),
        },
    ))
}
