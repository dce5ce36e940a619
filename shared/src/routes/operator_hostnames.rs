//! `GET /operator/hostnames?status=&path=&limit=&cursor=`: every tenant's
//! hostnames, for the platform's operators (a token carrying the operator
//! claim: `auth::operator`), in name order, a page at a time, read through
//! the `Hostnames` index (no Scan). `status` and `path` keep the page's
//! hostnames that match (a page may then hold fewer than `limit`; follow
//! `next_cursor` to the end).

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::json_response;
use crate::app::App;
use crate::auth;
use crate::domain::{CustomMetadata, DomainName, HostnameRecords, NextAction};
use crate::error::{Code, Error};
use crate::flows::hostname::announce::edge_name;
use crate::flows::hostname::status::list_all_hostnames;

const DEFAULT_PAGE: usize = 50;

#[derive(Serialize)]
struct OperatorList {
    hostnames: Vec<Entry>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct Entry {
    domain: String,
    tenant_id: Option<String>,
    status: &'static str,
    path: Option<&'static str>,
    edge: Option<&'static str>,
    not_after: Option<String>,
    next_action: NextAction,
    custom_metadata: Option<CustomMetadata>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    auth::operator(&req, &app.config.operator)?;
    let query = req.query_string_parameters();
    let limit = super::page_limit(query.first("limit"), DEFAULT_PAGE)?;
    let status = query.first("status");
    let path = match query.first("path") {
        None => None,
        Some(p @ ("acme" | "acm" | "managed")) => Some(p),
        Some(other) => {
            return Err(Error::validation(
                Code::InvalidJson,
                format!("path must be acme, acm or managed, not {other:?}"),
            ))
        }
    };
    let (entries, next_cursor) = list_all_hostnames(app, query.first("cursor"), limit).await?;
    let hostnames = entries
        .iter()
        .map(|(d, r)| entry(d, r))
        .filter(|e| status.is_none_or(|s| e.status == s))
        .filter(|e| path.is_none_or(|p| e.path == Some(p)))
        .collect();
    Ok(json_response(
        200,
        &OperatorList {
            hostnames,
            next_cursor,
        },
    ))
}

fn entry(domain: &DomainName, r: &HostnameRecords) -> Entry {
    let (status, next_action) = r.status(domain);
    let owner = r.owner.as_ref();
    Entry {
        domain: domain.to_string(),
        tenant_id: owner.map(|o| o.tenant_id.to_string()),
        status,
        path: r.path(),
        edge: r.edge().map(edge_name),
        not_after: r.not_after().map(|t| t.to_string()),
        next_action,
        custom_metadata: owner.and_then(|o| o.custom_metadata.clone()),
    }
}
