//! `COUNTS` items: how many hostnames are in each state
//! (`domain::census`), kept as the states change. One item per shard of the
//! hostnames (`HOSTNAMES#<n>`, [`COUNT_SHARDS`] of them, by a hash of the
//! name), all in the `COUNTS` partition and read with one Query: two
//! hostnames changing state at once rarely touch the same item, so their
//! transactions rarely conflict (with 4 shards, 20 hostnames issued at once
//! met 85 conflicts, and their retries slowed every other write).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::{domain_pk, name_hash, s, unbuilt, upstream, Store, OWNER};
use crate::domain::census::CountedState;
use crate::domain::{DomainName, Owner};
use crate::error::Error;

const COUNTS: &str = "COUNTS";

/// Items the counts are spread over.
const COUNT_SHARDS: u32 = 64;

fn counts_sk(domain: &DomainName) -> String {
    format!("HOSTNAMES#{}", name_hash(domain) % COUNT_SHARDS)
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Store {
    /// Counts `domain` in `new` rather than where its claim says it was
    /// counted (`owner.counted`), in one transaction with the claim's
    /// record of it, conditional on that record and on the claim itself
    /// (its tenant and first write): a count moves once per change, even
    /// when two calls see it. Answers whether this call moved it.
    pub async fn count_state(
        &self,
        domain: &DomainName,
        owner: &Owner,
        new: CountedState,
    ) -> Result<bool, Error> {
        if owner.counted == Some(new) {
            return Ok(false);
        }
        let mut claim = Update::builder()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression("SET counted_state = :new")
            .expression_attribute_values(":new", s(new.as_str()))
            .expression_attribute_values(":tenant", s(owner.tenant_id.as_str()))
            .expression_attribute_values(":began", s(owner.claimed_at.clone()));
        let mut counts = Update::builder()
            .table_name(&self.table)
            .key("pk", s(COUNTS))
            .key("sk", s(counts_sk(domain)))
            .expression_attribute_names("#new", new.as_str())
            .expression_attribute_values(":one", n(1));
        match owner.counted {
            Some(old) => {
                claim = claim
                    .condition_expression(
                        "tenant_id = :tenant AND claimed_at = :began AND counted_state = :old",
                    )
                    .expression_attribute_values(":old", s(old.as_str()));
                counts = counts
                    .update_expression("ADD #new :one, #old :minus")
                    .expression_attribute_names("#old", old.as_str())
                    .expression_attribute_values(":minus", n(-1));
            }
            None => {
                claim = claim.condition_expression(
                    "tenant_id = :tenant AND claimed_at = :began AND attribute_not_exists(counted_state)",
                );
                counts = counts.update_expression("ADD #new :one");
            }
        }
        let tx = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(claim.build().map_err(unbuilt)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(counts.build().map_err(unbuilt)?)
                    .build(),
            );
        // Sent once: a conflict with another count (or a write of the
        // claim) in flight is not worth a retry's load; the next look at
        // the hostname counts it.
        match tx.send().await {
            Ok(_) => Ok(true),
            // Counted meanwhile by another call, the claim changed, or a
            // transaction in flight on its items: the next look counts it
            // where it then is.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(upstream(e)),
        }
    }

    /// The write that takes a claim counted in `counted` off the counts, in
    /// the transaction that deletes the claim (which must then be
    /// conditional on `counted`: [`uncounted_condition`]).
    pub(super) fn uncount(
        &self,
        domain: &DomainName,
        counted: Option<CountedState>,
    ) -> Result<Option<TransactWriteItem>, Error> {
        let Some(old) = counted else {
            return Ok(None);
        };
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(COUNTS))
            .key("sk", s(counts_sk(domain)))
            .update_expression("ADD #old :minus")
            .expression_attribute_names("#old", old.as_str())
            .expression_attribute_values(":minus", n(-1))
            .build()
            .map_err(unbuilt)?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }

    /// How many hostnames are in each state, every state named (one Query).
    pub async fn hostname_counts(&self) -> Result<BTreeMap<CountedState, i64>, Error> {
        let mut counts: BTreeMap<CountedState, i64> =
            CountedState::ALL.into_iter().map(|c| (c, 0)).collect();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(COUNTS))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(upstream)?;
            self.count_read(out.items().len());
            for item in out.items() {
                for (name, value) in item {
                    let (Some(state), AttributeValue::N(v)) = (CountedState::parse(name), value)
                    else {
                        continue;
                    };
                    *counts.entry(state).or_default() += v.parse::<i64>().unwrap_or(0);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(counts),
            }
        }
    }
}

/// The condition a claim's delete adds so that its count is taken off
/// exactly where it is (with the values it names, [`with_counted`]).
pub(super) fn uncounted_condition(counted: Option<CountedState>) -> &'static str {
    match counted {
        Some(_) => "counted_state = :counted",
        None => "attribute_not_exists(counted_state)",
    }
}

/// The value [`uncounted_condition`] names.
pub(super) fn with_counted(
    delete: aws_sdk_dynamodb::types::builders::DeleteBuilder,
    counted: Option<CountedState>,
) -> aws_sdk_dynamodb::types::builders::DeleteBuilder {
    match counted {
        Some(c) => delete.expression_attribute_values(":counted", s(c.as_str())),
        None => delete,
    }
}
