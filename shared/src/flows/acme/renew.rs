//! Renewal of served certificates: the scheduled sweep
//! (`renewal-sweep`, every hour by default), renew-now (the owner's
//! `POST /api/domain/renew-certificate/{org_id}`), and a renewal's order
//! continued by complete-certificate ([`continue_renewal`]). All run
//! [`renew_hostname`] under the hostname's lease (`flows::lease`), which
//! drives the same order driver (`flows::acme::driver`) as
//! complete-certificate.
//!
//! - **One at a time**: a renewal holds the hostname's lease (a conditional
//!   write with an expiry), so two overlapping sweeps, or a sweep and a
//!   renew-now, never order twice for one name; the loser answers `Busy`.
//! - **The served certificate stays served** until the renewed one has been
//!   re-imported into its ACM ARN. A renewal that fails (the CA refuses, an
//!   import fails) is recorded on the served record and retried with
//!   backoff (`domain::renewal`); one waiting for the tenant's TXT record is
//!   looked at again every `RENEWAL_DNS_RECHECK_SECONDS`.
//! - **ARI**: the CA's window is asked for again when its `Retry-After` has
//!   passed; a changed window (e.g. after a mass revocation) re-picks the
//!   renewal time in it, which can move the renewal earlier.
//! - **Duplicate limit**: renew-now counts this name's issuances of the last
//!   7 days from the product's own records and refuses a sixth certificate
//!   with `429 acme_rate_limited` before asking the CA.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use crate::app::App;
use crate::domain::lifecycle::RenewalStep;
use crate::domain::renewal::Window;
use crate::domain::{
    AcmeOrder, DomainName, Purpose, ServedCertificate, Stage, TenantId, Timestamp,
};
use crate::error::Code;
use crate::error::Error;
use crate::flows::acme::driver::{drive, Driven, MIN_ARI_RECHECK};
use crate::flows::acme::order::{order_still_usable, place_order, NewOrder};
use crate::flows::lease::{self, with_lease, Lease};
use crate::random::random_unit;

pub use crate::domain::lifecycle::Trigger;

/// What one renewal attempt came to.
pub enum Outcome {
    /// The renewed certificate is served.
    Renewed(Box<ServedCertificate>),
    /// The order moved on and stopped at this stage (deadline); the next
    /// run continues.
    InProgress(Box<AcmeOrder>),
    /// The order waits for the tenant's TXT record.
    AwaitingDns(Box<AcmeOrder>),
    /// The CA refused the order; the failure is recorded and retried later.
    Failed(Box<AcmeOrder>),
    /// Nothing to do now (not due, or only its ARI window was re-checked).
    NotDue,
    /// Another renewal of this hostname holds the lease.
    Busy,
    /// The sweep's time budget was spent before this hostname's turn; the
    /// next run takes it.
    Deferred,
}

/// What one sweep did, for its log line and the benchmark.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SweepReport {
    /// Hostnames the renewal index gave as due.
    pub due: usize,
    pub renewed: usize,
    pub in_progress: usize,
    pub awaiting_dns: usize,
    pub failed: usize,
    pub not_due: usize,
    pub busy: usize,
    /// Left for the next run: the sweep's time budget was spent.
    pub deferred: usize,
    /// Items read from the table by the sweep's renewal work (not by its
    /// figures: a fixed few reads per run).
    pub items_read: u64,
    pub elapsed_ms: u128,
    /// The figures published as its metrics.
    pub figures: crate::metrics::SweepFigures,
}

/// One run of the scheduled sweep: every due hostname, a bounded number at
/// a time, each as far as it gets before the sweep's time budget is spent.
#[tracing::instrument(name = "renewal_sweep", skip_all)]
pub async fn sweep(app: &App) -> Result<SweepReport, Error> {
    let started = Instant::now();
    let deadline = started + app.config.sweep_budget;
    let reads_before = app.store.items_read();
    let due = app
        .store
        .due_hostnames(Timestamp::now(), app.config.sweep_max_hostnames)
        .await?;
    let holder = lease::holder("sweep");
    let mut report = SweepReport {
        due: due.len(),
        ..Default::default()
    };
    let outcomes: Vec<(DomainName, Result<Outcome, Error>)> = stream::iter(due)
        .map(|domain| {
            let holder = &holder;
            async move {
                // Nothing new is started once the budget is spent, so the
                // sweep ends within its function's timeout.
                if Instant::now() >= deadline {
                    return (domain, Ok(Outcome::Deferred));
                }
                let outcome =
                    renew_hostname(app, &domain, holder, deadline, Trigger::Schedule).await;
                (domain, outcome)
            }
        })
        .buffer_unordered(app.config.sweep_concurrency)
        .collect()
        .await;
    for (domain, outcome) in outcomes {
        match outcome {
            Ok(Outcome::Renewed(_)) => report.renewed += 1,
            Ok(Outcome::InProgress(_)) => report.in_progress += 1,
            Ok(Outcome::AwaitingDns(_)) => report.awaiting_dns += 1,
            Ok(Outcome::Failed(_)) => report.failed += 1,
            Ok(Outcome::NotDue) => report.not_due += 1,
            Ok(Outcome::Busy) => report.busy += 1,
            Ok(Outcome::Deferred) => report.deferred += 1,
            Err(e) => {
                report.failed += 1;
                tracing::warn!(%domain, code = e.code().as_str(), error = %e, "renewal attempt failed");
            }
        }
    }
    // The renewal work's reads: the figures' own (a Query of the counts,
    // one item per shard of the overdue index) are a fixed few per run.
    report.items_read = app.store.items_read() - reads_before;
    report.figures = publish_figures(app, &report).await;
    report.elapsed_ms = started.elapsed().as_millis();
    tracing::info!(?report, "renewal sweep done");
    Ok(report)
}

/// The sweep's metrics (`crate::metrics::sweep`): what it did, the
/// hostnames by state (the product's counts, `domain::census`) and the
/// overdue certificates (the `Overdue` index), all read without a Scan. A
/// failed read leaves its figures out of this run's metrics (the
/// not-running alarm still sees the run).
async fn publish_figures(app: &App, report: &SweepReport) -> crate::metrics::SweepFigures {
    crate::metrics::job_run("renewal-sweep");
    let now = Timestamp::now();
    let (counts, overdue) = tokio::join!(
        app.store.hostname_counts(),
        app.store.overdue_certificates(now)
    );
    let mut figures = crate::metrics::SweepFigures {
        attempts_failed: report.failed,
        renewed: report.renewed,
        due: report.due,
        ..Default::default()
    };
    match counts {
        Ok(counts) => {
            figures.served = counts
                .iter()
                .filter(|(state, _)| state.is_served())
                .map(|(_, n)| n)
                .sum();
            figures.renewals_failing = counts
                .get(&crate::domain::census::CountedState::RenewalFailing)
                .copied()
                .unwrap_or(0);
            figures.hostnames = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        }
        Err(e) => tracing::warn!(error = %e, "could not read the hostname counts"),
    }
    match overdue {
        Ok((overdue, soonest)) => {
            figures.overdue = overdue;
            figures.days_to_soonest_expiry =
                soonest.map(|t| (t.unix() - now.unix()) as f64 / 86400.0);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the overdue certificates"),
    }
    crate::metrics::sweep(&figures);
    figures
}

/// What the renewal-sweep function did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum JobReport {
    Sweep(SweepReport),
    RenewNow(OperatorRenewal),
}

/// The renewal-sweep function's work for `event`: its schedule's event
/// sweeps; `{"renew_now": "<hostname>"}` (the platform's own invocation)
/// renews that hostname at once ([`operator_renew_now`]).
pub async fn run(app: &App, event: &serde_json::Value) -> Result<JobReport, Error> {
    match event.get("renew_now") {
        None => Ok(JobReport::Sweep(sweep(app).await?)),
        Some(serde_json::Value::String(name)) => Ok(JobReport::RenewNow(
            // The platform names a stored hostname, as stored.
            operator_renew_now(
                app,
                &DomainName::stored(name).map_err(|_| {
                    Error::validation(Code::InvalidDomain, format!("{name:?} is not a hostname"))
                })?,
            )
            .await?,
        )),
        Some(_) => Err(Error::validation(
            Code::InvalidJson,
            "`renew_now` names one hostname",
        )),
    }
}

/// What the operator's renew-now came to.
#[derive(Debug, Serialize)]
pub struct OperatorRenewal {
    pub domain: String,
    pub tenant_id: String,
    /// `renewed`, `in_progress`, `awaiting_dns` (the tenant's TXT record:
    /// `txt_record_name`/`txt_record_value`), `failed`, `not_due`, `busy`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txt_record_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txt_record_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
}

/// Renew-now on the platform's behalf, for any tenant's served hostname
/// (the renewal-sweep function invoked with `{"renew_now": "<hostname>"}`,
/// or `local-server renew <hostname>`): as the owner's renew-now, under the
/// hostname's lease, starting a new cycle of attempts.
#[tracing::instrument(name = "operator_renew_now", skip_all, fields(%domain))]
pub async fn operator_renew_now(app: &App, domain: &DomainName) -> Result<OperatorRenewal, Error> {
    let owner = app
        .store
        .owner_of(domain)
        .await?
        .ok_or_else(|| Error::NotFound(format!("{domain} is not claimed")))?;
    let mut report = OperatorRenewal {
        domain: domain.to_string(),
        tenant_id: owner.to_string(),
        outcome: "",
        txt_record_name: None,
        txt_record_value: None,
        not_after: None,
    };
    report.outcome = match renew_now(app, &owner, domain).await? {
        Outcome::Renewed(s) => {
            report.not_after = Some(s.certificate.not_after);
            "renewed"
        }
        Outcome::InProgress(_) => "in_progress",
        Outcome::AwaitingDns(o) => {
            report.txt_record_name = Some(o.challenge.txt_name.clone());
            report.txt_record_value = Some(o.challenge.txt_value.clone());
            "awaiting_dns"
        }
        Outcome::Failed(_) => "failed",
        Outcome::NotDue | Outcome::Deferred => "not_due",
        Outcome::Busy => "busy",
    };
    tracing::info!(outcome = report.outcome, "operator renew-now");
    Ok(report)
}

/// Renew-now: the owner asks for an immediate renewal of a served hostname.
#[tracing::instrument(name = "renew_now", skip_all, fields(%domain, tenant = %org))]
pub async fn renew_now(app: &App, org: &TenantId, domain: &DomainName) -> Result<Outcome, Error> {
    let records = app.store.load_hostname(domain).await?;
    let not_found = || {
        Error::NotFound(format!(
            "organisation {org} has no certificate for {domain}"
        ))
    };
    if !records.is_owned_by(org) {
        return Err(not_found());
    }
    if records.is_releasing() {
        return Err(crate::flows::hostname::release::releasing(domain));
    }
    let Some(served) = records.served.filter(|s| s.belongs_to(org)) else {
        return Err(if records.order.is_some() {
            Error::conflict(
                Code::NoCertificate,
                format!("{domain} has no served certificate yet; finish its first issuance with complete-certificate"),
            )
        } else {
            not_found()
        });
    };
    let renewal_in_flight = records
        .order
        .as_ref()
        .is_some_and(|o| o.purpose == Purpose::Renew && o.stage != Stage::Invalid);
    if !renewal_in_flight {
        let now = Timestamp::now();
        // A new order is needed. Within a failed renewal's backoff, asking
        // again would spend the shared account's orders on a refusal.
        if let Some(until) = served
            .renewal
            .not_before
            .filter(|t| *t > now && served.renewal.failures > 0 && !served.renewal.escalated)
        {
            return Err(Error::RateLimited {
                code: Code::RenewalBackoff,
                limit: None,
                message: format!(
                    "the last renewal of {domain} failed ({}); it is retried after {until}",
                    served
                        .renewal
                        .last_error
                        .as_deref()
                        .unwrap_or("no reason recorded")
                ),
                retry_after: now.until(until).max(Duration::from_secs(1)),
            });
        }
        if let Some(until) = served.duplicate_limit_until(now) {
            return Err(Error::RateLimited {
                code: Code::AcmeRateLimited,
                limit: None,
                message: format!(
                    "{domain} has had {} certificates in the last 7 days, Let's Encrypt's limit for one set of names; renew again after {until}",
                    served.recent_issuances(now).len()
                ),
                retry_after: now.until(until).max(Duration::from_secs(1)),
            });
        }
    }
    let holder = lease::holder("renew-now");
    let deadline = Instant::now() + app.config.time_budget;
    // A certificate of several names is renewed by its lead, for all.
    renew_hostname(app, served.lead(), &holder, deadline, Trigger::Now).await
}

/// complete-certificate on a hostname whose order in flight is a renewal:
/// the same machinery, under the same lease, as the sweep and renew-now.
pub async fn continue_renewal(app: &App, domain: &DomainName) -> Result<Outcome, Error> {
    let holder = lease::holder("complete");
    let deadline = Instant::now() + app.config.time_budget;
    renew_hostname(app, domain, &holder, deadline, Trigger::Continue).await
}

/// Renews `domain` under its lease, as far as `deadline` allows.
#[tracing::instrument(name = "renewal", skip_all, fields(%domain, ?trigger))]
pub async fn renew_hostname(
    app: &App,
    domain: &DomainName,
    holder: &str,
    deadline: Instant,
    trigger: Trigger,
) -> Result<Outcome, Error> {
    let hold = deadline
        .saturating_duration_since(Instant::now())
        .max(app.config.time_budget)
        + app.config.lease_grace;
    let lease = Lease {
        domain,
        holder,
        hold,
        unreturned: "could not release the renewal lease; it expires by itself",
    };
    // Every CA request of the renewal (its new order, the ARI re-check, the
    // order driven) within the budget: a slow CA holds no sweep.
    let leased = || {
        crate::adapters::acme::within(
            deadline + crate::flows::acme::driver::CA_GRACE,
            renew_leased(app, domain, deadline, trigger),
        )
    };
    let outcome = match with_lease(app, lease, leased).await? {
        Some(outcome) => outcome,
        None => Outcome::Busy,
    };
    // Every name of the renewed certificate has a new one to tell of.
    if let Outcome::Renewed(served) = &outcome {
        for name in served.certificate_names() {
            crate::flows::hostname::announce::announce(app, &name, None).await;
        }
    }
    Ok(outcome)
}

async fn renew_leased(
    app: &App,
    domain: &DomainName,
    deadline: Instant,
    trigger: Trigger,
) -> Result<Outcome, Error> {
    let mut records = app.store.load_hostname(domain).await?;
    let now = Timestamp::now();
    // Released, not served, or renewed under its certificate's lead.
    if records.renewal_step(now, trigger) == RenewalStep::NotMine {
        return Ok(Outcome::NotDue);
    }
    let Some(mut served) = records.served.take() else {
        return Ok(Outcome::NotDue);
    };
    let label = records
        .owner
        .as_ref()
        .and_then(|o| o.delegation_label.clone());
    if trigger == Trigger::Schedule && served.renewal.window_recheck_at.is_some_and(|t| t <= now) {
        recheck_window(app, &mut served, now).await?;
    }
    if trigger == Trigger::Now && served.renewal.escalated {
        // Asked again after the renewal escalated: a new cycle of attempts.
        served.renewal.restart_cycle();
        app.store.save_served(&mut served).await?;
    }
    records.served = Some(served.clone());
    let step = records.renewal_step(now, trigger);
    let in_flight = records.order.take();
    let order = match (step, in_flight) {
        (RenewalStep::Continue, Some(o)) => {
            if o.stage.order_in_flight() && !order_still_usable(app, &o).await? {
                // The CA dropped the order (expired, or forgotten): a new
                // one (with a new TXT value for a tenant that is not
                // delegated), rather than failing on it for ever.
                new_renewal_order(app, &served, Some(o.version), label.clone()).await?
            } else {
                o
            }
        }
        (RenewalStep::NewOrder | RenewalStep::CancelAddingNamesThenRenew, stale) => {
            let stale = match (step, stale) {
                (RenewalStep::CancelAddingNamesThenRenew, Some(o)) => {
                    tracing::info!("ending an unfinished order that added names, for the renewal");
                    app.store.cancel_order(&o).await?;
                    None
                }
                (_, stale) => stale,
            };
            match new_renewal_order(app, &served, stale.as_ref().map(|o| o.version), label).await {
                Ok(o) => {
                    served.renewal.started(now);
                    app.store.save_served(&mut served).await?;
                    o
                }
                Err(e) => {
                    if let Some(wait) = rate_limit_wait(&e) {
                        // The CA's limit (or ours of it) is no failure of
                        // this hostname's: tried again once it has passed.
                        served.renewal.hold_until(now.plus(wait));
                        app.store.save_served(&mut served).await?;
                    } else {
                        record_failure(app, &mut served, &e, trigger).await?;
                    }
                    return Err(e);
                }
            }
        }
        _ => return Ok(Outcome::NotDue),
    };
    match drive(app, order, Some(served.clone()), deadline).await {
        Ok(Driven::Done(renewed)) => Ok(Outcome::Renewed(renewed)),
        Ok(Driven::InProgress(o)) => Ok(Outcome::InProgress(o)),
        Ok(Driven::Invalid(o)) => {
            let reason = o
                .failure
                .clone()
                .unwrap_or_else(|| "the order became invalid".into());
            served.renewal.ended();
            record_refusal(app, &mut served, &reason, trigger).await?;
            Ok(Outcome::Failed(o))
        }
        // complete-certificate's caller should have published the record.
        Ok(Driven::AwaitingDns { missing, .. }) if trigger == Trigger::Continue => Err(missing),
        Ok(Driven::AwaitingDns { order, .. }) => {
            served
                .renewal
                .hold_until(now.plus(app.config.renewal.dns_recheck));
            app.store.save_served(&mut served).await?;
            let mut waiting = *order;
            if trigger == Trigger::Schedule {
                // Renew-now's caller is shown the record in the answer.
                notify_dns_action(app, &served, &mut waiting).await;
            }
            Ok(Outcome::AwaitingDns(Box::new(waiting)))
        }
        // A precondition the caller of complete-certificate or renew-now
        // must meet is answered to them; the sweep records it as a failure
        // (CAA forbids the CA, say), so the hostname's place in the due
        // index moves with the backoff and cannot hold the head of a shard.
        Err(e @ Error::Precondition { .. }) if trigger != Trigger::Schedule => Err(e),
        // DNS not there yet everywhere: looked at again later, not counted.
        Err(
            e @ Error::Precondition {
                code: Code::DnsNotPropagated | Code::DnsRecordMissing,
                ..
            },
        ) => {
            served
                .renewal
                .hold_until(now.plus(app.config.renewal.dns_recheck));
            app.store.save_served(&mut served).await?;
            Err(e)
        }
        // An AWS request that ended at its timeout is no failure of the
        // renewal's: the order keeps its saved stage and the next call (or
        // sweep) goes on, as when the budget runs out.
        Err(e) if e.is_timeout() => {
            tracing::warn!(domain = %served.domain, error = %e, "an AWS request timed out; the renewal goes on next time");
            match app.store.load_hostname(&served.domain).await?.order {
                Some(o) => Ok(Outcome::InProgress(Box::new(o))),
                None => Err(e),
            }
        }
        Err(e) if rate_limit_wait(&e).is_some() => {
            let wait = rate_limit_wait(&e).unwrap_or_default();
            served.renewal.hold_until(now.plus(wait));
            app.store.save_served(&mut served).await?;
            Err(e)
        }
        Err(e) => {
            // The order keeps its stage (an issued certificate stays saved);
            // the next attempt resumes from there after the backoff.
            record_failure(app, &mut served, &e, trigger).await?;
            Err(e)
        }
    }
}

/// Tells the platform, once per order, that a renewal waits for the
/// tenant's TXT record (so it can e-mail the tenant). A failure is logged and
/// tried again at the next look, since the order then still has no
/// `notified_at`.
async fn notify_dns_action(app: &App, served: &ServedCertificate, order: &mut AcmeOrder) {
    if order.notified_at.is_some() {
        return;
    }
    let standing = crate::flows::hostname::announce::standing_now(app, &served.domain).await;
    if let Err(e) = app.events.renewal_needs_dns(standing, served, order).await {
        tracing::warn!(domain = %order.domain, error = %e, "could not send the renewal-needs-DNS event");
        return;
    }
    order.notified_at = Some(Timestamp::now());
    if let Err(e) = app.store.save_order(order).await {
        tracing::warn!(domain = %order.domain, error = %e, "could not record the renewal-needs-DNS event");
    }
}

async fn new_renewal_order(
    app: &App,
    served: &ServedCertificate,
    replacing: Option<u64>,
    delegation_label: Option<String>,
) -> Result<AcmeOrder, Error> {
    let new = NewOrder {
        distribution_id: Some(served.distribution_id.clone()),
        edge: served.edge,
        replacing,
        purpose: Purpose::Renew,
        replaces: served.ari_id.as_deref(),
        // The certificate's own profile, whatever the default is now (none:
        // the CA's default, as it was issued).
        profile: served.profile.clone(),
        delegation_label,
        // A certificate of several names is renewed for all of them, under
        // its lead; names already on it need a record only when the CA asks
        // for a validation.
        names: match served.is_shared() {
            true => std::iter::once(served.domain.clone())
                .chain(
                    served
                        .names
                        .iter()
                        .filter(|n| **n != served.domain)
                        .cloned(),
                )
                .collect(),
            false => Vec::new(),
        },
        on_certificate: match served.is_shared() {
            true => served.names.clone(),
            false => Vec::new(),
        },
    };
    place_order(app, &served.org_id, &served.domain, new).await
}

/// How long to hold off when `e` is the CA's rate limit (its own 429, or
/// the product's ledger of its limits).
fn rate_limit_wait(e: &Error) -> Option<Duration> {
    match e {
        Error::RateLimited {
            code: Code::AcmeRateLimited,
            limit: None,
            retry_after,
            ..
        } => Some(*retry_after),
        _ => None,
    }
}

/// A failed attempt: one cut short by something passing (a throttle, a
/// 5xx, a timeout: [`Error::is_transient`]) is retried after the backoff
/// without being counted; any other is a refusal ([`record_refusal`]).
async fn record_failure(
    app: &App,
    served: &mut ServedCertificate,
    e: &Error,
    trigger: Trigger,
) -> Result<(), Error> {
    if !e.is_transient() {
        return record_refusal(app, served, &e.public_message(), trigger).await;
    }
    served
        .renewal
        .interrupted(&e.public_message(), &app.config.renewal, Timestamp::now());
    tracing::warn!(
        domain = %served.domain,
        failures = served.renewal.failures,
        error = %e,
        "renewal interrupted (not counted as a failure); retried after the backoff"
    );
    app.store.save_served(served).await?;
    remind(app, served, trigger).await
}

/// A refused attempt: counted and backed off. After
/// `RENEWAL_MAX_ATTEMPTS` in one cycle the renewal escalates: the platform
/// is told (one `Renewal failing` event) and the status route names it,
/// while the sweep keeps retrying at the capped interval until it
/// succeeds. An escalated renewal reminds the platform again at each of
/// [`REMINDER_LEAD_DAYS`](crate::domain::REMINDER_LEAD_DAYS) before `not_after`.
async fn record_refusal(
    app: &App,
    served: &mut ServedCertificate,
    reason: &str,
    trigger: Trigger,
) -> Result<(), Error> {
    let now = Timestamp::now();
    let escalates = served.renewal.failed(reason, &app.config.renewal, now);
    tracing::warn!(
        domain = %served.domain,
        failures = served.renewal.failures,
        escalates,
        reason,
        "renewal failed; the current certificate stays served"
    );
    if escalates {
        // The reminders count from here: none is due for the lead times
        // already passed.
        served
            .renewal
            .reminder_due(served.certificate.not_after, now);
    }
    app.store.save_served(served).await?;
    // The sweep tells the platform; renew-now and complete-certificate
    // answer their caller instead.
    if escalates && trigger == Trigger::Schedule {
        send_failing(app, served).await;
        return Ok(());
    }
    remind(app, served, trigger).await
}

/// The `Renewal failing` reminder of an escalated renewal, when one of
/// [`REMINDER_LEAD_DAYS`](crate::domain::REMINDER_LEAD_DAYS) before expiry has been reached (once each).
async fn remind(app: &App, served: &mut ServedCertificate, trigger: Trigger) -> Result<(), Error> {
    if trigger != Trigger::Schedule {
        return Ok(());
    }
    let not_after = served.certificate.not_after;
    if let Some(days) = served.renewal.reminder_due(not_after, Timestamp::now()) {
        app.store.save_served(served).await?;
        tracing::warn!(domain = %served.domain, days, "renewal still failing as expiry nears");
        send_failing(app, served).await;
    }
    Ok(())
}

async fn send_failing(app: &App, served: &ServedCertificate) {
    let standing = crate::flows::hostname::announce::standing_now(app, &served.domain).await;
    if let Err(e) = app.events.renewal_failing(standing, served).await {
        tracing::warn!(domain = %served.domain, error = %e, "could not send the renewal-failing event");
    }
}

/// Asks the CA for the certificate's ARI window again. A changed window
/// re-picks the renewal time inside it.
async fn recheck_window(
    app: &App,
    served: &mut ServedCertificate,
    now: Timestamp,
) -> Result<(), Error> {
    match app.acme.renewal_window(&served.certificate.chain_pem).await {
        Ok(Some(w)) => {
            let window = Window {
                start: w.start,
                end: w.end,
            };
            let renew = (served.renewal.window != Some(window)).then(|| {
                app.config.renewal.renew_time(
                    served.certificate.not_before,
                    served.certificate.not_after,
                    Some(&window),
                    served.delegated,
                    random_unit(),
                )
            });
            if let Some((at, _)) = renew {
                tracing::info!(domain = %served.domain, renew_after = %at, "the CA's renewal window changed");
            }
            let recheck = now.plus(w.retry_after.max(MIN_ARI_RECHECK));
            served
                .renewal
                .window_read(Some(window), renew, Some(recheck));
        }
        Ok(None) => served.renewal.window_read(None, None, None),
        Err(e) => {
            tracing::warn!(domain = %served.domain, error = %e, "could not read the renewal window");
            let recheck = now.plus(Duration::from_secs(3600));
            served.renewal.window_read(None, None, Some(recheck));
        }
    }
    app.store.save_served(served).await
}
