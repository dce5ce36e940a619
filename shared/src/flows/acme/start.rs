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
use crate::domain::{AcmeOrder, DomainName, Edge, Purpose, ServedCertificate, Stage, TenantId};
use crate::error::Code;
use crate::error::Error;
use crate::flows::acme::order::{edge_for, order_still_usable, place_order, NewOrder, Target};

pub enum Started {
    /// The order in flight, new or reused.
    Order(Box<AcmeOrder>),
    /// The hostname is served and nothing is in flight.
    Served(Box<ServedCertificate>),
}

/// Starts (or answers again) the order for `names`: one hostname on any
/// edge, or several together on the organisation's own distribution, whose
/// one certificate covers them all.
#[tracing::instrument(
    name = "start_certificate",
    skip_all,
    fields(domain = %names.first().map(DomainName::as_str).unwrap_or_default(), tenant = %org)
)]
pub async fn start_certificate(
    app: &App,
    org: &TenantId,
    names: &[DomainName],
) -> Result<Started, Error> {
    // A slow CA never holds the call past its budget.
    let deadline =
        tokio::time::Instant::now() + app.config.time_budget + crate::flows::acme::driver::CA_GRACE;
    crate::adapters::acme::within(deadline, Box::pin(start_names(app, org, names))).await
}

async fn start_names(app: &App, org: &TenantId, names: &[DomainName]) -> Result<Started, Error> {
    // Where the certificate will be served is settled first: a request that
    // cannot succeed changes nothing, not even the claim.
    let target = edge_for(app, org).await?;
    let [first, ..] = names else {
        return Err(Error::validation(
            Code::InvalidJson,
            "name at least one hostname",
        ));
    };
    if target.own {
        return start_on_own_distribution(app, org, names, target).await;
    }
    if names.len() > 1 {
        return Err(Error::Precondition {
            code: Code::SeveralNamesNeedOwnDistribution,
            message: format!(
                "organisation {org} has no distribution of its own, and on the shared edge each hostname has a certificate of its own: start each name by itself"
            ),
            details: None,
        });
    }
    start_one(app, org, first, target).await
}

/// One hostname, with a certificate of its own.
async fn start_one(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
    target: Target,
) -> Result<Started, Error> {
    let known = app.store.load_hostname(domain).await?;
    let slot_taken = before_claim(app, org, domain, &known, &target, &[]).await?;
    crate::flows::hostname::claim::claim(app, domain, org).await?;
    let records = app.store.load_hostname(domain).await?;
    let mut existing = records.order;
    // A certificate of several names CloudFront refused, asked for now
    // with this name alone: that order ends (`flows::acme::refused`).
    if let Some(refused) = existing
        .as_ref()
        .filter(|o| o.attach_refused() && o.certificate_names() != [domain.clone()])
    {
        crate::flows::acme::refused::end_refused(app, refused, records.served.as_ref()).await?;
        existing = None;
    }
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
        // lease and bookkeeping, `flows::acme::renew`), never start's.
        return Ok(Started::Served(Box::new(served)));
    }
    if !slot_taken {
        take_order_slot(app, org).await?;
    }
    let new = NewOrder {
        distribution_id: Some(target.distribution_id),
        edge: target.edge,
        replacing: existing.as_ref().map(|o| o.version),
        purpose: Purpose::Issue,
        replaces: None,
        profile: app.config.acme_profile.clone(),
        delegation_label: records.owner.and_then(|o| o.delegation_label),
        names: Vec::new(),
        on_certificate: Vec::new(),
    };
    let order = place_order(app, org, domain, new).await?;
    Ok(Started::Order(Box::new(order)))
}

/// A hostname new to this tenant must be servable where it goes, fit under
/// its pending limit (`TENANT_PENDING_HOSTNAMES`) and takes one of its
/// order slots (`TENANT_NEW_ORDERS_PER_HOUR`), before anything is claimed
/// or asked of the CA. `covered` are the other names the certificate will
/// cover (aliases the distribution may keep). Answers whether it took a
/// slot: a new order for a name the tenant holds already takes one too
/// ([`take_order_slot`]), so a tenant that lets its orders fail and orders
/// again spends its own slots, not the shared account's 300 orders per 3
/// hours.
async fn before_claim(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
    known: &crate::domain::HostnameRecords,
    target: &Target,
    covered: &[DomainName],
) -> Result<bool, Error> {
    if known.is_owned_by(org) && (known.order.is_some() || known.served.is_some()) {
        return Ok(false);
    }
    // Nothing is spent on a hostname that cannot be served where it would
    // go. (Another tenant's name is the claim's to refuse first:
    // `domain_taken` says more than the alias that tenant serves.)
    if known.owner.as_ref().is_none_or(|o| &o.tenant_id == org) {
        app.distributions
            .check_servable(
                &target.distribution_id,
                domain,
                target.edge == Edge::CloudfrontTenant,
                covered,
                target.aliases.as_deref(),
            )
            .await?;
    }
    app.store
        .check_pending(org, app.config.tenant_pending_hostnames)
        .await?;
    // A hostname of its own certificate (not a name joining one): room in
    // AWS's quotas for it, renewals' room kept.
    if covered.is_empty() {
        let kind = match target.edge {
            Edge::CloudfrontTenant => crate::domain::quota::NewHostname::AcmeOnSharedEdge,
            _ => crate::domain::quota::NewHostname::AcmeOnDistribution,
        };
        crate::flows::quota::check_new(app, kind).await?;
    }
    take_order_slot(app, org).await?;
    Ok(true)
}

/// One of the tenant's order slots (`TENANT_NEW_ORDERS_PER_HOUR`).
async fn take_order_slot(app: &App, org: &TenantId) -> Result<(), Error> {
    app.store
        .take_new_order_slot(org, app.config.tenant_new_orders_per_hour, HOUR)
        .await
}

/// Names on the organisation's own distribution: one certificate covers
/// every hostname the organisation serves there. Adding names orders a
/// certificate for the names already served plus the new ones, under the
/// hostname that carries the certificate (its lead), re-imported into the
/// same ACM ARN; every name that needs a DNS record is listed.
async fn start_on_own_distribution(
    app: &App,
    org: &TenantId,
    names: &[DomainName],
    mut target: Target,
) -> Result<Started, Error> {
    let aliases = app.distributions.aliases(&target.distribution_id).await?;
    let group = certificate_on(app, org, &target.distribution_id, &aliases).await?;
    target.aliases = Some(aliases);
    let on_certificate = group
        .as_ref()
        .map(ServedCertificate::certificate_names)
        .unwrap_or_default();
    let new: Vec<DomainName> = names
        .iter()
        .filter(|n| !on_certificate.contains(n))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // The certificate's orders live under its lead: the first of its names.
    let lead = match &group {
        Some(served) => served.lead().clone(),
        None if names.len() == 1 => return start_one(app, org, &names[0], target).await,
        None => names
            .iter()
            .min()
            .cloned()
            .unwrap_or_else(|| names[0].clone()),
    };
    let records = app.store.load_hostname(&lead).await?;
    // An order in flight for the certificate: answered again when it covers
    // the names asked for; replaced by one for more names while it still
    // waits for DNS records (or was refused); else the change waits for it.
    if let Some(order) = &records.order {
        let covers = order.certificate_names();
        // One CloudFront refused is answered again only when asked for the
        // same names; other names end it.
        let usable = match order.attach_refused() {
            true => {
                let asked: std::collections::BTreeSet<&DomainName> = names.iter().collect();
                asked == covers.iter().collect()
            }
            false => {
                order.stage.has_certificate()
                    || (order.stage.order_in_flight() && order_still_usable(app, order).await?)
            }
        };
        if names.iter().all(|n| covers.contains(n)) && usable {
            return Ok(Started::Order(Box::new(order.clone())));
        }
        end_or_refuse(app, order, &lead).await?;
    }
    if new.is_empty() {
        if let Some(served) = group {
            return Ok(Started::Served(Box::new(served)));
        }
    }
    for name in on_certificate.iter().filter(|n| **n != lead) {
        if app.store.load_hostname(name).await?.is_releasing() {
            return Err(crate::flows::hostname::release::releasing(name));
        }
    }
    let mut all: Vec<DomainName> = vec![lead.clone()];
    all.extend(on_certificate.iter().filter(|n| **n != lead).cloned());
    all.extend(new.iter().filter(|n| **n != lead).cloned());
    if all.len() > app.config.certificate_max_names {
        return Err(Error::Precondition {
            code: Code::TooManyNames,
            message: format!(
                "one certificate may cover at most {} names here (CERTIFICATE_MAX_NAMES; ACM allows 10 by default, Let's Encrypt 100), and these would make {}",
                app.config.certificate_max_names,
                all.len()
            ),
            details: None,
        });
    }
    // The organisation's first certificate: room for its import and its
    // renewals (names joining a served certificate re-import into its ARN).
    if group.is_none() && !new.is_empty() {
        crate::flows::quota::check_new(app, crate::domain::quota::NewHostname::AcmeOnDistribution)
            .await?;
    }
    let mut slots_taken = false;
    for name in &new {
        let known = app.store.load_hostname(name).await?;
        if known.is_releasing() {
            return Err(crate::flows::hostname::release::releasing(name));
        }
        // A name joins one order at a time: its own earlier order, or
        // another certificate's, ends first if nothing was validated yet.
        if name != &lead && known.is_owned_by(org) {
            if let Some(order) = &known.order {
                end_or_refuse(app, order, name).await?;
            }
            if let Some(other) = known.order_ref.as_ref().filter(|l| **l != lead) {
                if let Some(order) = app.store.load_hostname(other).await?.order {
                    end_or_refuse(app, &order, other).await?;
                }
            }
        }
        slots_taken |= before_claim(app, org, name, &known, &target, &all).await?;
    }
    if !slots_taken {
        take_order_slot(app, org).await?;
    }
    for name in &new {
        crate::flows::hostname::claim::claim(app, name, org).await?;
    }
    let records = app.store.load_hostname(&lead).await?;
    let new_order = NewOrder {
        distribution_id: Some(target.distribution_id),
        edge: target.edge,
        replacing: None,
        purpose: match group {
            Some(_) => Purpose::Extend,
            None => Purpose::Issue,
        },
        replaces: None,
        // Names added to a served certificate keep its profile.
        profile: group
            .as_ref()
            .map(|s| s.profile.clone())
            .unwrap_or_else(|| app.config.acme_profile.clone()),
        delegation_label: records.owner.and_then(|o| o.delegation_label),
        names: all,
        on_certificate,
    };
    let order = place_order(app, org, &lead, new_order).await?;
    Ok(Started::Order(Box::new(order)))
}

/// Ends `order` (under `holder`) if nothing of it was validated yet (still
/// waiting for DNS records, or refused by the CA), or if CloudFront refused
/// its certificate at attach (`flows::acme::refused`: the served
/// certificate put back, or the imported one deleted); otherwise a new
/// order for its names must wait: `409 certificate_change_in_flight`.
async fn end_or_refuse(app: &App, order: &AcmeOrder, holder: &DomainName) -> Result<(), Error> {
    if order.attach_refused() {
        let served = app.store.load_hostname(&order.domain).await?.served;
        return crate::flows::acme::refused::end_refused(app, order, served.as_ref()).await;
    }
    if matches!(order.stage, Stage::AwaitingDns | Stage::Invalid) {
        tracing::info!(domain = %holder, "ending an order that waited for DNS, for one with more names");
        return app.store.cancel_order(order).await;
    }
    Err(Error::conflict(
        Code::CertificateChangeInFlight,
        format!(
            "{holder} has an order in flight for {} ({}); finish it with complete-certificate before changing the names",
            order
                .certificate_names()
                .iter()
                .map(DomainName::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            order.stage.proxy_status()
        ),
    ))
}

/// The certificate the organisation serves on its own distribution (its
/// lead's copy), if any: found from the distribution's `aliases`.
async fn certificate_on(
    app: &App,
    org: &TenantId,
    distribution_id: &str,
    aliases: &[String],
) -> Result<Option<ServedCertificate>, Error> {
    for alias in aliases {
        let Ok(name) = DomainName::parse(alias) else {
            continue;
        };
        let served = app.store.load_hostname(&name).await?.served;
        if let Some(served) =
            served.filter(|s| s.belongs_to(org) && s.distribution_id == distribution_id)
        {
            if served.is_lead() {
                return Ok(Some(served));
            }
            let lead = app.store.load_hostname(served.lead()).await?.served;
            return Ok(lead.or(Some(served)));
        }
    }
    Ok(None)
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
