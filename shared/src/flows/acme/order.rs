//! Placing an order: where an organisation's hostnames are served
//! ([`edge_for`]), a new ACME order at the CA and in the store
//! ([`place_order`]), and whether the CA still holds a stored one
//! ([`order_still_usable`]). Start-certificate places first issuances and
//! added names; the renewals place renewal orders; the order driver
//! re-targets an order to the organisation's current edge.

use crate::adapters::store::PendingPlace;
use crate::app::App;
use crate::domain::{
    AcmeOrder, ChallengeRecord, ClaimProof, DomainName, Edge, NameChallenge, Purpose, Stage,
    TenantId, Timestamp,
};
use crate::error::Code;
use crate::error::Error;

/// Where an organisation's new hostname will be served, in this order of
/// preference: its own distribution (recorded in its settings); a
/// distribution tenant of its own on the multi-tenant distribution
/// (`CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID`, the shared edge, any number
/// of hostnames); the classic shared distribution
/// (`CLOUDFRONT_DISTRIBUTION_ID`, whose one certificate serves one
/// hostname). None of them: 422 `no_distribution`.
pub(crate) async fn edge_for(app: &App, org: &TenantId) -> Result<Target, Error> {
    let target = |edge, distribution_id: &String, own| Target {
        edge,
        distribution_id: distribution_id.clone(),
        own,
        aliases: None,
    };
    if let Some(own) = app.store.org_distribution(org).await? {
        return Ok(target(Edge::Cloudfront, &own, true));
    }
    if let Some(shared) = &app.config.multi_tenant_distribution_id {
        return Ok(target(Edge::CloudfrontTenant, shared, false));
    }
    match &app.config.default_distribution_id {
        Some(classic) => Ok(target(Edge::Cloudfront, classic, false)),
        None => Err(Error::Precondition {
            code: Code::NoDistribution,
            message: format!("no CloudFront distribution is configured for organisation {org}"),
            details: None,
        }),
    }
}

/// Where an organisation's hostnames are served.
pub(crate) struct Target {
    pub edge: Edge,
    pub distribution_id: String,
    /// The organisation's own distribution (several names may share its
    /// certificate).
    pub own: bool,
    /// The distribution's aliases, when this call has read them already.
    pub aliases: Option<Vec<String>>,
}

/// What a new order is for.
pub(crate) struct NewOrder<'a> {
    pub distribution_id: Option<String>,
    pub edge: Edge,
    /// The version of the stored order this one replaces (an invalid or
    /// expired one).
    pub replacing: Option<u64>,
    pub purpose: Purpose,
    /// The ARI identifier of the certificate a renewal replaces.
    pub replaces: Option<&'a str>,
    /// The ACME profile to ask for (`None`: the CA's default).
    pub profile: Option<String>,
    /// The claim's delegation label.
    pub delegation_label: Option<String>,
    /// Every name the certificate will cover, the order's hostname first,
    /// when it is more than that one (empty otherwise).
    pub names: Vec<DomainName>,
    /// The names already on the served certificate: a valid authorization
    /// the CA reused is proof enough for them (their owner proved control
    /// before); a new name is always proved by its own record.
    pub on_certificate: Vec<DomainName>,
}

/// Places a new order at the CA and stores it (claiming the hostname in the
/// same transaction).
pub(crate) async fn place_order(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
    new: NewOrder<'_>,
) -> Result<AcmeOrder, Error> {
    let NewOrder {
        distribution_id,
        edge,
        replacing,
        purpose,
        replaces,
        profile,
        delegation_label,
        names,
        on_certificate,
    } = new;
    // A first issuance holds one of the tenant's pending places from here
    // on, taken before anything is counted or asked of the CA: of starts
    // racing each other, those past the limit stop here.
    let place = match purpose {
        Purpose::Issue => PendingPlace::Takes {
            limit: app.config.tenant_pending_hostnames,
        },
        Purpose::Renew | Purpose::Extend => PendingPlace::NotPending,
    };
    app.store.take_pending_place(org, domain, place).await?;
    // The CA's own limits, counted here first (nothing spent past them).
    crate::flows::acme::limits::before_new_order(app, domain, replaces.is_some()).await?;
    let identifiers = match names.is_empty() {
        true => vec![domain.clone()],
        false => names.clone(),
    };
    let view = app
        .acme
        .new_order(&identifiers, replaces, profile.as_deref())
        .await?;
    let required =
        |name: &DomainName, authorized: bool| !(authorized && on_certificate.contains(name));
    let mut challenges = Vec::new();
    let mut claim_proof = None;
    for a in &view.authorizations {
        // A renewal's names, and those already on the certificate, were
        // proven by their owner before.
        let proof = match purpose == Purpose::Renew || on_certificate.contains(&a.domain) {
            true => None,
            false => claim_proof_needed(app, org, &a.domain, a.authorized, &a.challenge).await?,
        };
        if &a.domain == domain {
            claim_proof = proof;
            continue;
        }
        challenges.push(NameChallenge {
            domain: a.domain.clone(),
            challenge: a.challenge.clone(),
            required: required(&a.domain, a.authorized),
            claim_proof: proof,
        });
    }
    let now = Timestamp::now();
    // Even when the CA reused a valid authorization (one ACME account
    // serves every tenant), this tenant proves control of the name with its
    // own DNS record before anything is issued: the order starts at
    // AwaitingDns whatever the CA says.
    let stage = Stage::AwaitingDns;
    let order = AcmeOrder {
        domain: domain.clone(),
        org_id: org.clone(),
        stage,
        purpose,
        replaces: view.replaces,
        // What the CA echoed, or what was asked (a CA may not echo it).
        profile: view.profile.or(profile),
        delegation_label,
        delegated: false,
        delegation_change: None,
        notified_at: None,
        order_url: view.url,
        finalize_url: view.finalize_url,
        challenge: view.challenge,
        challenge_required: required(domain, view.authorized),
        claim_proof,
        challenges,
        names: names.clone(),
        distribution_id,
        edge,
        dns_target: None,
        pending_key: None,
        certificate: None,
        import_started: false,
        imported_at: None,
        attach_started: false,
        certificate_arn: None,
        failure: None,
        version: replacing.map_or(0, |v| v + 1),
        created_at: now,
        updated_at: now,
    };
    let joining: Vec<DomainName> = names
        .iter()
        .filter(|n| *n != domain && !on_certificate.contains(n))
        .cloned()
        .collect();
    app.store
        .insert_order(&order, replacing, &joining, place)
        .await?;
    tracing::info!(%domain, org = %org, order_url = %order.order_url, ?purpose, "placed a new ACME order");
    Ok(order)
}

/// Whether `org` must also publish its claim record for `name`, whose
/// challenge record alone could have come from someone else: another
/// tenant claimed the name within 30 days (the CA may hand back that
/// claim's order or authorization), the CA reports the authorization valid
/// already, or the TXT value asked for answers before anyone was shown it.
/// Never when `org`'s claim is proven already: it proved control itself
/// (with its claim record, had one been asked for), and the CA's valid
/// authorization is then its own.
async fn claim_proof_needed(
    app: &App,
    org: &TenantId,
    name: &DomainName,
    authorized: bool,
    challenge: &ChallengeRecord,
) -> Result<Option<ClaimProof>, Error> {
    let records = app.store.load_hostname(name).await?;
    if records
        .owner
        .as_ref()
        .is_some_and(|o| &o.tenant_id == org && o.proven_at.is_some())
    {
        return Ok(None);
    }
    if records
        .previous
        .is_some_and(|p| p.asks_proof_of(org, Timestamp::now()))
    {
        return Ok(Some(ClaimProof::RecentClaimant));
    }
    if authorized {
        return Ok(Some(ClaimProof::AuthorizationReused));
    }
    let deadline = tokio::time::Instant::now() + FIRST_LOOK;
    let seen = app.dns.observe(&challenge.txt_name, deadline).await;
    Ok((crate::adapters::dns::presence(&seen, &challenge.txt_value)
        != crate::adapters::dns::Presence::Missing)
        .then_some(ClaimProof::RecordAlreadyAnswers))
}

/// How long a new order's first look at its TXT record may take.
const FIRST_LOOK: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether the CA still holds the stored order in a state that can go on.
pub(crate) async fn order_still_usable(app: &App, order: &AcmeOrder) -> Result<bool, Error> {
    let status = app.acme.order_status(&order.order_url).await?;
    Ok(status.is_some_and(|s| s != crate::adapters::acme::OrderStatus::Invalid))
}
