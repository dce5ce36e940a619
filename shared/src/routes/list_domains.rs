//! `GET /domains?tenant=<tenant>&limit=<n>&cursor=<cursor>`: the caller's
//! hostnames on both paths, in name order, a page at a time (`limit` 1–100,
//! default 50; `next_cursor` is opaque and `null` on the last page). The
//! `tenant` defaults to the caller; another tenant's list is 403.

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::json_response;
use crate::app::App;
use crate::auth;
use crate::domain::{DomainName, Edge, HostnameRecords, NextAction, TenantId};
use crate::error::Error;
use crate::flows::hostname::status::list_hostnames;

const DEFAULT_PAGE: usize = 50;

#[derive(Serialize)]
struct ListResponse {
    tenant: String,
    domains: Vec<Entry>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct Entry {
    domain: String,
    /// `acme` (Let's Encrypt, DNS-01), `acm` (ACM, CNAME validation) or
    /// `managed` (CloudFront-managed, shared edge); `null` for a bare claim.
    path: Option<&'static str>,
    /// The shared edge's certificate: `acme` or `managed` (`null` on the
    /// ACM path, and for a bare claim).
    certificate: Option<&'static str>,
    /// `cloudfront` or `api_gateway`.
    edge: Option<&'static str>,
    status: &'static str,
    not_after: Option<String>,
    next_action: NextAction,
    /// The platform's own data about the hostname, as last set.
    custom_metadata: Option<crate::domain::CustomMetadata>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = auth::caller(&req, &app.config.tenant_claim)?;
    let query = req.query_string_parameters();
    let tenant = match query.first("tenant") {
        Some(t) => TenantId::parse("tenant", t)?,
        None => caller.clone(),
    };
    auth::require_same_tenant(&caller, &tenant, &format!("tenant {tenant}'s list"))?;
    let limit = super::page_limit(query.first("limit"), DEFAULT_PAGE)?;
    let cursor = query.first("cursor");
    let (entries, next_cursor) = list_hostnames(app, &tenant, cursor, limit).await?;
    Ok(json_response(
        200,
        &ListResponse {
            tenant: tenant.to_string(),
            domains: entries.iter().map(|(d, r)| entry(d, r)).collect(),
            next_cursor,
        },
    ))
}

fn entry(domain: &DomainName, r: &HostnameRecords) -> Entry {
    let (status, next_action) = r.status(domain);
    Entry {
        domain: domain.to_string(),
        path: r.path(),
        certificate: r.path().filter(|p| *p != "acm"),
        edge: r.edge().map(|edge| match edge {
            Edge::CloudfrontTenant => "cloudfront_tenant",
            Edge::Cloudfront => "cloudfront",
            Edge::ApiGateway => "api_gateway",
        }),
        status,
        not_after: r.not_after().map(|t| t.to_string()),
        next_action,
        custom_metadata: r.owner.as_ref().and_then(|o| o.custom_metadata.clone()),
    }
}
