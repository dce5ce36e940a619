//! The hostname's lease: one call at a time works on a hostname's
//! certificate or its release (complete-certificate, the renewals, the
//! release), so two calls never import, order or detach at once. The lease
//! is a conditional write with an expiry (the store's `LEASE` item): a call
//! takes it, runs, and gives it back; a lease it cannot give back is logged
//! and expires by itself.

use std::future::Future;
use std::time::Duration;

use crate::app::App;
use crate::domain::{DomainName, Timestamp};
use crate::error::Error;
use crate::random::random_unit;

/// A lease holder's id: what holds it (`kind`: `complete`, `sweep`,
/// `renew-now`, `release`) and a random part.
pub(crate) fn holder(kind: &str) -> String {
    format!("{kind}-{:016x}", (random_unit() * 2f64.powi(53)) as u64)
}

/// The terms of one lease.
pub(crate) struct Lease<'a> {
    pub domain: &'a DomainName,
    pub holder: &'a str,
    /// How long it holds if it is never given back.
    pub hold: Duration,
    /// Logged when it cannot be given back.
    pub unreturned: &'static str,
}

impl<'a> Lease<'a> {
    /// The lease of one route call: held for the call's budget and its
    /// grace (`COMPLETE_TIME_BUDGET_MS`, `LEASE_GRACE`), then expiring by
    /// itself.
    pub(crate) fn for_a_call(
        app: &crate::app::App,
        domain: &'a DomainName,
        holder: &'a str,
    ) -> Self {
        Lease {
            domain,
            holder,
            hold: app.config.time_budget + app.config.lease_grace,
            unreturned: "could not give the lease back; it expires by itself",
        }
    }
}

/// Runs `run` under `lease` and gives the lease back, whatever `run`
/// answers. `None`: another holder has the lease, and nothing ran.
pub(crate) async fn with_lease<T, F, Fut>(
    app: &App,
    lease: Lease<'_>,
    run: F,
) -> Result<Option<T>, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    with_lease_unless_gone(app, lease, run, |_| false).await
}

/// As [`with_lease`], except that the lease is not given back when
/// `gone(&answer)`: the work itself deleted it (a finished release deletes
/// every record of the hostname, its lease included).
pub(crate) async fn with_lease_unless_gone<T, F, Fut>(
    app: &App,
    lease: Lease<'_>,
    run: F,
    gone: impl FnOnce(&Result<T, Error>) -> bool,
) -> Result<Option<T>, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    if !app
        .store
        .take_lease(
            lease.domain,
            lease.holder,
            Timestamp::now().plus(lease.hold),
        )
        .await?
    {
        return Ok(None);
    }
    // The work's future is made only now: it is not carried while the lease
    // is taken.
    let result = run().await;
    if !gone(&result) {
        if let Err(e) = app.store.release_lease(lease.domain, lease.holder).await {
            tracing::warn!(domain = %lease.domain, error = %e, "{}", lease.unreturned);
        }
    }
    result.map(Some)
}
