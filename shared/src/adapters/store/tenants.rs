//! A tenant's hostnames across items: the `ByTenant` index (every claim,
//! listed page by page), the tenant's `PENDING` item (`pk =
//! TENANT#<tenant>`: the hostnames holding its pending places, its pending
//! limit) with the `PendingByTenant` index (first orders and ACM requests
//! not yet served), and the tenant's `NEW_ORDERS` item (its new-hostname
//! rate limit).
//!
//! The pending limit. A hostname awaits validation from the write of its
//! first order or ACM request until that record is served, configured or
//! deleted; its `pending_tenant` attribute says so (the index's key). The
//! limit is not counted from the index: an index answers up to a second
//! behind its table, and a count read before a write cannot stop starts
//! racing each other past the limit. Instead the tenant's `PENDING` item
//! holds a set of hostnames, and
//! - a hostname takes a place there ([`Store::take_pending_place`]) before
//!   anything is asked of the CA or ACM, and again in the transaction that
//!   writes its pending record ([`PendingPlace`] in `claim_and_put`), both
//!   on the condition that the set holds it already or has fewer than the
//!   limit: so the set always holds every pending hostname of the tenant,
//!   and never more than the limit;
//! - a hostname leaves it only by [`Store::settle_pending`], one
//!   transaction on the condition that neither its order nor its request is
//!   pending for the tenant: after a cancellation, a release or an ended
//!   claim (which the tenant expects to free a place at once), and, when
//!   the tenant is at its limit, for each held hostname the index no longer
//!   shows (served or configured since, or a start that failed before
//!   writing anything). A served hostname is not let go at its promotion:
//!   that write, the busiest, stays one transaction, and the place is let
//!   go the next time the tenant needs one.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};

use super::conflicts::{resend_on_conflict, transaction_conflict, write_conflict};
use super::{
    concurrent_writer, condition_failed, domain_pk, s, unbuilt, upstream, Store, ACME_ORDER,
    ACM_REQUEST, OWNER, PENDING_INDEX, TENANT_INDEX,
};
use crate::domain::{DomainName, TenantId, Timestamp};
use crate::error::Code;
use crate::error::Error;

/// The tenant's item holding its pending places.
const PENDING: &str = "PENDING";

/// A place is taken if the set holds the hostname already, or fewer than
/// the limit.
const PLACE_CONDITION: &str =
    "attribute_not_exists(hostnames) OR contains(hostnames, :host) OR size(hostnames) < :limit";

/// Whether a write makes a hostname await validation for its tenant, and so
/// needs one of the tenant's pending places (`TENANT_PENDING_HOSTNAMES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingPlace {
    /// It does (a first order, an ACM request): at most `limit` hostnames
    /// at a time (0: any number).
    Takes { limit: u32 },
    /// It does not (a renewal, names added to a served certificate).
    NotPending,
}

fn pending_pk(tenant: &TenantId) -> AttributeValue {
    s(format!("TENANT#{tenant}"))
}

/// The hostnames a `PENDING` item holds.
fn held(item: Option<&super::Item>) -> BTreeSet<String> {
    match item.and_then(|i| i.get("hostnames")) {
        Some(AttributeValue::Ss(hosts)) => hosts.iter().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

pub(super) fn pending_limit_reached(tenant: &TenantId, limit: u32) -> Error {
    Error::RateLimited {
        code: Code::TenantPendingLimit,
        limit: None,
        message: format!(
            "tenant {tenant} has {limit} hostnames awaiting validation, the most allowed at a time; finish or release one (DELETE /domains/{{domain}}) and try again"
        ),
        retry_after: std::time::Duration::from_secs(3600),
    }
}

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

    /// Refuses a new hostname when `tenant` already has `limit` hostnames
    /// awaiting validation (its `PENDING` item, read consistently; at the
    /// limit, places no longer pending are let go first):
    /// `429 tenant_pending_limit`, before anything is claimed. Starts
    /// racing past it are stopped where they take their place
    /// ([`Store::take_pending_place`]).
    pub async fn check_pending(&self, tenant: &TenantId, limit: u32) -> Result<(), Error> {
        if limit == 0 {
            return Ok(());
        }
        let held = self.pending_places(tenant).await?;
        if held.len() < limit as usize {
            return Ok(());
        }
        let freed = self.let_go_of_settled(tenant, &held).await?;
        if held.len() - freed < limit as usize {
            return Ok(());
        }
        Err(pending_limit_reached(tenant, limit))
    }

    /// Takes one of `tenant`'s pending places for `domain` (kept if it has
    /// one already): a conditional write, so of starts racing each other
    /// no more than the limit get one. Called before the CA or ACM is asked
    /// for anything; `429 tenant_pending_limit` past the limit.
    pub async fn take_pending_place(
        &self,
        tenant: &TenantId,
        domain: &DomainName,
        place: PendingPlace,
    ) -> Result<(), Error> {
        let PendingPlace::Takes { limit } = place else {
            return Ok(());
        };
        for attempt in 0..2 {
            let update = self.pending_place(tenant, domain, limit)?;
            let request = self
                .client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_values(update.expression_attribute_values);
            let sent = resend_on_conflict(|| request.clone().send(), write_conflict).await;
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if condition_failed(&e) => {
                    let held = self.pending_places(tenant).await?;
                    if attempt > 0 || self.let_go_of_settled(tenant, &held).await? == 0 {
                        break;
                    }
                }
                Err(e) => return Err(upstream(e)),
            }
        }
        Err(pending_limit_reached(tenant, limit))
    }

    /// The update that gives `domain` one of `tenant`'s pending places
    /// (within `limit`; 0: any number): one item of the transaction that
    /// writes the pending record, or sent alone.
    pub(super) fn pending_place(
        &self,
        tenant: &TenantId,
        domain: &DomainName,
        limit: u32,
    ) -> Result<Update, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", pending_pk(tenant))
            .key("sk", s(PENDING))
            .update_expression("ADD hostnames :hosts")
            .expression_attribute_values(":hosts", AttributeValue::Ss(vec![domain.to_string()]));
        match limit {
            0 => update,
            limit => update
                .condition_expression(PLACE_CONDITION)
                .expression_attribute_values(":host", s(domain.as_str()))
                .expression_attribute_values(":limit", AttributeValue::N(limit.to_string())),
        }
        .build()
        .map_err(unbuilt)
    }

    /// The hostnames holding `tenant`'s pending places, read consistently.
    /// A tenant whose item was never seeded (it predates the item, or the
    /// limit was off) is seeded from the index first, once: a union, so
    /// places taken meanwhile stay.
    async fn pending_places(&self, tenant: &TenantId) -> Result<BTreeSet<String>, Error> {
        let item = self.get(pending_pk(tenant), PENDING).await?;
        let mut hosts = held(item.as_ref());
        if item.as_ref().is_some_and(|i| i.contains_key("seeded_at")) {
            return Ok(hosts);
        }
        let seed = self.pending_in_index(tenant).await?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pending_pk(tenant))
            .key("sk", s(PENDING))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()));
        update = match seed.is_empty() {
            true => update.update_expression("SET seeded_at = if_not_exists(seeded_at, :now)"),
            false => update
                .update_expression(
                    "SET seeded_at = if_not_exists(seeded_at, :now) ADD hostnames :seed",
                )
                .expression_attribute_values(
                    ":seed",
                    AttributeValue::Ss(seed.iter().cloned().collect()),
                ),
        };
        resend_on_conflict(|| update.clone().send(), write_conflict)
            .await
            .map_err(upstream)?;
        hosts.extend(seed);
        Ok(hosts)
    }

    /// `tenant`'s hostnames the `PendingByTenant` index shows pending (as of
    /// up to a second ago).
    async fn pending_in_index(&self, tenant: &TenantId) -> Result<BTreeSet<String>, Error> {
        let mut hosts = BTreeSet::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PENDING_INDEX)
                .key_condition_expression("pending_tenant = :t")
                .expression_attribute_values(":t", s(tenant.as_str()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(upstream)?;
            self.count_read(out.items().len());
            for item in out.items() {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    if let Some(host) = pk.strip_prefix("DOMAIN#") {
                        hosts.insert(host.to_owned());
                    }
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(hosts),
            }
        }
    }

    /// Lets go of the places in `held` whose hostname is no longer pending
    /// for `tenant`: the ones the index does not show are checked (the
    /// index may lag, never the check); answers how many were let go.
    async fn let_go_of_settled(
        &self,
        tenant: &TenantId,
        held: &BTreeSet<String>,
    ) -> Result<usize, Error> {
        let shown = self.pending_in_index(tenant).await?;
        let mut freed = 0;
        for host in held.difference(&shown) {
            let Ok(domain) = DomainName::stored(host) else {
                tracing::warn!(host, "a pending place's hostname no longer parses; kept");
                continue;
            };
            if self.settle_pending(tenant, &domain).await? {
                freed += 1;
            }
        }
        Ok(freed)
    }

    /// Lets go of `domain`'s place among `tenant`'s pending ones, in one
    /// transaction on the condition that neither its order nor its ACM
    /// request is pending for the tenant (their `pending_tenant`, the
    /// index's key). Answers whether the place was let go (`false`: still
    /// pending, or it held none).
    pub(super) async fn settle_pending(
        &self,
        tenant: &TenantId,
        domain: &DomainName,
    ) -> Result<bool, Error> {
        // Most hostnames ending here held no place (a live one released):
        // one read spares them the transaction.
        let item = self.get(pending_pk(tenant), PENDING).await?;
        if !held(item.as_ref()).contains(domain.as_str()) {
            return Ok(false);
        }
        let not_pending = |sk: &str| {
            ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", domain_pk(domain))
                .key("sk", s(sk))
                .condition_expression(
                    "attribute_not_exists(pending_tenant) OR pending_tenant <> :t",
                )
                .expression_attribute_values(":t", s(tenant.as_str()))
                .build()
                .map_err(unbuilt)
        };
        let let_go = Update::builder()
            .table_name(&self.table)
            .key("pk", pending_pk(tenant))
            .key("sk", s(PENDING))
            .update_expression("DELETE hostnames :hosts")
            .condition_expression("contains(hostnames, :host)")
            .expression_attribute_values(":hosts", AttributeValue::Ss(vec![domain.to_string()]))
            .expression_attribute_values(":host", s(domain.as_str()))
            .build()
            .map_err(unbuilt)?;
        let tx = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(not_pending(ACME_ORDER)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(not_pending(ACM_REQUEST)?)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().update(let_go).build());
        match self.transact(tx).await {
            Ok(_) => Ok(true),
            Err(e) if transaction_conflict(&e) => Err(concurrent_writer()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => Ok(false),
                _ => Err(upstream(e)),
            },
        }
    }

    /// [`Store::settle_pending`] after a write that ended `domain`'s
    /// pending record; a failure is logged, and the place let go at the
    /// tenant's limit instead.
    pub(super) async fn pending_settled(&self, tenant: &TenantId, domain: &DomainName) {
        if let Err(e) = self.settle_pending(tenant, domain).await {
            tracing::warn!(%domain, %tenant, error = %e, "the hostname's pending place was not let go; the pending limit's check lets it go");
        }
    }

    /// One page of `tenant`'s hostnames (both paths), in name order, from the
    /// tenant index. `after` is the `next` of the previous page.
    pub async fn hostnames_of(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HostnamePage, Error> {
        self.claims_page(
            TENANT_INDEX,
            ("owner_tenant", tenant.as_str()),
            after,
            limit,
        )
        .await
    }

    /// A page of every tenant's hostnames, in name order, from the
    /// `Hostnames` index (the platform's operators).
    pub async fn all_hostnames(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HostnamePage, Error> {
        self.claims_page(super::HOSTNAMES_INDEX, ("listing", LISTING), after, limit)
            .await
    }

    /// One page of the claims an index of `OWNER` items (keyed on `key`,
    /// then `pk`) holds under `key`'s value, in name order.
    async fn claims_page(
        &self,
        index: &str,
        (key, value): (&str, &str),
        after: Option<&str>,
        limit: usize,
    ) -> Result<HostnamePage, Error> {
        let start = match after {
            None => None,
            Some(cursor) => {
                let domain = decode_cursor(cursor)?;
                Some(HashMap::from([
                    (key.to_owned(), s(value)),
                    ("pk".to_owned(), domain_pk(&domain)),
                    ("sk".to_owned(), s(OWNER)),
                ]))
            }
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#key = :value")
            .expression_attribute_names("#key", key)
            .expression_attribute_values(":value", s(value))
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
                    domains.push(DomainName::stored(host)?);
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

/// The `Hostnames` index's one partition: every claim (`listing`).
pub(super) const LISTING: &str = "HOSTNAME";

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
    DomainName::stored(&text).map_err(|_| bad())
}
