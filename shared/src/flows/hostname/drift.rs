//! Drift: the scheduled `drift-check` run. Each live hostname is resolved
//! now and then to see that it still points at its edge (see
//! `domain::drift` for the states), and, where its `_acme-challenge`
//! is delegated, that the CNAME is still in place.
//!
//! The run reads the hostnames due from the sparse `DriftCheck` index
//! (O(due), never a Scan), at most `SWEEP_MAX_HOSTNAMES`, `SWEEP_CONCURRENCY`
//! at a time, and starts nothing once `SWEEP_BUDGET_MS` is spent: what is
//! left is still due for the next run. A pointing hostname is checked every
//! `DRIFT_CHECK_INTERVAL_HOURS` (one that is not, hourly), so the work is
//! spread over runs. Every state change is saved (conditional on the version
//! read) and emitted as an EventBridge event; a hostname misconfigured for
//! longer than `DRIFT_GRACE_HOURS` is released as its owner's release would
//! (`flows::hostname::release`), over as many runs as that takes.

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use super::announce::Deployed;
use crate::app::App;
use crate::domain::drift::Verdict;
use crate::domain::{DomainName, Timestamp};
use crate::error::Error;

/// What one run did, for its log line.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Hostnames the drift index gave as due.
    pub due: usize,
    pub pointed: usize,
    pub awaiting_dns: usize,
    pub misconfigured: usize,
    /// Released for drift in this run (or their release continued).
    pub detached: usize,
    /// No answer in time, or an error: checked again later.
    pub unknown: usize,
    /// Left for the next run: the budget was spent.
    pub deferred: usize,
    pub items_read: u64,
    pub elapsed_ms: u128,
}

enum Checked {
    State(crate::domain::Pointing),
    Detached,
    Unknown,
    Deferred,
    Gone,
}

#[tracing::instrument(name = "drift_check", skip_all)]
pub async fn drift_check(app: &App) -> Result<CheckReport, Error> {
    let started = Instant::now();
    let deadline = started + app.config.sweep_budget;
    let reads_before = app.store.items_read();
    let due = app
        .store
        .due_dns_checks(Timestamp::now(), app.config.sweep_max_hostnames)
        .await?;
    let mut report = CheckReport {
        due: due.len(),
        ..Default::default()
    };
    let outcomes: Vec<(DomainName, Result<Checked, Error>)> = stream::iter(due)
        .map(|domain| async move {
            if Instant::now() >= deadline {
                return (domain, Ok(Checked::Deferred));
            }
            // Boxed: the check (which may release) is a deep future, and
            // the stream holds several.
            let outcome = Box::pin(check_hostname(app, &domain, deadline)).await;
            (domain, outcome)
        })
        .buffer_unordered(app.config.sweep_concurrency)
        .collect()
        .await;
    for (domain, outcome) in outcomes {
        use crate::domain::Pointing;
        match outcome {
            Ok(Checked::State(Pointing::Pointed)) => report.pointed += 1,
            Ok(Checked::State(Pointing::AwaitingDns)) => report.awaiting_dns += 1,
            Ok(Checked::State(Pointing::Misconfigured)) => report.misconfigured += 1,
            Ok(Checked::Detached) => report.detached += 1,
            Ok(Checked::Unknown) | Ok(Checked::Gone) => report.unknown += 1,
            Ok(Checked::Deferred) => report.deferred += 1,
            Err(e) => {
                report.unknown += 1;
                tracing::warn!(%domain, code = e.code().as_str(), error = %e, "DNS check failed");
            }
        }
    }
    report.items_read = app.store.items_read() - reads_before;
    report.elapsed_ms = started.elapsed().as_millis();
    tracing::info!(?report, "DNS checks done");
    crate::metrics::job_run("drift-check");
    crate::metrics::drift_check(
        report.due - report.deferred,
        report.misconfigured,
        report.detached,
    );
    Ok(report)
}

#[tracing::instrument(name = "drift", skip_all, fields(%domain))]
async fn check_hostname(
    app: &App,
    domain: &DomainName,
    deadline: Instant,
) -> Result<Checked, Error> {
    let records = app.store.load_hostname(domain).await?;
    let (Some(mut health), Some(owner)) = (records.dns.clone(), records.owner.clone()) else {
        return Ok(Checked::Gone);
    };
    if owner.releasing_since.is_some() {
        // A release under way (this run's detach, or the owner's): carried
        // on, so a detach started in an earlier run finishes.
        // Boxed: a release is a deep future of its own.
        let released = Box::pin(crate::flows::hostname::release::release_domain(
            app,
            &owner.tenant_id,
            domain,
        ))
        .await;
        if !matches!(&released, Ok(r) if r.done()) {
            // Not done yet: looked at again in a few minutes, not at the
            // head of every run.
            health.check_at = Timestamp::now().plus(std::time::Duration::from_secs(600));
            if let Err(e) = app.store.save_drift_check(&mut health).await {
                tracing::debug!(error = %e, "could not push the next check back");
            }
        }
        released?;
        return Ok(Checked::Detached);
    }
    let now = Timestamp::now();
    let Some(expected) = health.expected.clone() else {
        tracing::warn!(edge = %health.edge_id, "no DNS target is known for the hostname; checked again later");
        health.check_at = now.plus(app.config.drift_check_interval);
        app.store.save_drift_check(&mut health).await?;
        return Ok(Checked::Unknown);
    };
    let Some(seen) = app
        .dns
        .points_at(domain.as_str(), &expected, deadline)
        .await
    else {
        health.check_at = now.plus(std::time::Duration::from_secs(3600));
        app.store.save_drift_check(&mut health).await?;
        return Ok(Checked::Unknown);
    };
    let delegation_before = health.delegation_missing_since;
    check_delegation(app, &records, &mut health, now).await;
    let grace = app.config.drift_grace;
    let verdict = health.observe(seen, now, app.config.drift_check_interval, grace);
    app.store.save_drift_check(&mut health).await?;
    let delegation_changed =
        delegation_before.is_some() != health.delegation_missing_since.is_some();
    // Pointed at the shared edge: an ACME hostname there moves to a
    // CloudFront-managed certificate (`HANDOFF_TO_MANAGED`), which needs
    // that to validate; a hand-off under way is carried on.
    if health.state == crate::domain::Pointing::Pointed && !matches!(verdict, Verdict::Detach) {
        if let Err(e) = Box::pin(crate::flows::managed::hand_off(app, domain, &records)).await {
            tracing::warn!(error = %e, "the hand-off to a managed certificate did not go on; tried again at the next check");
        }
    }
    match verdict {
        Verdict::Detach => {
            tracing::warn!(tenant = %health.tenant_id, found = ?health.found, "misconfigured past its grace period: detaching");
            let standing = super::announce::standing(domain, &records);
            if let Err(e) = app.events.detached(standing, &health).await {
                tracing::warn!(error = %e, "could not emit the detach event");
            }
            Box::pin(crate::flows::hostname::release::release_domain(
                app,
                &owner.tenant_id,
                domain,
            ))
            .await?;
            Ok(Checked::Detached)
        }
        Verdict::Changed(from) => {
            tracing::info!(
                from = from.as_str(),
                to = health.state.as_str(),
                "hostname DNS changed"
            );
            emit(app, &records, &health, from, grace).await;
            super::announce::announce_seen(app, domain, &records, Deployed::Ask).await;
            Ok(Checked::State(health.state))
        }
        Verdict::Unchanged => {
            if delegation_changed {
                emit(app, &records, &health, health.state, grace).await;
            }
            super::announce::announce_seen(app, domain, &records, Deployed::Ask).await;
            Ok(Checked::State(health.state))
        }
    }
}

async fn emit(
    app: &App,
    records: &crate::domain::HostnameRecords,
    health: &crate::domain::DriftCheck,
    from: crate::domain::Pointing,
    grace: std::time::Duration,
) {
    let standing = super::announce::standing(&health.domain, records);
    if let Err(e) = app
        .events
        .dns_changed(standing, health, from, health.detach_at(grace))
        .await
    {
        tracing::warn!(domain = %health.domain, error = %e, "could not emit the DNS change event");
    }
}

/// For a delegated hostname (its served certificate validated through the
/// delegation zone): is `_acme-challenge.<host>` still a CNAME to its
/// target? Recorded; renewals then need the tenant's TXT record again.
async fn check_delegation(
    app: &App,
    records: &crate::domain::HostnameRecords,
    health: &mut crate::domain::DriftCheck,
    now: Timestamp,
) {
    let (Some(zone), Some(served), Some(owner)) =
        (&app.delegation, &records.served, &records.owner)
    else {
        return;
    };
    let Some(label) = owner
        .delegation_label
        .as_deref()
        .filter(|_| served.delegated)
    else {
        return;
    };
    let target = zone.target(label);
    let name = format!("_acme-challenge.{}", health.domain);
    let seen = app.dns.observe_cname(&name).await;
    if !seen.is_empty() && seen.iter().all(|o| o.error.is_some()) {
        return; // no resolver answered: nothing learnt
    }
    let in_place = seen.iter().any(|o| o.targets.contains(&target));
    if in_place {
        health.delegation_missing_since = None;
    } else {
        health.delegation_missing_since.get_or_insert(now);
    }
}
