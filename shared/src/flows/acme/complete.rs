//! Step 2 of the DNS-01 path: from a published TXT record to a certificate
//! served by CloudFront. Drives the hostname's order in flight (a first
//! issuance, or a renewal waiting for its TXT record) with
//! [`driver::drive`](super::driver::drive) within the call's time budget
//! (`COMPLETE_TIME_BUDGET_MS`); a hostname with a served certificate and no
//! order in flight is answered as it stands.

use tokio::time::Instant;

use crate::app::App;
use crate::domain::{AcmeOrder, DomainName, Purpose, ServedCertificate, TenantId};
use crate::error::Code;
use crate::error::Error;
use crate::flows::acme::driver::{drive, Driven};
use crate::flows::acme::renew::{continue_renewal, Outcome};
use crate::flows::hostname::release::releasing;
use crate::flows::lease::{self, with_lease, Lease};

pub enum Progress {
    /// The hostname is served with its certificate.
    Done(Box<ServedCertificate>),
    /// The budget ran out at this stage; call again to continue.
    InProgress(Box<AcmeOrder>),
}

#[tracing::instrument(name = "complete_certificate", skip_all, fields(%domain, tenant = %org))]
pub async fn complete_certificate(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
) -> Result<Progress, Error> {
    let deadline = Instant::now() + app.config.time_budget;
    let records = app.store.load_hostname(domain).await?;
    let not_found = || {
        Error::NotFound(format!(
            "organisation {org} has no certificate order for {domain}; call start-certificate first"
        ))
    };
    if !records.is_owned_by(org) {
        return Err(not_found());
    }
    if records.is_releasing() {
        return Err(releasing(domain));
    }
    // The claimant acts: an unproven claim expires only a while after its
    // last action (recorded at most hourly: expiry counts in days).
    let an_hour_ago = crate::domain::Timestamp::now().minus(std::time::Duration::from_secs(3600));
    if records
        .owner
        .as_ref()
        .is_some_and(|o| o.proven_at.is_none() && o.last_active().is_none_or(|t| t < an_hour_ago))
    {
        app.store.touch_claim(domain, org).await?;
    }
    // A name joining another's certificate: that hostname's order is driven,
    // and this name answered once it is served.
    if let (None, Some(lead)) = (&records.order, &records.order_ref) {
        if lead != domain {
            return Ok(
                match Box::pin(complete_certificate(app, org, lead)).await? {
                    Progress::InProgress(order) => {
                        Progress::InProgress(Box::new(order.as_seen_from(domain)))
                    }
                    Progress::Done(served) => match app.store.load_hostname(domain).await?.served {
                        Some(own) => Progress::Done(Box::new(own)),
                        // The lead's certificate, served without this name
                        // (its order had ended): start again.
                        None if !served.certificate_names().contains(domain) => {
                            return Err(not_found())
                        }
                        None => Progress::Done(served),
                    },
                },
            );
        }
    }
    let Some(order) = records.order.filter(|o| o.belongs_to(org)) else {
        return match records.served {
            Some(served) if served.belongs_to(org) => Ok(Progress::Done(Box::new(served))),
            _ => Err(not_found()),
        };
    };
    if order.purpose == Purpose::Renew {
        return continue_renewal_of(app, domain, order, records.served).await;
    }
    // Under the hostname's lease: one caller at a time drives the order
    // (two concurrent calls cannot import twice), and a release waits.
    let holder = lease::holder("complete");
    let lease = Lease::for_a_call(app, domain, &holder);
    // Read again under the lease: a call that held it until a moment ago
    // may have moved the order on, or finished it.
    match with_lease(app, lease, || drive_current(app, org, domain, deadline)).await? {
        Some(progress) => Ok(progress),
        None => Ok(Progress::InProgress(Box::new(order))),
    }
}

/// Drives the hostname's order as it stands now (the caller holds the lease).
async fn drive_current(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
    deadline: Instant,
) -> Result<Progress, Error> {
    let records = app.store.load_hostname(domain).await?;
    let Some(order) = records.order.filter(|o| o.belongs_to(org)) else {
        return match records.served {
            Some(served) if served.belongs_to(org) => Ok(Progress::Done(Box::new(served))),
            _ => Err(Error::NotFound(format!(
                "organisation {org} has no certificate order for {domain}; call start-certificate first"
            ))),
        };
    };
    // Names added to a served certificate re-import into its ARN.
    let served = records.served.filter(|_| order.purpose != Purpose::Issue);
    let driven = match drive(app, order, served, deadline).await {
        // An AWS request that ended at its timeout: every step before it
        // is saved, so the call answers where the order stands (202) and
        // the next one goes on, as when the budget runs out.
        Err(e) if e.is_timeout() => {
            tracing::warn!(error = %e, "an AWS request timed out; the next call goes on");
            return match app.store.load_hostname(domain).await?.order {
                Some(order) => Ok(Progress::InProgress(Box::new(order))),
                None => Err(e),
            };
        }
        driven => driven?,
    };
    match driven {
        Driven::Done(served) => Ok(Progress::Done(served)),
        Driven::InProgress(order) => Ok(Progress::InProgress(order)),
        Driven::Invalid(order) => Err(invalid(&order)),
        Driven::AwaitingDns { missing, .. } => Err(missing),
    }
}

/// A renewal waiting for its TXT record, continued by complete-certificate:
/// under the renewal's lease and bookkeeping (`flows::acme::renew`), so it
/// cannot race the sweep, and a refusal is counted and backed off.
async fn continue_renewal_of(
    app: &App,
    domain: &DomainName,
    order: AcmeOrder,
    served: Option<ServedCertificate>,
) -> Result<Progress, Error> {
    let served = served
        .ok_or_else(|| Error::Internal(format!("a renewal of {domain} with nothing served")))?;
    Ok(match continue_renewal(app, domain).await? {
        Outcome::Renewed(s) => Progress::Done(s),
        Outcome::InProgress(o) | Outcome::AwaitingDns(o) => Progress::InProgress(o),
        // Another renewal call holds the lease: it is moving.
        Outcome::Busy | Outcome::Deferred => Progress::InProgress(Box::new(order)),
        Outcome::NotDue => Progress::Done(Box::new(served)),
        Outcome::Failed(o) => {
            return Err(Error::Rejected {
                code: Code::RenewalRefused,
                message: format!(
                    "the certificate authority refused the renewal of {domain} ({}); the current certificate stays served and the renewal is retried later",
                    o.failure.as_deref().unwrap_or("no reason given")
                ),
            })
        }
    })
}

/// The error for an order the CA refused.
pub(crate) fn invalid(order: &AcmeOrder) -> Error {
    Error::Rejected {
        code: Code::OrderInvalid,
        message: format!(
            "the certificate authority refused the order for {}: {}; call start-certificate to begin a new order",
            order.domain,
            order.failure.as_deref().unwrap_or("no reason given")
        ),
    }
}
