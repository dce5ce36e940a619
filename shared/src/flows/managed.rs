//! CloudFront-managed certificates on the shared edge: the plan and its
//! steps in one file (`domain::managed` has the state machine).
//!
//! - [`start`] (start-certificate with `"certificate": "managed"`): claims
//!   the hostname and records what the tenant must do: publish its claim
//!   record, point the hostname at the edge.
//! - [`advance`] (complete-certificate, the status route, and the drift
//!   check for a hand-off): one step after another, each saved before the
//!   next, under the hostname's lease: the claim record seen, the tenant
//!   created (or updated) with a `ManagedCertificateRequest`, CloudFront's
//!   verdict read, the issued certificate attached to the tenant, the
//!   mapping written; on a hand-off, the ACME certificate's record ended
//!   in the same transaction and its imported certificate deleted.
//! - [`hand_off`] (the drift check, once an ACME hostname on the shared
//!   edge points at it): the first step of a hand-off.
//!
//! A request CloudFront fails (validation timed out, failed, revoked) is
//! asked again by the next complete-certificate once the hostname points
//! at the edge; a failed hand-off ends, the ACME certificate serving on.

use std::time::Duration;

use tokio::time::Instant;

use crate::adapters::acm::Deletion;
use crate::adapters::store::PendingPlace;
use crate::app::App;
use crate::domain::{
    CertificateVerdict, ClaimProof, DomainMapping, DomainName, Edge, HostnameRecords,
    ManagedCertificate, ManagedStage, TenantId, Timestamp,
};
use crate::error::{Code, Error};
use crate::flows::lease::{self, with_lease, Lease};

const HOUR: Duration = Duration::from_secs(3600);

/// Where a managed certificate stands after a call, and, while it waits
/// for the tenant, why (`waiting_for`: the error complete-certificate
/// answers; the status route reports the record as it stands).
pub struct Progress {
    pub record: ManagedCertificate,
    pub waiting_for: Option<Error>,
}

impl Progress {
    pub fn done(&self) -> bool {
        self.record.stage == ManagedStage::Served
    }
}

/// Starts (or answers again) a managed certificate for `domain`.
#[tracing::instrument(name = "start_managed", skip_all, fields(%domain, tenant = %org))]
pub async fn start(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
) -> Result<ManagedCertificate, Error> {
    let target = crate::flows::acme::order::edge_for(app, org).await?;
    if target.own || target.edge != Edge::CloudfrontTenant {
        return Err(unavailable(format!(
            "CloudFront-managed certificates are for the shared edge (distribution tenants); organisation {org} is served on a distribution, where {domain} takes an ACME certificate"
        )));
    }
    if domain.as_str().starts_with("*.") {
        return Err(unavailable(format!(
            "CloudFront validates managed certificates over HTTP, which cannot prove a wildcard: start {domain} with \"certificate\": \"acme\""
        )));
    }
    let known = app.store.load_hostname(domain).await?;
    if known.is_owned_by(org) {
        if let Some(m) = known.managed.clone().filter(|m| !m.handoff) {
            return Ok(m);
        }
        if known.served.is_some() || known.order.is_some() || known.acm_request.is_some() {
            return Err(Error::conflict(
                Code::OnOtherCertificate,
                format!(
                    "{domain} has its certificate from another path already; {}release it and start again",
                    match app.config.handoff_to_managed {
                        true => "on the shared edge it moves to a managed certificate by itself once it points at the edge, or ",
                        false => "",
                    }
                ),
            ));
        }
    }
    // What the ACME path asks before a claim: servable here, within the
    // tenant's pending places and its new-hostname slots.
    if known.owner.as_ref().is_none_or(|o| &o.tenant_id == org) {
        app.distributions
            .check_servable(&target.distribution_id, domain, true, &[], None)
            .await?;
    }
    let limit = app.config.tenant_pending_hostnames;
    app.store.check_pending(org, limit).await?;
    crate::flows::quota::check_new(app, crate::domain::quota::NewHostname::Managed).await?;
    app.store
        .take_new_order_slot(org, app.config.tenant_new_orders_per_hour, HOUR)
        .await?;
    crate::flows::hostname::claim::claim(app, domain, org).await?;
    let mut record = ManagedCertificate::new(
        domain.clone(),
        org.clone(),
        target.distribution_id,
        app.config.managed_validation_token_host.clone(),
        ManagedStage::Proving,
        false,
    );
    record.dns_target = app
        .distributions
        .dns_target(app.config.connection_group_id.as_deref())
        .await?;
    app.store
        .insert_managed(&record, PendingPlace::Takes { limit })
        .await?;
    Ok(record)
}

/// Starts the hand-off of an ACME hostname served on its distribution
/// tenant, now pointing at the edge, to a managed certificate (the drift
/// check's, `HANDOFF_TO_MANAGED`): wildcards, certificates of several
/// names and organisations' own distributions stay on ACME, and so do
/// hostnames whose `_acme-challenge` is delegated when the platform wants
/// them there (`HANDOFF_DELEGATED=false`). A hand-off under way is carried
/// on. Answers whether the hostname is being (or was) handed off.
pub async fn hand_off(
    app: &App,
    domain: &DomainName,
    records: &HostnameRecords,
) -> Result<bool, Error> {
    if !app.config.handoff_to_managed || records.is_releasing() {
        return Ok(false);
    }
    if let Some(m) = &records.managed {
        if m.stage == ManagedStage::Served && m.retiring_arn.is_none() {
            return Ok(true);
        }
        let owner = m.org_id.clone();
        Box::pin(advance(app, &owner, domain, Caller::Platform)).await?;
        return Ok(true);
    }
    let Some(served) = &records.served else {
        return Ok(false);
    };
    let stays_on_acme = served.edge != Edge::CloudfrontTenant
        || served.is_shared()
        || (served.delegated && !app.config.handoff_delegated)
        || domain.as_str().starts_with("*.")
        || records.order.is_some();
    if stays_on_acme {
        return Ok(false);
    }
    let mut record = ManagedCertificate::new(
        domain.clone(),
        served.org_id.clone(),
        served.distribution_id.clone(),
        app.config.managed_validation_token_host.clone(),
        ManagedStage::Proving,
        true,
    );
    record.dns_target = served.dns_target.clone();
    if !app.store.insert_handoff(&record).await? {
        return Ok(true); // another run began it
    }
    tracing::info!(%domain, "handing off to a CloudFront-managed certificate");
    Box::pin(advance(app, &served.org_id, domain, Caller::Platform)).await?;
    Ok(true)
}

/// Who moves the certificate on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// complete-certificate: what the tenant must do is its error.
    Tenant,
    /// The status route: reports CloudFront's verdict, moves nothing.
    Status,
    /// The drift check carrying a hand-off on.
    Platform,
}

/// Moves `domain`'s managed certificate as far as it goes now.
#[tracing::instrument(name = "advance_managed", skip_all, fields(%domain, tenant = %org))]
pub async fn advance(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
    caller: Caller,
) -> Result<Progress, Error> {
    let records = app.store.load_hostname(domain).await?;
    let record = records
        .managed
        .clone()
        .filter(|m| &m.org_id == org)
        .ok_or_else(|| Error::NotFound(format!("no managed certificate for {domain}")))?;
    if records.is_releasing() {
        return Err(crate::flows::hostname::release::releasing(domain));
    }
    if record.stage == ManagedStage::Served && record.retiring_arn.is_none() {
        return Ok(Progress {
            record,
            waiting_for: None,
        });
    }
    if caller == Caller::Status {
        return Ok(Progress {
            record: look(app, record).await?,
            waiting_for: None,
        });
    }
    let holder = lease::holder("managed");
    let lease = Lease::for_a_call(app, domain, &holder);
    match with_lease(app, lease, || steps(app, domain)).await? {
        Some(progress) => Ok(progress),
        // Another call holds the hostname: this one reports where it stands.
        None => Ok(Progress {
            record,
            waiting_for: None,
        }),
    }
}

/// What a status read reports: CloudFront's verdict on a request in
/// flight, read now (the next complete-certificate acts on it).
async fn look(app: &App, mut record: ManagedCertificate) -> Result<ManagedCertificate, Error> {
    if let (ManagedStage::Requested, Some(tenant)) = (record.stage, record.tenant_id.as_deref()) {
        if let Some(details) = app.distributions.managed_certificate(tenant).await? {
            record.certificate_status = Some(details.status);
        }
    }
    Ok(record)
}

/// The steps, under the lease, each saved before the next.
async fn steps(app: &App, domain: &DomainName) -> Result<Progress, Error> {
    let deadline = Instant::now() + app.config.time_budget;
    let records = app.store.load_hostname(domain).await?;
    if records.is_releasing() {
        return Err(crate::flows::hostname::release::releasing(domain));
    }
    let Some(mut record) = records.managed.clone() else {
        return Err(Error::NotFound(format!(
            "no managed certificate for {domain}"
        )));
    };
    let waiting = |record: ManagedCertificate, why: Option<Error>| Progress {
        record,
        waiting_for: why,
    };
    loop {
        if Instant::now() >= deadline {
            return Ok(waiting(record, None));
        }
        match record.stage {
            ManagedStage::Proving => {
                let proven = records
                    .owner
                    .as_ref()
                    .is_some_and(|o| o.proven_at.is_some());
                if !proven {
                    let seen = crate::flows::acme::driver::validate::claim_record_answers(
                        app,
                        domain,
                        &record.org_id,
                        ClaimProof::SharedRoutingTarget,
                        deadline.min(Instant::now() + Duration::from_secs(5)),
                    )
                    .await;
                    if let Err(missing) = seen {
                        return Ok(waiting(record, Some(missing)));
                    }
                    app.store.mark_proven(domain, &record.org_id).await?;
                }
                request(app, &mut record).await?;
            }
            ManagedStage::Requested => {
                let tenant = record.tenant_id.clone().unwrap_or_default();
                let details = app.distributions.managed_certificate(&tenant).await?;
                let status = details
                    .as_ref()
                    .map(|d| d.status.clone())
                    .unwrap_or_else(|| "pending-validation".to_owned());
                let changed = record.certificate_status.as_deref() != Some(status.as_str());
                record.certificate_status = Some(status.clone());
                match CertificateVerdict::of(&status) {
                    CertificateVerdict::Pending => {
                        if changed {
                            app.store.save_managed(&mut record).await?;
                        }
                        return Ok(waiting(record, None));
                    }
                    CertificateVerdict::Issued => {
                        record.certificate_arn = details.and_then(|d| d.certificate_arn);
                        if record.certificate_arn.is_none() {
                            return Err(Error::upstream(
                                crate::error::Service::CloudFront,
                                "an issued managed certificate without an ARN",
                            ));
                        }
                        record.advance(ManagedStage::Issued)?;
                        app.store.save_managed(&mut record).await?;
                    }
                    CertificateVerdict::Failed => {
                        tracing::warn!(%status, handoff = record.handoff, "CloudFront did not issue the managed certificate");
                        record.failure = Some(status);
                        record.advance(ManagedStage::Failed)?;
                        app.store.save_managed(&mut record).await?;
                        crate::flows::hostname::announce::announce(app, domain, None).await;
                        if record.handoff {
                            // The ACME certificate serves on, and renews;
                            // a later drift check hands it off afresh.
                            app.store.delete_managed(&record).await?;
                            app.store
                                .ledger_add(crate::domain::quota::Quota::AcmIssuedCertificates, -1)
                                .await;
                        }
                        return Ok(waiting(record, None));
                    }
                }
            }
            ManagedStage::Issued => {
                let arn = record.certificate_arn.clone().unwrap_or_default();
                app.distributions
                    .attach_tenant(
                        &record.distribution_id,
                        domain,
                        &arn,
                        app.config.connection_group_id.as_deref(),
                    )
                    .await?;
                record.advance(ManagedStage::Attached)?;
                app.store.save_managed(&mut record).await?;
            }
            ManagedStage::Attached => {
                // A renewal of the ACME certificate under way (its order
                // in flight) finishes first: its records end with the
                // certificate's, in one transaction, never under it.
                if record.handoff && records.order.is_some() {
                    tracing::info!("the hand-off waits for the ACME renewal in flight");
                    return Ok(waiting(record, None));
                }
                let retired = records.served.as_ref().filter(|_| record.handoff);
                record.retiring_arn = retired.map(|s| s.certificate_arn.clone());
                let mapping = DomainMapping {
                    domain: domain.clone(),
                    tenant_id: record.org_id.clone(),
                    edge: Edge::CloudfrontTenant,
                    target: record.tenant_id.clone().unwrap_or_default(),
                    certificate_arn: record.certificate_arn.clone().unwrap_or_default(),
                    configured_at: Timestamp::now(),
                    dns_target: record.dns_target.clone(),
                };
                record.advance(ManagedStage::Served)?;
                app.store
                    .serve_managed(&mut record, &mapping, retired)
                    .await?;
                tracing::info!(
                    handoff = record.handoff,
                    "served with a CloudFront-managed certificate"
                );
            }
            ManagedStage::Served => {
                // A hand-off's imported certificate, deleted once CloudFront
                // no longer uses it (until then, the next call tries again).
                if let Some(arn) = record.retiring_arn.clone() {
                    match app.edge_certificates.delete(&arn).await? {
                        Deletion::InUse => {
                            tracing::info!(%arn, "the retired imported certificate is still in use; deleted later");
                        }
                        Deletion::Deleted | Deletion::Refused => {
                            record.retiring_arn = None;
                            app.store.save_managed(&mut record).await?;
                        }
                    }
                }
                return Ok(waiting(record, None));
            }
            ManagedStage::Failed => {
                // Asked again only once the name points at the edge: the
                // same request would fail the same way.
                let target = record.dns_target.clone().unwrap_or_default();
                let seen = app
                    .dns
                    .points_at(
                        domain.as_str(),
                        &target,
                        deadline.min(Instant::now() + Duration::from_secs(5)),
                    )
                    .await;
                if !seen.as_ref().is_some_and(|s| s.pointed) {
                    let found = seen.map(|s| s.found).unwrap_or_default();
                    let why = Error::Precondition {
                            code: Code::DnsNotPointed,
                            message: format!(
                                "CloudFront did not issue the certificate ({}): {domain} must point at {target} before it is asked again (found: {})",
                                record.failure.as_deref().unwrap_or("no reason given"),
                                if found.is_empty() { "nothing".to_owned() } else { found.join(", ") }
                            ),
                            details: Some(serde_json::json!({
                                "expected": { "name": domain.as_str(), "type": "CNAME", "value": target },
                                "found": found,
                            })),
                        };
                    return Ok(waiting(record, Some(why)));
                }
                request(app, &mut record).await?;
            }
        }
    }
}

/// Sends CloudFront a managed-certificate request for the record's
/// hostname (creating its tenant, or updating it), and saves it requested.
async fn request(app: &App, record: &mut ManagedCertificate) -> Result<(), Error> {
    let attached = app
        .distributions
        .request_managed(
            &record.distribution_id,
            &record.domain,
            app.config.connection_group_id.as_deref(),
            &record.validation_token_host,
        )
        .await?;
    // CloudFront's certificate, counted while the hostname holds it (the
    // tenants are counted by the adapter).
    if record.requests == 0 {
        app.store
            .ledger_add(crate::domain::quota::Quota::AcmIssuedCertificates, 1)
            .await;
    }
    record.tenant_id = Some(attached.tenant_id);
    if attached.routing_endpoint.is_some() {
        record.dns_target = attached.routing_endpoint;
    }
    record.requests += 1;
    record.requested_at = Some(Timestamp::now());
    record.certificate_status = Some("pending-validation".to_owned());
    record.certificate_arn = None;
    record.advance(ManagedStage::Requested)?;
    app.store.save_managed(record).await
}

fn unavailable(message: String) -> Error {
    Error::Precondition {
        code: Code::ManagedUnavailable,
        message,
        details: None,
    }
}
