//! `POST /api/domain/start-certificate/{org_id}` with `{"domain": "..."}`,
//! or `{"domains": ["example.com", "www.example.com"]}` for several names
//! on the organisation's own distribution (one certificate covers them).

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::{json_body, json_response, path_param, tenant_domain};
use crate::app::App;
use crate::auth;
use crate::config::CertificateKind;
use crate::domain::{
    AcmeOrder, ChallengeRecord, ClaimProof, CustomMetadata, DomainName, ServedCertificate, Stage,
    TenantId,
};
use crate::error::Code;
use crate::error::Error;
use crate::flows::acme::start::{start_certificate, Started};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainRequest {
    pub domain: String,
}

/// The start body: one name, or several together.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    domain: Option<String>,
    domains: Option<Vec<String>>,
    /// The platform's own data, kept with every name started
    /// (`CustomMetadata`).
    custom_metadata: Option<serde_json::Value>,
    /// `acme` or `managed` (a CloudFront-managed certificate on the shared
    /// edge); default `DEFAULT_CERTIFICATE`.
    certificate: Option<String>,
}

#[derive(Serialize)]
struct StartResponse<'a> {
    domain: &'a str,
    /// Every name the certificate will cover (one, or the organisation's
    /// names on its own distribution).
    domains: Vec<&'a str>,
    /// Every TXT record the tenant must publish, one per name that needs
    /// one (the single `txt_record_*` fields repeat the first).
    records: Vec<TxtRecord<'a>>,
    status: &'a str,
    proxy_status: &'a str,
    txt_record_name: &'a str,
    txt_record_value: &'a str,
    /// The alternative to the TXT record, when the platform has a
    /// delegation zone: `_acme-challenge.<host>` CNAME to a name unique to
    /// this claim. Published once, it serves this and every renewal.
    cname_record_name: Option<&'a str>,
    cname_record_value: Option<String>,
    order_url: &'a str,
    authorization_url: &'a str,
    challenge_url: &'a str,
    finalize_url: &'a str,
    certificate_arn: Option<&'a str>,
    /// The tenant's claim records, one per name whose challenge record
    /// alone could be someone else's (`ClaimProof`): each must answer too
    /// before the CA is asked. `claim_record` repeats the first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    claim_records: Vec<ClaimRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_record: Option<ClaimRecord>,
    message: String,
}

/// A claim record to publish, and why.
#[derive(Clone, Serialize)]
pub(crate) struct ClaimRecord {
    pub domain: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
    pub explanation: &'static str,
}

impl ClaimRecord {
    /// `tenant`'s claim record for `domain`, asked for `why`.
    pub(crate) fn new(domain: &DomainName, tenant: &TenantId, why: ClaimProof) -> Self {
        let (name, value) = crate::flows::hostname::claim::claim_record(domain, tenant);
        Self {
            domain: domain.to_string(),
            name,
            kind: "TXT",
            value,
            reason: why.as_str(),
            explanation: why.reason(),
        }
    }
}

/// The claim records `order` asks of its tenant.
pub(crate) fn claim_records(order: &AcmeOrder) -> Vec<ClaimRecord> {
    order
        .all_challenges()
        .iter()
        .filter_map(|c| Some(ClaimRecord::new(&c.domain, &order.org_id, c.claim_proof?)))
        .collect()
}

#[derive(Serialize)]
struct TxtRecord<'a> {
    domain: &'a str,
    txt_record_name: &'a str,
    txt_record_value: &'a str,
}

/// Most names one start may name (Let's Encrypt's limit per certificate;
/// `CERTIFICATE_MAX_NAMES` is checked by the flow).
const MAX_NAMES: usize = 100;

/// What a start asks for: the names, and the metadata to keep with them.
struct Start {
    org: TenantId,
    names: Vec<DomainName>,
    metadata: Option<CustomMetadata>,
    /// Asked for by name (`None`: the configured default).
    certificate: Option<CertificateKind>,
}

/// Authenticates the caller and reads the names: `domain`, or `domains`
/// (not both; each validated, no repeats), and the metadata.
fn parse_start(app: &App, req: &Request) -> Result<Start, Error> {
    let caller = auth::caller(req, &app.config.tenant_claim)?;
    let org = TenantId::parse("org_id", &path_param(req, "org_id")?)?;
    auth::require_same_tenant(&caller, &org, &format!("organisation {org}"))?;
    let body: StartRequest = json_body(req)?;
    let raw = match (body.domain, body.domains) {
        (Some(one), None) => vec![one],
        (None, Some(many)) if !many.is_empty() && many.len() <= MAX_NAMES => many,
        (None, Some(_)) => {
            return Err(Error::validation(
                Code::InvalidJson,
                format!("`domains` must list between 1 and {MAX_NAMES} hostnames"),
            ))
        }
        _ => {
            return Err(Error::validation(
                Code::InvalidJson,
                "the body needs `domain` (one hostname) or `domains` (several), not both",
            ))
        }
    };
    let mut names = Vec::with_capacity(raw.len());
    for name in &raw {
        let name = tenant_domain(app, name)?;
        if names.contains(&name) {
            return Err(Error::validation(
                Code::InvalidDomain,
                format!("{name} is listed twice"),
            ));
        }
        names.push(name);
    }
    let metadata = body
        .custom_metadata
        .as_ref()
        .map(CustomMetadata::parse)
        .transpose()?;
    let certificate = match body.certificate.as_deref() {
        None => None,
        Some("acme") => Some(CertificateKind::Acme),
        Some("managed") => Some(CertificateKind::Managed),
        Some(other) => {
            return Err(Error::validation(
                Code::InvalidJson,
                format!("`certificate` must be \"acme\" or \"managed\", not {other:?}"),
            ))
        }
    };
    if certificate == Some(CertificateKind::Managed) && names.len() > 1 {
        return Err(Error::validation(
            Code::InvalidJson,
            "a managed certificate covers one hostname: start each name by itself",
        ));
    }
    Ok(Start {
        org,
        names,
        metadata,
        certificate,
    })
}

/// Authenticates the caller, who must be the organisation in the path,
/// and reads the hostname it holds from the body (`routes::held_domain`).
pub(crate) async fn parse(app: &App, req: &Request) -> Result<(TenantId, DomainName), Error> {
    let caller = auth::caller(req, &app.config.tenant_claim)?;
    let org = TenantId::parse("org_id", &path_param(req, "org_id")?)?;
    auth::require_same_tenant(&caller, &org, &format!("organisation {org}"))?;
    let body: DomainRequest = json_body(req)?;
    let domain = super::held_domain(app, &org, &body.domain).await?;
    Ok((org, domain))
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let Start {
        org,
        names,
        metadata,
        certificate,
    } = parse_start(app, &req)?;
    if managed_wanted(app, &org, &names, certificate).await? {
        let record = crate::flows::managed::start(app, &org, &names[0]).await?;
        if let Some(metadata) = &metadata {
            crate::flows::hostname::metadata::set(app, &org, &names[0], Some(metadata)).await?;
        }
        crate::flows::hostname::announce::announce(app, &names[0], None).await;
        let records = app.store.load_hostname(&names[0]).await?;
        return Ok(json_response(
            200,
            &super::managed_view::ManagedView::of(&names[0], &records, &record),
        ));
    }
    let started = start_certificate(app, &org, &names).await?;
    // Kept once the claims are the caller's (a repeated start sets it
    // again).
    if let Some(metadata) = &metadata {
        for name in &names {
            crate::flows::hostname::metadata::set(app, &org, name, Some(metadata)).await?;
        }
    }
    for name in &names {
        crate::flows::hostname::announce::announce(app, name, None).await;
    }
    match started {
        Started::Order(order) => Ok(json_response(200, &response(app, &order))),
        Started::Served(served) => Ok(json_response(200, &served_response(&served))),
    }
}

/// Whether this start is for a managed certificate: asked for by name, or
/// the configured default for one hostname on the shared edge (not a
/// wildcard; one the tenant holds on a path already stays on it).
async fn managed_wanted(
    app: &App,
    org: &TenantId,
    names: &[DomainName],
    asked: Option<CertificateKind>,
) -> Result<bool, Error> {
    match asked {
        Some(kind) => return Ok(kind == CertificateKind::Managed),
        None if names.len() != 1 => return Ok(false),
        None => {}
    }
    let known = app.store.load_hostname(&names[0]).await?;
    if known.is_owned_by(org) && known.path().is_some() {
        return Ok(known.path() == Some("managed"));
    }
    if app.config.default_certificate != CertificateKind::Managed
        || names[0].as_str().starts_with("*.")
    {
        return Ok(false);
    }
    let target = crate::flows::acme::order::edge_for(app, org).await?;
    Ok(!target.own && target.edge == crate::domain::Edge::CloudfrontTenant)
}

#[derive(Serialize)]
struct ServedResponse<'a> {
    domain: &'a str,
    domains: Vec<String>,
    status: &'static str,
    proxy_status: &'static str,
    certificate_arn: &'a str,
    not_after: String,
    message: String,
}

fn served_response(served: &ServedCertificate) -> ServedResponse<'_> {
    ServedResponse {
        domain: served.domain.as_str(),
        domains: served
            .certificate_names()
            .iter()
            .map(|n| n.to_string())
            .collect(),
        status: "valid",
        proxy_status: Stage::Attached.proxy_status(),
        certificate_arn: &served.certificate_arn,
        not_after: served.certificate.not_after.to_string(),
        message: format!(
            "{} is served and renews automatically; see GET /api/domain/status/{} for its renewal",
            served.domain, served.org_id
        ),
    }
}

fn response<'a>(app: &App, order: &'a AcmeOrder) -> StartResponse<'a> {
    let needed: Vec<&ChallengeRecord> =
        std::iter::once((&order.challenge, order.challenge_required))
            .chain(order.challenges.iter().map(|c| (&c.challenge, c.required)))
            .filter(|(_, required)| *required)
            .map(|(c, _)| c)
            .collect();
    let records: Vec<TxtRecord<'a>> =
        std::iter::once((&order.domain, &order.challenge, order.challenge_required))
            .chain(
                order
                    .challenges
                    .iter()
                    .map(|c| (&c.domain, &c.challenge, c.required)),
            )
            .filter(|(_, _, required)| *required)
            .map(|(domain, c, _)| TxtRecord {
                domain: domain.as_str(),
                txt_record_name: &c.txt_name,
                txt_record_value: &c.txt_value,
            })
            .collect();
    let c = needed.first().copied().unwrap_or(&order.challenge);
    let claims = claim_records(order);
    // Delegation is offered for a certificate of one name: a certificate of
    // several is validated with each name's TXT record.
    let cname = app
        .delegation
        .as_ref()
        .zip(order.delegation_label.as_deref())
        .filter(|_| order.names.len() <= 1)
        .map(|(zone, label)| zone.target(label));
    let message = match (&cname, order.stage.has_certificate()) {
        (_, true) => format!(
            "{} already has a certificate; call complete-certificate to finish or check it",
            order.domain
        ),
        (Some(target), false) => format!(
            "either add a CNAME record named {} pointing to {target} (once: it also serves every renewal, which then needs nobody), or a TXT record named {} with the value {} (this issuance only); then call complete-certificate",
            c.txt_name, c.txt_name, c.txt_value
        ),
        (None, false) if records.len() > 1 => format!(
            "add these TXT records: {}; then call complete-certificate",
            records
                .iter()
                .map(|r| format!("{} with the value {}", r.txt_record_name, r.txt_record_value))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (None, false) if records.is_empty() => format!(
            "no DNS record is needed: the names are already proven; call complete-certificate to add {}",
            order.domain
        ),
        (None, false) => format!(
            "add a TXT record named {} with the value {}, then call complete-certificate",
            c.txt_name, c.txt_value
        ),
    };
    let message = match claims.is_empty() || order.stage.has_certificate() {
        true => message,
        false => format!(
            "{message}. Before that, also add {}: your claim records, which only you are given",
            claims
                .iter()
                .map(|r| format!(
                    "a TXT record named {} with the value {} ({})",
                    r.name, r.value, r.explanation
                ))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    };
    StartResponse {
        claim_record: claims.first().cloned(),
        claim_records: claims,
        domain: order.domain.as_str(),
        domains: if order.names.is_empty() {
            vec![order.domain.as_str()]
        } else {
            order.names.iter().map(DomainName::as_str).collect()
        },
        records,
        status: stage_name(order),
        proxy_status: order.stage.proxy_status(),
        txt_record_name: &c.txt_name,
        txt_record_value: &c.txt_value,
        cname_record_name: cname.as_ref().map(|_| c.txt_name.as_str()),
        cname_record_value: cname,
        order_url: &order.order_url,
        authorization_url: &c.authorization_url,
        challenge_url: &c.challenge_url,
        finalize_url: &order.finalize_url,
        certificate_arn: order.certificate_arn.as_deref(),
        message,
    }
}

fn stage_name(order: &AcmeOrder) -> &'static str {
    use crate::domain::Stage::*;
    match order.stage {
        AwaitingDns => "pending",
        Validating => "validating",
        Finalizing => "issuing",
        Issued => "issued",
        Imported => "imported",
        Attached => "valid",
        Invalid => "invalid",
    }
}
