//! Releasing a hostname: its owner takes it off the platform, whatever
//! stage it is at, live or not.
//!
//! The release marks the claim as being released first (a conditional
//! write); from then on nothing new is claimed, ordered or attached for the
//! name (the claim and the mapping writes check the mark), and it holds the
//! hostname's lease, so no complete-certificate or renewal runs beside it.
//! Then it undoes, in order, what the product made, each step saved on the
//! claim and safe to repeat:
//!
//! 1. `detached`: the hostname off its CloudFront distribution (its alias
//!    removed, the other aliases and the rest of the configuration kept,
//!    ETag-guarded as the attach is), or its distribution tenant disabled and,
//!    once that is deployed, deleted (shared edge), or the API Gateway custom
//!    domain and its mapping deleted (ACM path).
//! 2. `certificate_deleted`: the certificate deleted from ACM, once nothing
//!    uses it (`ResourceInUse` leaves it for the next call); one the policy
//!    refuses to delete (not tagged as this deployment's: someone else's,
//!    or gone already) is left in ACM, logged.
//! 3. `authorizations_deactivated` (ACME): the order's authorizations, so the
//!    CA does not reuse them for the next owner (one account serves every
//!    tenant), and an order in flight's TXT record in the delegation zone.
//! 4. `revoked` (ACME): the certificate revoked, reason
//!    `cessationOfOperation`.
//!
//! A hostname that shares its certificate with the organisation's other
//! names on its own distribution takes other steps: after `detached`, only
//! its own authorization is deactivated, and `reissue_scheduled` takes it
//! off the other names' records and makes their certificate due for renewal
//! at once (the next sweep issues it without the name and re-imports it
//! into the same ARN); the certificate is neither deleted nor revoked, as
//! the other names are served with it until then. A name waiting to join a
//! certificate cancels that order while it still waits for DNS records, and
//! is refused (`409 certificate_change_in_flight`) once the CA validates it.
//!
//! Step 3 waits while the CA fails it (the release answers 202 at
//! `authorizations_deactivated`, and the next call tries again): a valid
//! authorization left on the shared account would let the next claimant be
//! issued a certificate on this tenant's TXT record. Step 4 is logged and
//! skipped when the CA fails it: a certificate no longer served harms
//! nobody, and it expires. Last, one transaction deletes the mapping
//! and every record of the name, claim included: the platform stops routing
//! the name only when nothing of it is left. A release that runs out of its
//! time budget (`COMPLETE_TIME_BUDGET_MS`) answers what it removed and what
//! remains; repeating it continues.

use tokio::time::Instant;

use crate::adapters::acm::Deletion;
use crate::app::App;
use crate::domain::lifecycle::CertificateChange;
use crate::domain::{DomainName, HostnameRecords, ReleaseStep, TenantId};
use crate::error::Code;
use crate::error::Error;
use crate::flows::lease::{self, with_lease_unless_gone, Lease};

/// Where a release stands.
#[derive(Debug, Default)]
pub struct Release {
    /// Steps done, in order.
    pub removed: Vec<ReleaseStep>,
    /// Steps still to do (empty once released).
    pub remaining: Vec<ReleaseStep>,
}

impl Release {
    pub fn done(&self) -> bool {
        self.remaining.is_empty()
    }
}

#[tracing::instrument(name = "release", skip_all, fields(%domain, tenant = %caller))]
pub async fn release_domain(
    app: &App,
    caller: &TenantId,
    domain: &DomainName,
) -> Result<Release, Error> {
    let deadline = Instant::now() + app.config.time_budget;
    let records = app.store.load_hostname(domain).await?;
    // Another tenant's name answers as one nobody claimed: the caller
    // learns nothing of it.
    if !records.is_owned_by(caller) {
        return Err(Error::NotFound(format!(
            "{domain} is not claimed by {caller}"
        )));
    }

    let holder = lease::holder("release");
    let lease = Lease::for_a_call(app, domain, &holder);
    let released = with_lease_unless_gone(
        app,
        lease,
        || release_leased(app, caller, domain, deadline),
        // Released: the lease went with the hostname's records.
        |result| matches!(result, Ok(r) if r.done()),
    )
    .await?;
    match released {
        Some(release) => Ok(release),
        // A complete-certificate or a renewal is under way: it ends within
        // its own budget, then the release goes on.
        None => Ok(plan(&records)),
    }
}

/// The error for a call on a hostname its owner is releasing.
pub(crate) fn releasing(domain: &DomainName) -> Error {
    Error::conflict(
        Code::DomainReleasing,
        format!("{domain} is being released; repeat DELETE /domains/{domain} to finish, then claim it again"),
    )
}

/// The steps a hostname's release takes, split into done and remaining
/// (the lifecycle's release plan).
fn plan(records: &HostnameRecords) -> Release {
    let remaining = records.release_plan();
    let removed = records
        .release_steps()
        .into_iter()
        .filter(|s| !remaining.contains(s))
        .collect();
    Release { removed, remaining }
}

async fn release_leased(
    app: &App,
    caller: &TenantId,
    domain: &DomainName,
    deadline: Instant,
) -> Result<Release, Error> {
    end_certificate_change(app, domain).await?;
    app.store.begin_release(domain, caller).await?;
    // Read after the mark: whatever was written before it is seen here, and
    // nothing can be attached after it.
    let records = app.store.load_hostname(domain).await?;
    let mut release = plan(&records);
    // At least one step per call, then as many as the budget allows.
    let mut first = true;
    while let Some(step) = release.remaining.first().copied() {
        if !first && Instant::now() >= deadline {
            return Ok(release);
        }
        first = false;
        match run_step(app, caller, domain, &records, step, deadline).await? {
            StepDone::Done => {}
            // ACM still sees the certificate in use, or the distribution
            // tenant is still being disabled: the next call goes on.
            StepDone::NotYet => return Ok(release),
        }
        if step != ReleaseStep::RecordsDeleted {
            app.store.release_step_done(domain, step.as_str()).await?;
        }
        release.remaining.remove(0);
        release.removed.push(step);
    }
    tracing::info!("hostname released");
    Ok(release)
}

/// An order in flight that would put `domain` on a certificate it shares
/// with other names: cancelled while it waits for DNS records (or was
/// refused), else the release waits for it (the lifecycle's
/// [`HostnameRecords::certificate_change`]).
async fn end_certificate_change(app: &App, domain: &DomainName) -> Result<(), Error> {
    let records = app.store.load_hostname(domain).await?;
    let lead_order = match records.certificate_lead(domain) {
        Some(lead) if &lead != domain => app.store.load_hostname(&lead).await?.order,
        _ => None,
    };
    match records.certificate_change(domain, lead_order.as_ref()) {
        CertificateChange::None => Ok(()),
        CertificateChange::Cancel => {
            let order = lead_order.as_ref().or(records.order.as_ref()).ok_or_else(|| {
                Error::Internal("a certificate change without an order".into())
            })?;
            tracing::info!(lead = %order.domain, "cancelling the certificate's order that named the released hostname");
            // The order goes before the release plans its steps, so its
            // authorization of this name would never be deactivated by
            // them: it is here, first (a CA that fails stops the release,
            // which the next call repeats).
            crate::adapters::acme::within(
                tokio::time::Instant::now()
                    + app.config.time_budget
                    + crate::flows::acme::driver::CA_GRACE,
                Box::pin(app.acme.deactivate_authorizations(&order.order_url, Some(domain))),
            )
            .await?;
            app.store.cancel_order(order).await
        }
        CertificateChange::EndAndRenew => {
            let order = lead_order.as_ref().or(records.order.as_ref()).ok_or_else(|| {
                Error::Internal("a certificate change without an order".into())
            })?;
            tracing::info!(lead = %order.domain, "ending names CloudFront refused to add; the served names renew at once");
            app.store.cancel_order(order).await?;
            if let Some(mut served) = app.store.load_hostname(&order.domain).await?.served {
                served.renewal.due_now(crate::domain::Timestamp::now());
                app.store.save_served(&mut served).await?;
            }
            Ok(())
        }
        CertificateChange::Wait(stage) => Err(Error::conflict(
            Code::CertificateChangeInFlight,
            format!("the certificate {domain} shares with other names is being issued ({}); release it again once that is done", stage.proxy_status()),
        )),
    }
}

/// The certificate a first issuance imported whose answer was lost (the
/// import began, no ARN was saved): found in ACM by its leaf, as the order
/// driver finds it on a retry. Left behind, it would count against the
/// account's ACM quota for ever.
async fn lost_import(
    app: &App,
    domain: &DomainName,
    order: Option<&crate::domain::AcmeOrder>,
) -> Result<Option<String>, Error> {
    let Some(order) = order.filter(|o| o.import_started && o.certificate_arn.is_none()) else {
        return Ok(None);
    };
    let Some(certificate) = &order.certificate else {
        return Ok(None);
    };
    let chain = crate::domain::certificate::split_chain(&certificate.chain_pem)?;
    app.edge_certificates
        .find_imported(domain, chain.leaf_pem)
        .await
}

/// Deletes from ACM and revokes a certificate no name holds any more, if
/// this release is the one that ends it (`Store::take_certificate_end`).
async fn end_shared_certificate(
    app: &App,
    domain: &DomainName,
    served: &crate::domain::ServedCertificate,
    deadline: Instant,
) -> Result<StepDone, Error> {
    if !app
        .store
        .take_certificate_end(&served.certificate_arn, domain)
        .await?
    {
        return Ok(StepDone::Done);
    }
    if app
        .edge_certificates
        .delete(&served.certificate_arn)
        .await?
        == Deletion::InUse
    {
        return Ok(StepDone::NotYet);
    }
    let revoked = crate::adapters::acme::within(
        deadline.max(Instant::now() + crate::flows::acme::driver::CA_GRACE),
        Box::pin(app.acme.revoke(&served.certificate.chain_pem)),
    )
    .await;
    if let Err(e) = revoked {
        tracing::warn!(error = %e, "could not revoke the certificate; releasing anyway");
    }
    tracing::info!(arn = %served.certificate_arn, "the last name on a shared certificate left: certificate ended");
    Ok(StepDone::Done)
}

/// What one step of a release came to.
enum StepDone {
    Done,
    /// ACM still sees the certificate in use, the distribution tenant is
    /// still being disabled, or the CA has not deactivated the
    /// authorizations: the next call goes on from this step.
    NotYet,
}

async fn run_step(
    app: &App,
    caller: &TenantId,
    domain: &DomainName,
    records: &HostnameRecords,
    step: ReleaseStep,
    deadline: Instant,
) -> Result<StepDone, Error> {
    let served = records.served.as_ref();
    let order = records.order.as_ref();
    // The ACME path's certificate in ACM: the served one, or the one a
    // first issuance imported before the release.
    let edge_arn = served
        .map(|s| s.certificate_arn.clone())
        .or_else(|| order.and_then(|o| o.certificate_arn.clone()));
    match step {
        ReleaseStep::Detached => {
            let managed = records.managed.as_ref();
            let distribution = served
                .map(|s| s.distribution_id.clone())
                .or_else(|| order.and_then(|o| o.distribution_id.clone()))
                .or_else(|| managed.map(|m| m.distribution_id.clone()));
            let edge = served
                .map(|s| s.edge)
                .or_else(|| order.map(|o| o.edge))
                .or_else(|| managed.map(|_| crate::domain::Edge::CloudfrontTenant));
            if let (Some(crate::domain::Edge::CloudfrontTenant), Some(distribution)) =
                (edge, &distribution)
            {
                // Disabled, then deleted once CloudFront has deployed that:
                // until then the next call goes on.
                if !app
                    .distributions
                    .detach_tenant(distribution, domain)
                    .await?
                {
                    return Ok(StepDone::NotYet);
                }
            } else if let (Some(distribution), Some(arn)) = (distribution, &edge_arn) {
                let detached = app
                    .distributions
                    .detach(&distribution, domain, arn, deadline)
                    .await?;
                if let crate::adapters::cloudfront::Outcome::NotYet(why) = detached {
                    tracing::info!(reason = why.reason(), "the detach waits for CloudFront");
                    return Ok(StepDone::NotYet);
                }
            }
            if records.acm_request.is_some()
                && app.api_domains.delete_domain(domain).await?
                    == crate::adapters::apigateway::Paced::NotYet
            {
                // API Gateway takes one DeleteDomainName per 30 s per
                // account: the next call deletes it.
                return Ok(StepDone::NotYet);
            }
            Ok(StepDone::Done)
        }
        ReleaseStep::CertificateDeleted => {
            let mut deletions = Vec::new();
            // Ended once, whichever release of its names gets here first
            // (`Store::take_certificate_end`).
            if let Some(arn) = &edge_arn {
                if app.store.take_certificate_end(arn, domain).await? {
                    deletions.push(app.edge_certificates.delete(arn).await?);
                }
            } else if let Some(arn) = lost_import(app, domain, order).await? {
                tracing::info!(%arn, "deleting a certificate whose import answer was lost");
                deletions.push(app.edge_certificates.delete(&arn).await?);
            }
            if let Some(r) = &records.acm_request {
                deletions.push(app.regional_certificates.delete(&r.certificate_arn).await?);
            }
            Ok(match deletions.contains(&Deletion::InUse) {
                true => StepDone::NotYet,
                false => StepDone::Done,
            })
        }
        ReleaseStep::AuthorizationsDeactivated => {
            let urls = served
                .and_then(|s| s.order_url.clone())
                .into_iter()
                .chain(order.map(|o| o.order_url.clone()));
            // A shared certificate's other names keep theirs.
            let only = served.filter(|s| s.is_shared()).map(|_| domain);
            for url in urls {
                // Left valid, the CA would hand the authorization to the
                // next claimant of the name (one account serves every
                // tenant): the release waits here until the CA has done it.
                let deactivated = crate::adapters::acme::within(
                    deadline.max(Instant::now() + crate::flows::acme::driver::CA_GRACE),
                    Box::pin(app.acme.deactivate_authorizations(&url, only)),
                )
                .await;
                if let Err(e) = deactivated {
                    tracing::warn!(error = %e, "the CA did not deactivate the order's authorizations; the release waits at this step");
                    return Ok(StepDone::NotYet);
                }
            }
            // An order in flight may have its TXT record in the delegation
            // zone still: no CA needs it any more.
            if let (Some(zone), Some(o), Some(owner)) = (&app.delegation, order, &records.owner) {
                if let (true, Some(label)) = (o.delegated, owner.delegation_label.as_deref()) {
                    if let Err(e) = zone
                        .remove_txt(&zone.target(label), &o.challenge.txt_value)
                        .await
                    {
                        tracing::warn!(error = %e, "could not remove the delegated TXT record; releasing anyway");
                    }
                }
            }
            Ok(StepDone::Done)
        }
        ReleaseStep::Revoked => {
            // The served certificate by the release that ends it (once).
            let mut ends_served = false;
            if let Some(s) = served {
                ends_served = app
                    .store
                    .take_certificate_end(&s.certificate_arn, domain)
                    .await?;
            }
            let chains = served
                .filter(|_| ends_served)
                .map(|s| s.certificate.chain_pem.clone())
                .into_iter()
                .chain(order.and_then(|o| o.certificate.as_ref().map(|c| c.chain_pem.clone())));
            for chain in chains {
                let revoked = crate::adapters::acme::within(
                    deadline.max(Instant::now() + crate::flows::acme::driver::CA_GRACE),
                    Box::pin(app.acme.revoke(&chain)),
                )
                .await;
                if let Err(e) = revoked {
                    tracing::warn!(error = %e, "could not revoke the certificate; releasing anyway");
                }
            }
            Ok(StepDone::Done)
        }
        ReleaseStep::ReissueScheduled => {
            let Some(served) = served else {
                return Ok(StepDone::Done);
            };
            let now = crate::domain::Timestamp::now();
            let mut held = false;
            for name in served.names.iter().filter(|n| *n != domain) {
                let other = app.store.load_hostname(name).await?;
                let releasing = other.is_releasing();
                let Some(mut copy) = other.served else {
                    continue;
                };
                held |= !releasing;
                if !copy.names.contains(domain) {
                    continue;
                }
                copy.names.retain(|n| n != domain);
                if copy.names.len() == 1 {
                    copy.names.clear();
                }
                copy.renewal.due_now(now);
                app.store.save_served(&mut copy).await?;
            }
            match held {
                true => Ok(StepDone::Done),
                // Every other name leaves too (released, or being released
                // beside this one): the certificate ends with the last of
                // them, once.
                false => end_shared_certificate(app, domain, served, deadline).await,
            }
        }
        ReleaseStep::RecordsDeleted => {
            // Told before the records go (told once: a repeat of this
            // step finds it in the outbox, which outlives the claim).
            crate::flows::hostname::announce::tell_released(app, domain, records).await?;
            let managed_held = records.managed.as_ref().is_some_and(|m| m.requests > 0);
            app.store
                .release(
                    domain,
                    caller,
                    records.acm_request.as_ref().map(|r| r.request_id.as_str()),
                    records.owner.as_ref().and_then(|o| o.counted),
                )
                .await?;
            // CloudFront's certificate goes with its tenant.
            if managed_held {
                app.store
                    .ledger_add(crate::domain::quota::Quota::AcmIssuedCertificates, -1)
                    .await;
            }
            Ok(StepDone::Done)
        }
    }
}
