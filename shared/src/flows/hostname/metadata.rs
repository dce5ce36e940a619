//! The platform's own data about a hostname (`custom_metadata`): set by
//! a start or an ACM request that carries it, replaced by
//! `PATCH /domains/{domain}`, returned by the status and list routes.

use crate::app::App;
use crate::domain::{CustomMetadata, DomainName, TenantId};
use crate::error::{Code, Error};

/// Sets (`None`: removes) `tenant`'s metadata on `domain`, replacing what
/// was there. A name that is not the tenant's is `404` (a tenant learns
/// nothing of another's names); one being released is `409`.
pub async fn set(
    app: &App,
    tenant: &TenantId,
    domain: &DomainName,
    metadata: Option<&CustomMetadata>,
) -> Result<(), Error> {
    if app.store.set_metadata(domain, tenant, metadata).await? {
        return Ok(());
    }
    match app.store.load_owner(domain).await? {
        Some(owner) if &owner.tenant_id == tenant => Err(Error::conflict(
            Code::DomainReleasing,
            format!("{domain} is being released"),
        )),
        _ => Err(Error::NotFound(format!(
            "{domain} is not one of your hostnames"
        ))),
    }
}
