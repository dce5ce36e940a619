//! Step 1 of the DNS-01 path: an order for the hostname, and the TXT record
//! the tenant must publish.
//!
//! Idempotent: a tenant's order that the CA still holds is answered again
//! (same TXT value, same URLs), and that includes a renewal's order waiting
//! for its TXT record. A new order is placed only for a first request, or
//! when the CA has dropped the old one (invalid, expired, unknown). A
//! hostname that is served and has no order in flight is answered as it
//! stands; nothing is ordered again.

use crate::app::App;
use crate::domain::{
    AcmeOrder, DomainName, Edge, Purpose, ServedCertificate, Stage, TenantId, Timestamp,
};
use crate::error::Error;

pub enum Started {
    /// The order in flight, new or reused.
    Order(Box<AcmeOrder>),
    /// The hostname is served and nothing is in flight.
    Served(Box<ServedCertificate>),
}

pub async fn start_certificate(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
) -> Result<Started, Error> {
    // Where the certificate will be served is settled first: a request that
    // cannot succeed changes nothing, not even the claim.
    let (edge, distribution_id) = edge_for(app, org).await?;

    // A hostname new to this tenant must fit under its pending limit
    // (`TENANT_PENDING_HOSTNAMES`) and takes one of its new-hostname slots
    // (`TENANT_NEW_ORDERS_PER_HOUR`), before anything is claimed or asked
    // of the CA.
    let known = app.store.load_hostname(domain).await?;
    if !known.is_owned_by(org) || (known.order.is_none() && known.served.is_none()) {
        // Nothing is spent on a hostname that cannot be served where it
        // would go. (Another tenant's name is the claim's to refuse first:
        // `domain_taken` says more than the alias that tenant serves.)
        if known.owner.as_ref().is_none_or(|o| &o.tenant_id == org) {
            app.distributions
                .check_servable(&distribution_id, domain, edge == Edge::CloudfrontTenant)
                .await?;
        }
        app.store
            .check_pending(org, app.config.tenant_pending_hostnames)
            .await?;
        app.store
            .take_new_order_slot(org, app.config.tenant_new_orders_per_hour, HOUR)
            .await?;
    }
    crate::flows::claim::claim(app, domain, org).await?;
    let records = app.store.load_hostname(domain).await?;
    let existing = records.order;
    if let Some(order) = &existing {
        if order.stage.has_certificate() {
            return Ok(Started::Order(Box::new(order.clone())));
        }
        if order.stage.order_in_flight() && order_still_usable(app, order).await? {
            tracing::info!(%domain, org = %org, "reusing the pending order");
            return Ok(Started::Order(Box::new(order.clone())));
        }
    }
    if let Some(served) = records.served {
        // Served: renewal orders are the renewals' to place (under their
        // lease and bookkeeping, `flows::renewal`), never start's.
        return Ok(Started::Served(Box::new(served)));
    }
    let new = NewOrder {
        distribution_id: Some(distribution_id),
        edge,
        replacing: existing.as_ref().map(|o| o.version),
        purpose: Purpose::Issue,
        replaces: None,
        delegation_label: records.owner.and_then(|o| o.delegation_label),
    };
    let order = place_order(app, org, domain, new).await?;
    Ok(Started::Order(Box::new(order)))
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Where an organisation's new hostname will be served, in this order of
/// preference: its own distribution (recorded in its settings); a
/// distribution tenant of its own on the multi-tenant distribution
/// (`CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID`, the shared edge, any number
/// of hostnames); the classic shared distribution
/// (`CLOUDFRONT_DISTRIBUTION_ID`, whose one certificate serves one
/// hostname). None of them: 422 `no_distribution`.
pub(crate) async fn edge_for(app: &App, org: &TenantId) -> Result<(Edge, String), Error> {
    if let Some(own) = app.store.org_distribution(org).await? {
        return Ok((Edge::Cloudfront, own));
    }
    if let Some(shared) = &app.config.multi_tenant_distribution_id {
        return Ok((Edge::CloudfrontTenant, shared.clone()));
    }
    match &app.config.default_distribution_id {
        Some(classic) => Ok((Edge::Cloudfront, classic.clone())),
        None => Err(Error::Precondition {
            code: "no_distribution",
            message: format!("no CloudFront distribution is configured for organisation {org}"),
            details: None,
        }),
    }
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
    /// The claim's delegation label.
    pub delegation_label: Option<String>,
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
        delegation_label,
    } = new;
    // The CA's own limits, counted here first (nothing spent past them).
    crate::flows::acme_limits::before_new_order(app, domain, replaces.is_some()).await?;
    let view = app.acme.new_order(domain, replaces).await?;
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
        delegation_label,
        delegated: false,
        delegation_change: None,
        notified_at: None,
        order_url: view.url,
        finalize_url: view.finalize_url,
        challenge: view.challenge,
        distribution_id,
        edge,
        dns_target: None,
        pending_key: None,
        certificate: None,
        import_started: false,
        attach_started: false,
        certificate_arn: None,
        failure: None,
        version: replacing.map_or(0, |v| v + 1),
        created_at: now,
        updated_at: now,
    };
    app.store.insert_order(&order, replacing).await?;
    tracing::info!(%domain, org = %org, order_url = %order.order_url, ?purpose, "placed a new ACME order");
    Ok(order)
}

/// Whether the CA still holds the stored order in a state that can go on.
pub(crate) async fn order_still_usable(app: &App, order: &AcmeOrder) -> Result<bool, Error> {
    let view = app.acme.read_order(&order.order_url, &order.domain).await?;
    Ok(match view {
        None => false,
        Some(v) => v.status != crate::adapters::acme::OrderStatus::Invalid,
    })
}
