//! Step 1 of the DNS-01 path: an order for the hostname, and the TXT record
//! the tenant must publish.
//!
//! Idempotent: a tenant's order that the CA still holds is answered again
//! (same TXT value, same URLs). A new order is placed only for a first
//! request, or when the CA has dropped the old one (invalid, expired,
//! unknown). A hostname that already has its certificate is answered as it
//! stands; nothing is ordered again.

use instant_acme::OrderStatus;

use crate::adapters::acme;
use crate::app::App;
use crate::domain::{AcmeOrder, DomainName, Stage, TenantId};
use crate::error::Error;
use crate::flows::account::with_account;

pub async fn start_certificate(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
) -> Result<AcmeOrder, Error> {
    // Where the certificate will be served is settled first: a request that
    // cannot succeed changes nothing, not even the claim.
    let distribution_id = match app.store.org_distribution(org).await? {
        Some(d) => d,
        None => app
            .config
            .default_distribution_id
            .clone()
            .ok_or_else(|| Error::Precondition {
                code: "no_distribution",
                message: format!("no CloudFront distribution is configured for organisation {org}"),
                details: None,
            })?,
    };

    app.store.claim(domain, org).await?;
    let existing = app.store.load_order(domain).await?;
    if let Some(order) = &existing {
        if order.stage.has_certificate() {
            return Ok(order.clone());
        }
        if order.stage.order_in_flight() && order_still_usable(app, order).await? {
            tracing::info!(%domain, org = %org, "reusing the pending order");
            return Ok(order.clone());
        }
    }

    let view = with_account(app, |account| async move {
        acme::new_order(&account, domain).await
    })
    .await?;
    let now = crate::now_rfc3339();
    let stage = if view.authorized || view.status == OrderStatus::Ready {
        // The CA reused a valid authorization: there is nothing to publish.
        Stage::Validating
    } else {
        Stage::AwaitingDns
    };
    let order = AcmeOrder {
        domain: domain.clone(),
        org_id: org.clone(),
        stage,
        order_url: view.url,
        finalize_url: view.finalize_url,
        challenge: view.challenge,
        order_expires: view.expires,
        distribution_id: Some(distribution_id),
        pending_key: None,
        certificate: None,
        import_started: false,
        certificate_arn: None,
        failure: None,
        version: existing.as_ref().map_or(0, |o| o.version + 1),
        created_at: now.clone(),
        updated_at: now,
    };
    app.store
        .insert_order(&order, existing.as_ref().map(|o| o.version))
        .await?;
    tracing::info!(%domain, org = %org, order_url = %order.order_url, "placed a new ACME order");
    Ok(order)
}

/// Whether the CA still holds the stored order in a state that can go on.
async fn order_still_usable(app: &App, order: &AcmeOrder) -> Result<bool, Error> {
    let domain = &order.domain;
    let url = order.order_url.clone();
    let view = with_account(app, |account| {
        let url = url.clone();
        async move { acme::read_order(&account, &url, domain).await }
    })
    .await?;
    Ok(match view {
        None => false,
        Some(v) => v.status != OrderStatus::Invalid,
    })
}
