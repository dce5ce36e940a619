//! The order driver: takes a hostname's ACME order in flight, first issuance
//! or renewal, from a published TXT record to a served certificate. Both
//! complete-certificate and the renewals (the sweep and renew-now) run
//! [`drive`].
//!
//! It runs the order's stages one after another (see `domain::acme_order`),
//! saving after each. It always makes at least one step of progress, then
//! stops when `deadline` passes and answers [`Driven::InProgress`]: the next
//! call resumes from the saved stage, so no call approaches API Gateway's
//! 30 s limit and a crash loses at most the step under way. Every step is
//! safe to repeat.
//!
//! The last step, *promote*, makes the order's certificate the hostname's
//! served certificate and ends the order in one transaction. A first
//! issuance imports into a new ACM certificate and attaches the hostname to
//! its distribution first; a renewal re-imports into the served
//! certificate's ARN, which leaves the distribution untouched.
//!
//! One file per stretch of the stages: `validate` (AwaitingDns →
//! Validating), `obtain` (→ Finalizing → Issued), `import_attach` (→
//! Imported → Attached), `promote` (the served certificate, and its renewal
//! schedule); `step` says what a step did, and ends an order the CA
//! refused.

mod import_attach;
pub(crate) mod obtain;
mod promote;
mod step;
pub(crate) mod validate;

use tokio::time::Instant;

use crate::app::App;
use crate::domain::{AcmeOrder, Purpose, ServedCertificate, Stage};
use crate::error::{Code, Error};
use import_attach::{attach, import};
use obtain::{await_validation, obtain_certificate};
use promote::promote;
pub(crate) use promote::MIN_ARI_RECHECK;
use step::Step;
use validate::publish_challenge;

pub enum Driven {
    /// The order's certificate is served; the order is over.
    Done(Box<ServedCertificate>),
    /// The deadline came at this stage; drive again to continue.
    InProgress(Box<AcmeOrder>),
    /// The CA declared the order invalid (saved as such).
    Invalid(Box<AcmeOrder>),
    /// A TXT record the order needs is not in DNS yet: nothing changed and
    /// no CA validation was spent. `missing` is what a caller who should
    /// have published it is told (`422 dns_record_missing`, with what each
    /// DNS source saw).
    AwaitingDns {
        order: Box<AcmeOrder>,
        missing: Error,
    },
}

/// Drives `order` as far as it goes before `deadline`. `served` is the
/// hostname's served certificate (a renewal's, which it replaces). A CA
/// request still unanswered [`CA_GRACE`] after the deadline is abandoned.
pub async fn drive(
    app: &App,
    order: AcmeOrder,
    served: Option<ServedCertificate>,
    deadline: Instant,
) -> Result<Driven, Error> {
    crate::adapters::acme::within(
        deadline + CA_GRACE,
        drive_steps(app, order, served, deadline),
    )
    .await
}

/// How long past a call's deadline a CA request started before it may run:
/// a step begun just before the deadline gets a few seconds (the default
/// budget of 20 s plus this stays under API Gateway's 30 s).
pub(crate) const CA_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

async fn drive_steps(
    app: &App,
    mut order: AcmeOrder,
    served: Option<ServedCertificate>,
    deadline: Instant,
) -> Result<Driven, Error> {
    if order.purpose != Purpose::Issue && served.is_none() {
        return Err(Error::Internal(format!(
            "a {:?} order for {} without a served certificate",
            order.purpose, order.domain
        )));
    }
    // The certificate's key as made by this call, while it lasts: the
    // import then needs no KMS call to open the sealed copy.
    let mut key_in_hand: Option<String> = None;
    loop {
        let step = match order.stage {
            Stage::Invalid => return Ok(Driven::Invalid(Box::new(order))),
            Stage::AwaitingDns => match publish_challenge(app, &mut order, deadline).await {
                // The precheck's one "not yet": an outcome from here on.
                Err(missing) if missing.code() == Code::DnsRecordMissing => {
                    return Ok(Driven::AwaitingDns {
                        order: Box::new(order),
                        missing,
                    })
                }
                step => step?,
            },
            Stage::Validating => {
                await_validation(app, &mut order, deadline, &mut key_in_hand).await?
            }
            Stage::Finalizing => obtain_certificate(app, &mut order, deadline).await?,
            Stage::Issued => import(app, &mut order, served.as_ref(), key_in_hand.take()).await?,
            Stage::Imported if order.purpose != Purpose::Renew => {
                let Some(mappings) = attach(app, &mut order, served.as_ref(), deadline).await?
                else {
                    // CloudFront cannot take it yet: the next call attaches.
                    return Ok(Driven::InProgress(Box::new(order)));
                };
                // Promotion follows the attach in the same step, and writes
                // the new names' mappings in its transaction: the attach is
                // not saved on its own (a crash in between attaches again,
                // which finds everything in place).
                let done = promote(app, &order, served, &mappings).await?;
                return Ok(Driven::Done(Box::new(done)));
            }
            Stage::Imported | Stage::Attached => {
                let done = promote(app, &order, served, &[]).await?;
                return Ok(Driven::Done(Box::new(done)));
            }
        };
        if order.stage == Stage::Invalid {
            continue;
        }
        if matches!(step, Step::Waiting) || Instant::now() >= deadline {
            return Ok(Driven::InProgress(Box::new(order)));
        }
    }
}
