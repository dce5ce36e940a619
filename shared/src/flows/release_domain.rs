//! Releasing a hostname: the explicit end of a tenant's claim.
//!
//! Only the owner may release a name, and only while nothing of it is live:
//! no edge serves it and no certificate of it sits in ACM. A pending ACM
//! request's certificate (never used) is deleted with it. A live hostname is
//! refused with `409 domain_live`: taking it off CloudFront or API Gateway
//! is a deliberate operation of its own, not a side effect of a release.

use crate::app::App;
use crate::auth::require_same_tenant;
use crate::domain::{AcmStage, DomainName, Stage, TenantId};
use crate::error::Error;

pub async fn release_domain(
    app: &App,
    caller: &TenantId,
    domain: &DomainName,
) -> Result<(), Error> {
    let records = app.store.load_hostname(domain).await?;
    let owner = records
        .owner
        .as_ref()
        .map(|o| o.tenant_id.clone())
        .ok_or_else(|| Error::NotFound(format!("{domain} is not claimed")))?;
    require_same_tenant(caller, &owner, domain.as_str())?;
    let live = || {
        Error::conflict(
            "domain_live",
            format!("{domain} is live (served by an edge, or its certificate is in ACM); it cannot be released"),
        )
    };
    if records.mapping.is_some() || records.served.is_some() {
        return Err(live());
    }
    if let Some(order) = &records.order {
        if matches!(order.stage, Stage::Imported | Stage::Attached) {
            return Err(live());
        }
    }
    let request = records.acm_request;
    if let Some(r) = &request {
        if !matches!(r.stage, AcmStage::Requested | AcmStage::Failed) {
            return Err(live());
        }
        app.regional_certificates.delete(&r.certificate_arn).await?;
    }
    app.store
        .release(
            domain,
            caller,
            request.as_ref().map(|r| r.request_id.as_str()),
        )
        .await?;
    tracing::info!(%domain, tenant = %caller, "hostname released");
    Ok(())
}
