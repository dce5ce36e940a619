//! Sliding-window counters: the times of recent events, kept on one item
//! and written through the optimistic lock. This module owns the CA's
//! limits, counted per ACME directory (`pk = ACME_LIMITS#<directory URL>`,
//! one item per [`CaCounter`]); a tenant's new-hostname limit (`tenants`)
//! uses the same window. Which limits apply, and when, is
//! `flows::acme::limits`.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::versioned::Expected;
use super::{concurrent_writer, s, Item, Store};
use crate::domain::{DomainName, Timestamp};
use crate::error::Error;

/// One of the CA's limits, as counted on a directory's ledger.
#[derive(Clone, Copy, Debug)]
pub enum CaCounter<'a> {
    /// Orders the account placed.
    NewOrders,
    /// Certificates issued under one registered domain.
    CertificatesPerDomain(&'a str),
    /// Certificates issued for one set of names (named by its lead).
    Duplicates(&'a DomainName),
    /// Failed validations of one name.
    FailedValidations(&'a DomainName),
}

impl CaCounter<'_> {
    /// The counter's item on the ledger.
    fn sort_key(self) -> String {
        match self {
            Self::NewOrders => "NEW_ORDERS".to_owned(),
            Self::CertificatesPerDomain(registered) => format!("DOMAIN#{registered}"),
            Self::Duplicates(domain) => format!("NAMES#{domain}"),
            Self::FailedValidations(domain) => format!("FAILED#{domain}"),
        }
    }
}

impl Store {
    /// One of the CA's limits on the ledger of the ACME directory
    /// `directory` (a sliding window on that counter's item). With `limit`
    /// events already within `window`, answers how many and when the oldest
    /// leaves it, changing nothing; otherwise, when `take`, counts one more
    /// now, conditional on what was read.
    pub async fn ca_limit_window(
        &self,
        directory: &str,
        counter: CaCounter<'_>,
        limit: u32,
        window: Duration,
        take: bool,
    ) -> Result<Option<(usize, Timestamp)>, Error> {
        let pk = s(format!("ACME_LIMITS#{directory}"));
        self.window(pk, &counter.sort_key(), limit, window, take)
            .await
    }

    /// How many events `counter` holds within `window` on the ledger of
    /// `directory` (one read; the operator's usage figures).
    pub async fn ca_limit_used(
        &self,
        directory: &str,
        counter: CaCounter<'_>,
        window: Duration,
    ) -> Result<usize, Error> {
        let pk = s(format!("ACME_LIMITS#{directory}"));
        let item = self.get(pk, &counter.sort_key()).await?;
        let now = Timestamp::now();
        Ok(recent_times(item.as_ref())
            .into_iter()
            .filter(|t| now.minus(window) < *t)
            .count())
    }

    /// A sliding-window counter on one item (`pk`, `sk`): the times of the
    /// events within `window`. With `limit` of them already, answers how
    /// many and when the oldest leaves the window (`Some`), changing
    /// nothing; otherwise, when `take`, records one more now, conditional on
    /// what was read, so concurrent callers cannot both take the last place.
    pub(super) async fn window(
        &self,
        pk: AttributeValue,
        sk: &str,
        limit: u32,
        window: Duration,
        take: bool,
    ) -> Result<Option<(usize, Timestamp)>, Error> {
        // One item counts every hostname under a registered domain, so
        // many issuances at once race on it: each lost race is read again
        // after a short jittered wait, which spreads the writers out.
        for attempt in 0..10u32 {
            if attempt > 0 {
                let wait = Duration::from_millis(10 * u64::from(attempt));
                tokio::time::sleep(wait.mul_f64(0.5 + crate::random::random_unit())).await;
            }
            let item = self.get(pk.clone(), sk).await?;
            let now = Timestamp::now();
            let mut recent: Vec<Timestamp> = recent_times(item.as_ref())
                .into_iter()
                .filter(|t| now.minus(window) < *t)
                .collect();
            recent.sort();
            if recent.len() >= limit as usize {
                let frees = recent[recent.len() - limit as usize].plus(window);
                return Ok(Some((recent.len(), frees)));
            }
            if !take {
                return Ok(None);
            }
            recent.push(now);
            let started: Vec<AttributeValue> = recent.iter().map(|t| s(t.to_string())).collect();
            let version = match item.as_ref().and_then(|i| i.get("version")) {
                Some(AttributeValue::N(n)) => n.parse::<u64>().unwrap_or(0),
                _ => 0,
            };
            let expected = match &item {
                None => Expected::Absent,
                Some(_) => Expected::Version(version),
            };
            let counter = Item::from([
                ("pk".to_owned(), pk.clone()),
                ("sk".to_owned(), s(sk)),
                ("started".to_owned(), AttributeValue::L(started)),
                (
                    "version".to_owned(),
                    AttributeValue::N((version + 1).to_string()),
                ),
            ]);
            if self
                .send_locked(self.locked_put(counter, expected)?)
                .await?
            {
                return Ok(None);
            }
        }
        Err(concurrent_writer())
    }
}

/// The event times a window counter's item holds.
fn recent_times(item: Option<&Item>) -> Vec<Timestamp> {
    match item.and_then(|i| i.get("started")) {
        Some(AttributeValue::L(l)) => l
            .iter()
            .filter_map(|v| match v {
                AttributeValue::S(t) => Timestamp::parse(t).ok(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_has_its_own_item_on_the_ledger() {
        let d = DomainName::parse("shop.example.com").unwrap();
        assert_eq!(CaCounter::NewOrders.sort_key(), "NEW_ORDERS");
        assert_eq!(
            CaCounter::CertificatesPerDomain("example.com").sort_key(),
            "DOMAIN#example.com"
        );
        assert_eq!(
            CaCounter::Duplicates(&d).sort_key(),
            "NAMES#shop.example.com"
        );
        assert_eq!(
            CaCounter::FailedValidations(&d).sort_key(),
            "FAILED#shop.example.com"
        );
    }
}
