//! `GET /api/domain/status/{org_id}?domain=<host>`: where a hostname on the
//! ACME path stands, for its owner: the served certificate, its renewal
//! (time, basis, ARI window, the renewal under way and the TXT record it
//! needs), and who must act next. Another tenant's or an unknown hostname
//! is 404.

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::{json_response, path_param};
use crate::adapters::cloudfront::Deployment;
use crate::app::App;
use crate::auth;
use crate::domain::{DomainName, HostnameRecords, NextAction, TenantId};
use crate::error::Code;
use crate::error::Error;
use crate::flows::hostname::status::{certificate_status, edge_status};

#[derive(Serialize)]
struct StatusResponse<'a> {
    domain: &'a str,
    /// `acme`: Let's Encrypt over DNS-01, renewed by the product (a
    /// managed certificate answers in `ManagedView`'s shape).
    certificate: &'static str,
    status: &'static str,
    proxy_status: &'static str,
    certificate_arn: Option<&'a str>,
    /// Where the hostname must point, once served.
    dns_target: Option<&'a str>,
    /// `cloudfront` (a distribution) or `cloudfront_tenant` (a distribution
    /// tenant on the multi-tenant distribution).
    edge: Option<crate::domain::Edge>,
    /// Once served: `deploying` while CloudFront is still deploying the
    /// hostname's last change to its edge locations (a few minutes),
    /// `deployed` once it serves it everywhere; null when CloudFront could
    /// not be asked.
    edge_status: Option<Deployment>,
    serial: Option<&'a str>,
    /// Every name the served certificate covers: this one, or all of the
    /// organisation's names on its own distribution (empty until served).
    certificate_names: Vec<String>,
    /// The served certificate's ARI identifier (RFC 9773), if it has one.
    certificate_id: Option<&'a str>,
    not_before: Option<String>,
    not_after: Option<String>,
    renew_after: Option<String>,
    renewal_basis: Option<crate::domain::renewal::RenewalBasis>,
    ari_window: Option<Window>,
    /// `_acme-challenge` delegation: `active` (the CNAME was in place at the
    /// last validation: renewals need nobody), `missing` (the platform has a
    /// delegation zone, the tenant has not pointed at it) or
    /// `not_configured` (the platform has none).
    delegation: &'static str,
    renewal: Option<Renewal<'a>>,
    /// Whether the live hostname points at its edge (null until live).
    dns: Option<super::dns_view::DnsView>,
    next_action: NextAction,
    /// The platform's own data about the hostname, as last set.
    custom_metadata: Option<&'a crate::domain::CustomMetadata>,
}

#[derive(Serialize)]
struct Window {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct Renewal<'a> {
    /// The renewal order's stage, when one is in flight.
    stage: Option<&'static str>,
    txt_record_name: Option<&'a str>,
    txt_record_value: Option<&'a str>,
    /// Every TXT record the renewal waits for: one per name of the
    /// certificate (the single fields repeat the first).
    records: Vec<crate::domain::NeededRecord>,
    failures: u32,
    last_error: Option<&'a str>,
    next_attempt_at: Option<String>,
}

/// Authenticates the caller, who must be the organisation in the path, and
/// reads the hostname from the query.
async fn parse(app: &App, req: &Request) -> Result<(TenantId, DomainName), Error> {
    let caller = auth::caller(req, &app.config.tenant_claim)?;
    let org = TenantId::parse("org_id", &path_param(req, "org_id")?)?;
    auth::require_same_tenant(&caller, &org, &format!("organisation {org}"))?;
    let query = req.query_string_parameters();
    let domain = query.first("domain").ok_or_else(|| {
        Error::validation(Code::MissingParameter, "the query needs ?domain=<hostname>")
    })?;
    let domain = super::held_domain(app, &org, domain).await?;
    Ok((org, domain))
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let (org, domain) = parse(app, &req).await?;
    let known = app.store.load_hostname(&domain).await?;
    if known.is_owned_by(&org) && known.path() == Some("managed") {
        // Moved on as far as it goes without the tenant (CloudFront's
        // verdict read, an issued certificate attached): 202 until served.
        use crate::flows::managed::{advance, Caller};
        let progress = advance(app, &org, &domain, Caller::Status).await?;
        let records = app.store.load_hostname(&domain).await?;
        let mut view = super::managed_view::ManagedView::of(&domain, &records, &progress.record);
        let status = match progress.done() {
            true => {
                view.edge_status =
                    super::complete_certificate::managed_edge_status(app, &progress.record).await;
                200
            }
            false => 202,
        };
        use crate::flows::hostname::announce::{announce_seen, Deployed};
        announce_seen(app, &domain, &records, Deployed::Seen(view.edge_status)).await;
        return Ok(json_response(status, &view));
    }
    let records = certificate_status(app, &org, &domain).await?;
    let delegation = match (&app.delegation, &records.served, &records.order) {
        (None, _, _) => "not_configured",
        (Some(_), Some(s), _) if s.delegated => "active",
        (Some(_), None, Some(o)) if o.delegated => "active",
        (Some(_), _, _) => "missing",
    };
    let dns = super::dns_view::dns_view(&records, app.config.drift_grace);
    let mut body = response(&domain, &records, delegation, dns);
    body.edge_status = edge_status(app, records.served.as_ref()).await;
    // What a status read sees (CloudFront done deploying) may be a change
    // to tell.
    use crate::flows::hostname::announce::{announce_seen, Deployed};
    announce_seen(app, &domain, &records, Deployed::Seen(body.edge_status)).await;
    Ok(json_response(200, &body))
}

fn response<'a>(
    domain: &'a DomainName,
    r: &'a HostnameRecords,
    delegation: &'static str,
    dns: Option<super::dns_view::DnsView>,
) -> StatusResponse<'a> {
    let served = r.served.as_ref();
    let renewing = r.order.as_ref().filter(|_| served.is_some());
    let renewal = served.map(|s| {
        let awaiting = renewing.filter(|o| o.stage == crate::domain::Stage::AwaitingDns);
        Renewal {
            stage: renewing.map(|o| o.stage.proxy_status()),
            txt_record_name: awaiting.map(|o| o.challenge.txt_name.as_str()),
            txt_record_value: awaiting.map(|o| o.challenge.txt_value.as_str()),
            records: awaiting.map(|o| o.needed_records()).unwrap_or_default(),
            failures: s.renewal.failures,
            last_error: s.renewal.last_error.as_deref(),
            next_attempt_at: s.renewal.due_at().map(|t| t.to_string()),
        }
    });
    StatusResponse {
        domain: domain.as_str(),
        certificate: "acme",
        status: r.acme_status(),
        proxy_status: r.proxy_status(),
        certificate_arn: served.map(|s| s.certificate_arn.as_str()),
        dns_target: served.and_then(|s| s.dns_target.as_deref()),
        edge: served.map(|s| s.edge).or(r.order.as_ref().map(|o| o.edge)),
        edge_status: None,
        serial: served.map(|s| s.certificate.serial.as_str()),
        certificate_names: served
            .map(|s| {
                s.certificate_names()
                    .iter()
                    .map(|n| n.to_string())
                    .collect()
            })
            .unwrap_or_default(),
        certificate_id: served.and_then(|s| s.ari_id.as_deref()),
        not_before: served.map(|s| s.certificate.not_before.to_string()),
        not_after: served.map(|s| s.certificate.not_after.to_string()),
        renew_after: served.map(|s| s.renewal.renew_after.to_string()),
        renewal_basis: served.map(|s| s.renewal.basis),
        ari_window: served.and_then(|s| s.renewal.window).map(|w| Window {
            start: w.start.to_string(),
            end: w.end.to_string(),
        }),
        delegation,
        renewal,
        dns,
        next_action: r.next_action(domain),
        custom_metadata: r.owner.as_ref().and_then(|o| o.custom_metadata.as_ref()),
    }
}
