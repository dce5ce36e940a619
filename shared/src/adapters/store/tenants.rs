//! A tenant's hostnames across items: the `ByTenant` index (every claim,
//! listed page by page), the `PendingByTenant` index (first orders and ACM
//! requests not yet served, the pending limit), and the tenant's
//! `NEW_ORDERS` item (`pk = TENANT#<tenant>`, its new-hostname rate limit).

use std::collections::HashMap;

use super::{domain_pk, s, upstream, Store, OWNER, PENDING_INDEX, TENANT_INDEX};
use crate::domain::{DomainName, TenantId, Timestamp};
use crate::error::Code;
use crate::error::Error;

/// One page of a tenant's hostnames.
#[derive(Clone, Debug)]
pub struct HostnamePage {
    pub domains: Vec<DomainName>,
    /// Where the next page starts (opaque to callers), if there is one.
    pub next: Option<String>,
}

impl Store {
    /// Takes one of `tenant`'s new-hostname slots: at most `limit` in any
    /// `window`. The times are kept on one item, written conditionally on
    /// what was read, so concurrent calls cannot both take the last slot.
    /// Refused with `429 tenant_rate_limited` and when a slot frees up.
    pub async fn take_new_order_slot(
        &self,
        tenant: &TenantId,
        limit: u32,
        window: std::time::Duration,
    ) -> Result<(), Error> {
        if limit == 0 {
            return Ok(());
        }
        let pk = s(format!("TENANT#{tenant}"));
        if let Some((count, frees)) = self.window(pk, "NEW_ORDERS", limit, window, true).await? {
            let now = Timestamp::now();
            return Err(Error::RateLimited {
                code: Code::TenantRateLimited,
                limit: None,
                message: format!(
                    "tenant {tenant} started {count} new hostnames in the last {} minutes, the most allowed; try again after {frees}",
                    window.as_secs() / 60
                ),
                retry_after: now.until(frees).max(std::time::Duration::from_secs(1)),
            });
        }
        Ok(())
    }

    /// Refuses a new hostname when `tenant` already has `limit` first
    /// orders or ACM requests not yet served (the `PendingByTenant` index;
    /// reads at most `limit` keys). `429 tenant_pending_limit`.
    pub async fn check_pending(&self, tenant: &TenantId, limit: u32) -> Result<(), Error> {
        if limit == 0 {
            return Ok(());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pending_tenant = :t")
            .expression_attribute_values(":t", s(tenant.as_str()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(upstream)?;
        self.items_read.fetch_add(
            u64::try_from(out.count()).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        if out.count() < i32::try_from(limit).unwrap_or(i32::MAX) {
            return Ok(());
        }
        Err(Error::RateLimited {
            code: Code::TenantPendingLimit,
            limit: None,
            message: format!(
                "tenant {tenant} has {limit} hostnames awaiting validation, the most allowed at a time; finish or release one (DELETE /domains/{{domain}}) and try again"
            ),
            retry_after: std::time::Duration::from_secs(3600),
        })
    }

    /// One page of `tenant`'s hostnames (both paths), in name order, from the
    /// tenant index. `after` is the `next` of the previous page.
    pub async fn hostnames_of(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HostnamePage, Error> {
        let start = match after {
            None => None,
            Some(cursor) => {
                let domain = decode_cursor(cursor)?;
                Some(HashMap::from([
                    ("owner_tenant".to_owned(), s(tenant.as_str())),
                    ("pk".to_owned(), domain_pk(&domain)),
                    ("sk".to_owned(), s(OWNER)),
                ]))
            }
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TENANT_INDEX)
            .key_condition_expression("owner_tenant = :tenant")
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .limit(i32::try_from(limit).unwrap_or(100))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(upstream)?;
        self.count_read(out.items().len());
        let mut domains = Vec::new();
        for item in out.items() {
            if let Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) = item.get("pk") {
                if let Some(host) = pk.strip_prefix("DOMAIN#") {
                    domains.push(DomainName::parse(host)?);
                }
            }
        }
        let next = match &out.last_evaluated_key {
            Some(k) if !k.is_empty() => domains.last().map(encode_cursor),
            _ => None,
        };
        Ok(HostnamePage { domains, next })
    }
}

/// A page cursor: the last hostname of the page, base64url (opaque to
/// callers, and checked when it comes back).
fn encode_cursor(domain: &DomainName) -> String {
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    BASE64_URL_SAFE_NO_PAD.encode(domain.as_str())
}

fn decode_cursor(cursor: &str) -> Result<DomainName, Error> {
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    let bad = || Error::validation(Code::InvalidCursor, "the cursor is not one this API gave");
    let bytes = BASE64_URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    DomainName::parse(&text).map_err(|_| bad())
}
