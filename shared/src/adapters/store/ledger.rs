//! The quota ledger (`domain::quota`): under `pk = QUOTA`, one item per
//! quota held at once (`HELD#<quota>`, `used`), and one per day of imports
//! into ACM (`IMPORTS#<YYYY-MM-DD>`, `first` and `re`, kept 400 days by
//! DynamoDB's TTL). Each change is an `ADD` sent on its own once AWS made
//! or removed the thing counted (a counter, not a transaction: thousands
//! of hostnames share it, and no lock is held across AWS's answer). One
//! Query reads the whole ledger: the four held counts and at most 366 days.
//!
//! What it cannot see: a call whose AWS answer was lost after AWS acted
//! (counted by the next call that sees the result, or never: the ledger
//! may then run one behind), and what other software does in the account.
//! The operator's usage route shows it beside the limits.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{s, upstream, Store};
use crate::domain::quota::{LedgerFigures, Quota};
use crate::domain::Timestamp;
use crate::error::Error;

const LEDGER_PK: &str = "QUOTA";
const HELD: &str = "HELD#";
const IMPORTS: &str = "IMPORTS#";
const KEPT_DAYS: u64 = 400;

fn day(at: Timestamp) -> String {
    let date = at.offset().date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The quota an adapter counts what it makes and deletes in (the default:
/// none, as for an adapter a test builds with another client).
#[derive(Clone, Debug, Default)]
pub struct Counted {
    ledger: Option<(Store, Quota)>,
}

impl Counted {
    pub fn new(store: Store, quota: Quota) -> Self {
        Self {
            ledger: Some((store, quota)),
        }
    }

    /// One made (`1`) or deleted (`-1`).
    pub async fn count(&self, delta: i64) {
        if let Some((store, quota)) = &self.ledger {
            store.ledger_add(*quota, delta).await;
        }
    }

    /// One import into ACM (`first`: a new certificate).
    pub async fn import(&self, first: bool) {
        if let Some((store, _)) = &self.ledger {
            store.ledger_import(first).await;
        }
    }
}

impl Store {
    /// Adds `delta` to a quota held at once (a certificate or tenant made:
    /// `1`; deleted: `-1`). Best effort: a failure is logged, and the
    /// ledger runs one behind.
    pub async fn ledger_add(&self, quota: Quota, delta: i64) {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(LEDGER_PK))
            .key("sk", s(format!("{HELD}{}", quota.as_str())))
            .update_expression("ADD used :d")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(quota = quota.as_str(), delta, error = %upstream(e), "could not count in the quota ledger");
        }
    }

    /// Counts one import into ACM today (`first`: a new certificate, else
    /// a re-import into its ARN). Best effort, as [`Store::ledger_add`].
    pub async fn ledger_import(&self, first: bool) {
        let now = Timestamp::now();
        let expires = now.plus(std::time::Duration::from_secs(KEPT_DAYS * 86_400));
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(LEDGER_PK))
            .key("sk", s(format!("{IMPORTS}{}", day(now))))
            .update_expression(match first {
                true => "ADD #first :one SET expires_at = :expires",
                false => "ADD #re :one SET expires_at = :expires",
            })
            .expression_attribute_names(
                match first {
                    true => "#first",
                    false => "#re",
                },
                match first {
                    true => "first",
                    false => "re",
                },
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.unix().to_string()))
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(first, error = %upstream(e), "could not count an import in the quota ledger");
        }
    }

    /// The ledger's figures at `now`: one Query (consistent) of its items.
    pub async fn ledger_figures(&self, now: Timestamp) -> Result<LedgerFigures, Error> {
        let since = format!(
            "{IMPORTS}{}",
            day(now.minus(std::time::Duration::from_secs(364 * 86_400)))
        );
        let mut figures = LedgerFigures::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(LEDGER_PK))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(upstream)?;
            self.count_read(out.items().len());
            for item in out.items() {
                let Some(AttributeValue::S(sk)) = item.get("sk") else {
                    continue;
                };
                let number = |name: &str| -> u64 {
                    match item.get(name) {
                        Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(0).max(0) as u64,
                        _ => 0,
                    }
                };
                if let Some(quota) = sk.strip_prefix(HELD) {
                    let used = number("used");
                    match Quota::ALL.iter().find(|q| q.as_str() == quota) {
                        Some(Quota::AcmImportedCertificates) => {
                            figures.acm_imported_certificates = used
                        }
                        Some(Quota::AcmIssuedCertificates) => {
                            figures.acm_issued_certificates = used
                        }
                        Some(Quota::DistributionTenants) => figures.distribution_tenants = used,
                        Some(Quota::ApiGatewayCustomDomains) => {
                            figures.api_gateway_custom_domains = used
                        }
                        _ => {}
                    }
                } else if sk.starts_with(IMPORTS) && sk.as_str() >= since.as_str() {
                    figures.first_imports_365d += number("first");
                    figures.reimports_365d += number("re");
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(figures),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_day_is_its_calendar_date() {
        let t = crate::domain::Timestamp::parse("2026-02-03T23:59:59Z").unwrap();
        assert_eq!(super::day(t), "2026-02-03");
    }
}
