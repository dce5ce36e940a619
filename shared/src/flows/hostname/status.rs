//! Where a hostname stands, and a tenant's hostnames: read-only views of
//! the hostname aggregate (`domain::HostnameRecords`), each hostname read
//! with one Query on its partition.

use futures_util::stream::{self, StreamExt};

use crate::app::App;
use crate::domain::{DomainName, HostnameRecords, TenantId};
use crate::error::Error;

/// Largest page of the tenant's hostnames.
pub const MAX_PAGE: usize = 100;

/// The ACME path's records of `domain`, for its owner `org`; another
/// tenant's or an unknown hostname is not found (as on the rest of the
/// ACME path, which never tells one tenant what another holds).
pub async fn certificate_status(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
) -> Result<HostnameRecords, Error> {
    let mut records = app.store.load_hostname(domain).await?;
    joining_order(app, domain, &mut records).await?;
    if !records.is_owned_by(org) || records.path() != Some("acme") {
        return Err(Error::NotFound(format!(
            "organisation {org} has no certificate for {domain}"
        )));
    }
    Ok(records)
}

/// A name waiting to join another's certificate is shown that hostname's
/// order, with this name's challenge in front; so is a name served on a
/// certificate it shares, while its lead renews it (each name needs its own
/// TXT record).
pub(crate) async fn joining_order(
    app: &App,
    domain: &DomainName,
    records: &mut HostnameRecords,
) -> Result<(), Error> {
    let renewing_lead = records
        .served
        .as_ref()
        .filter(|s| s.is_shared() && !s.is_lead())
        .map(|s| s.lead().clone());
    if let (None, Some(lead)) = (&records.order, &renewing_lead) {
        records.order = app
            .store
            .load_hostname(lead)
            .await?
            .order
            .filter(|o| {
                o.purpose == crate::domain::Purpose::Renew && o.certificate_names().contains(domain)
            })
            .map(|o| o.as_seen_from(domain));
        return Ok(());
    }
    if let (None, Some(lead)) = (&records.order, &records.order_ref) {
        records.order = app
            .store
            .load_hostname(lead)
            .await?
            .order
            .filter(|o| {
                o.certificate_names().contains(domain)
                    && records
                        .owner
                        .as_ref()
                        .is_some_and(|w| o.belongs_to(&w.tenant_id))
            })
            .map(|o| o.as_seen_from(domain));
    }
    Ok(())
}

/// One page of `tenant`'s hostnames on both paths, each with its records.
pub async fn list_hostnames(
    app: &App,
    tenant: &TenantId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<(DomainName, HostnameRecords)>, Option<String>), Error> {
    let page = app
        .store
        .hostnames_of(tenant, cursor, limit.clamp(1, MAX_PAGE))
        .await?;
    // Released (or taken over) between the index read and the load.
    with_records(app, page, |records| records.is_owned_by(tenant)).await
}

/// A page of every tenant's hostnames with their records (the platform's
/// operators), in name order.
pub async fn list_all_hostnames(
    app: &App,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<(DomainName, HostnameRecords)>, Option<String>), Error> {
    let page = app
        .store
        .all_hostnames(cursor, limit.clamp(1, MAX_PAGE))
        .await?;
    // Released between the index read and the load.
    with_records(app, page, |records| records.owner.is_some()).await
}

/// A page's hostnames with their records (loaded eight at a time), those
/// `keep` keeps, and the page's cursor.
async fn with_records(
    app: &App,
    page: crate::adapters::store::HostnamePage,
    keep: impl Fn(&HostnameRecords) -> bool,
) -> Result<(Vec<(DomainName, HostnameRecords)>, Option<String>), Error> {
    let loaded: Vec<Result<(DomainName, HostnameRecords), Error>> = stream::iter(page.domains)
        .map(|domain| async move {
            let mut records = app.store.load_hostname(&domain).await?;
            joining_order(app, &domain, &mut records).await?;
            Ok((domain, records))
        })
        .buffered(8)
        .collect()
        .await;
    let mut entries = Vec::new();
    for entry in loaded {
        let (domain, records) = entry?;
        if keep(&records) {
            entries.push((domain, records));
        }
    }
    Ok((entries, page.next))
}

/// Whether CloudFront has deployed the served hostname's last change
/// (`None` off CloudFront, or when CloudFront could not be asked: a status
/// read does not fail for it).
pub async fn edge_status(
    app: &App,
    served: Option<&crate::domain::ServedCertificate>,
) -> Option<crate::adapters::cloudfront::Deployment> {
    let served = served?;
    let tenant = served.edge == crate::domain::Edge::CloudfrontTenant;
    match app
        .distributions
        .deployment(&served.distribution_id, &served.domain, tenant)
        .await
    {
        Ok(deployment) => deployment,
        Err(e) => {
            tracing::warn!(domain = %served.domain, error = %e, "could not read the edge's deployment");
            None
        }
    }
}
