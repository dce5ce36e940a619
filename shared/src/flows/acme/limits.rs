//! The CA's rate limits, kept by the product itself. One ACME account
//! serves every tenant, so a limit the CA enforces per account, per
//! registered domain or per name is met by all of them together; a call that
//! would pass one is refused here, before the CA is asked (which would
//! refuse it too, after spending an order or a validation attempt), with
//! `429 acme_rate_limited`, the limit's name and when a place frees up.
//!
//! | limit (`details.limit`) | window | counted when | checked before |
//! |---|---|---|---|
//! | `new_orders` (per account) | 3 h | an order is placed | placing an order |
//! | `certificates_per_domain` (per registered domain, from the Public Suffix List) | 7 days | a certificate is issued | placing an order |
//! | `duplicates` (per exact set of names) | 7 days | a certificate is issued | placing an order |
//! | `failed_validations` (per name) | 1 h | an order fails | answering a challenge |
//!
//! Each is a sliding window of event times on one item of the directory's
//! ledger, written conditionally on what was read (the store owns the
//! items: [`Store::ca_limit_window`](crate::adapters::store::Store::ca_limit_window)).
//! Renewals sent with ARI's `replaces` are exempt from the first three, as
//! they are at Let's Encrypt. The values are `config::AcmeLimits` (Let's
//! Encrypt's published ones by default).

use std::time::Duration;

use crate::adapters::store::CaCounter;
use crate::app::App;
use crate::domain::{DomainName, Timestamp};
use crate::error::Code;
use crate::error::Error;

const HOUR: Duration = Duration::from_secs(3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The window of `counter` on the ledger of this deployment's ACME
/// directory: `Some((count, frees))` when `limit` events are already in it.
async fn window(
    app: &App,
    counter: CaCounter<'_>,
    limit: u32,
    within: Duration,
    take: bool,
) -> Result<Option<(usize, Timestamp)>, Error> {
    app.store
        .ca_limit_window(&app.config.acme_directory_url, counter, limit, within, take)
        .await
}

/// The registered domain a name counts against (the name itself when the
/// Public Suffix List knows no suffix for it).
pub fn registered_domain(domain: &DomainName) -> String {
    psl::domain_str(domain.as_str())
        .unwrap_or(domain.as_str())
        .to_owned()
}

fn refused(limit: &'static str, what: String, count: usize, frees: Timestamp) -> Error {
    Error::RateLimited {
        code: Code::AcmeRateLimited,
        limit: Some(limit),
        message: format!(
            "the certificate authority's limit of {what} is reached ({count} already, counted by this product for its one ACME account); nothing was asked of it; try again after {frees}"
        ),
        retry_after: Timestamp::now()
            .until(frees)
            .max(Duration::from_secs(1)),
    }
}

/// Before an order for `domain` is placed: refuses when a certificate for
/// it would pass the per-domain or duplicate limits, then takes a place in
/// the account's new-order window. An ARI renewal (`replaces`) is exempt.
pub async fn before_new_order(app: &App, domain: &DomainName, replaces: bool) -> Result<(), Error> {
    if replaces {
        return Ok(());
    }
    let limits = app.config.acme_limits;
    if let Some(limit) = limits.certificates_per_domain {
        let registered = registered_domain(domain);
        let counter = CaCounter::CertificatesPerDomain(&registered);
        if let Some((count, frees)) = window(app, counter, limit, WEEK, false).await? {
            return Err(refused(
                "certificates_per_domain",
                format!("{limit} certificates per registered domain ({registered}) per 7 days"),
                count,
                frees,
            ));
        }
    }
    if let Some(limit) = limits.duplicates {
        let counter = CaCounter::Duplicates(domain);
        if let Some((count, frees)) = window(app, counter, limit, WEEK, false).await? {
            return Err(refused(
                "duplicates",
                format!("{limit} certificates for the same names ({domain}) per 7 days"),
                count,
                frees,
            ));
        }
    }
    if let Some(limit) = limits.new_orders {
        if let Some((count, frees)) =
            window(app, CaCounter::NewOrders, limit, 3 * HOUR, true).await?
        {
            return Err(refused(
                "new_orders",
                format!("{limit} new orders per account per 3 hours"),
                count,
                frees,
            ));
        }
    }
    Ok(())
}

/// A certificate for `domain` was issued: counted against its registered
/// domain and its set of names (an ARI renewal is exempt).
pub async fn issued(app: &App, domain: &DomainName, replaces: bool) -> Result<(), Error> {
    if replaces {
        return Ok(());
    }
    let limits = app.config.acme_limits;
    // Counted even past the limit: the CA issued it.
    if limits.certificates_per_domain.is_some() {
        let registered = registered_domain(domain);
        let counter = CaCounter::CertificatesPerDomain(&registered);
        window(app, counter, u32::MAX, WEEK, true).await?;
    }
    if limits.duplicates.is_some() {
        window(app, CaCounter::Duplicates(domain), u32::MAX, WEEK, true).await?;
    }
    Ok(())
}

/// Before a challenge for `domain` is answered: refuses when the name has
/// failed validation too often in the last hour.
pub async fn before_validation(app: &App, domain: &DomainName) -> Result<(), Error> {
    let Some(limit) = app.config.acme_limits.failed_validations else {
        return Ok(());
    };
    let counter = CaCounter::FailedValidations(domain);
    if let Some((count, frees)) = window(app, counter, limit, HOUR, false).await? {
        return Err(refused(
            "failed_validations",
            format!("{limit} failed validations per name ({domain}) per hour"),
            count,
            frees,
        ));
    }
    Ok(())
}

/// An order for `domain` failed (its validation, as the CA counts it).
pub async fn validation_failed(app: &App, domain: &DomainName) -> Result<(), Error> {
    if app.config.acme_limits.failed_validations.is_none() {
        return Ok(());
    }
    let counter = CaCounter::FailedValidations(domain);
    window(app, counter, u32::MAX, HOUR, true).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_count_against_their_registered_domain() {
        let d = |s: &str| DomainName::parse(s).unwrap();
        assert_eq!(registered_domain(&d("shop.example.com")), "example.com");
        assert_eq!(registered_domain(&d("a.b.example.co.uk")), "example.co.uk");
        assert_eq!(
            registered_domain(&d("tenant.github.io")),
            "tenant.github.io"
        );
    }
}
