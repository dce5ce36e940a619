//! The events told of a hostname (`EVENT#<key>` items in its partition):
//! the outbox that makes each change told once. An event is written here
//! (a conditional put: one caller wins) before it is sent, and its key
//! noted on the claim (`told`) after; one left not noted by a call that
//! died is sent again by the next call that looks, with the same detail
//! (and `event_id`). The claim's `told` list says what was told for as
//! long as the claim lasts; the items are only the outbox, kept 90 days
//! (`expires_at`, DynamoDB's TTL).

use aws_sdk_dynamodb::types::AttributeValue;

use super::{condition_failed, domain_pk, s, upstream, Item, Store, OWNER};
use crate::domain::{DomainName, Timestamp, Told};
use crate::error::Error;

pub(super) const EVENT: &str = "EVENT#";

/// How long an event's outbox item is kept.
const KEPT: std::time::Duration = std::time::Duration::from_secs(90 * 86400);

impl Store {
    /// Writes the event `key` of `domain` as about to be sent; answers
    /// whether this call won it (false: told, or being told, already).
    pub async fn hold_event(
        &self,
        domain: &DomainName,
        key: &str,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<bool, Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(domain, key, detail_type, detail)))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Writes several events of `domain` as about to be sent, all or none
    /// (one transaction); answers whether this call won them all (false:
    /// one is told, or being told, already).
    pub async fn hold_events(
        &self,
        domain: &DomainName,
        events: &[(String, &str, serde_json::Value)],
    ) -> Result<bool, Error> {
        let mut tx = self.client.transact_write_items();
        for (key, detail_type, detail) in events {
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(event_item(domain, key, detail_type, detail)))
                .condition_expression("attribute_not_exists(sk)")
                .build()
                .map_err(super::unbuilt)?;
            tx = tx.transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(put)
                    .build(),
            );
        }
        match tx.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(upstream(e)),
        }
    }

    /// Notes on the claim that the event `key` was told (`Owner::told`).
    pub async fn note_told(&self, domain: &DomainName, key: &str) -> Result<(), Error> {
        self.note_all_told(domain, &[key.to_owned()]).await
    }

    /// Notes on the claim that the events `keys` were told.
    pub async fn note_all_told(&self, domain: &DomainName, keys: &[String]) -> Result<(), Error> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression("ADD told :keys")
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":keys", AttributeValue::Ss(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match condition_failed(&e) {
                true => Ok(()),
                false => Err(upstream(e)),
            })
    }
}

/// The outbox item of the event `key` of `domain`, written now.
fn event_item(
    domain: &DomainName,
    key: &str,
    detail_type: &str,
    detail: &serde_json::Value,
) -> Item {
    let now = Timestamp::now();
    Item::from([
        ("pk".to_owned(), domain_pk(domain)),
        ("sk".to_owned(), s(format!("{EVENT}{key}"))),
        ("detail_type".to_owned(), s(detail_type)),
        ("detail".to_owned(), s(detail.to_string())),
        ("created_at".to_owned(), s(now.to_string())),
        (
            "expires_at".to_owned(),
            AttributeValue::N(now.plus(KEPT).unix().to_string()),
        ),
    ])
}

/// The event an `EVENT#` item holds.
pub(super) fn told_from(sk: &str, item: &Item) -> Option<Told> {
    let text = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    Some(Told {
        key: sk.strip_prefix(EVENT)?.to_owned(),
        detail_type: text("detail_type")?,
        detail: serde_json::from_str(&text("detail")?).ok()?,
        created_at: Timestamp::parse(&text("created_at")?).ok()?,
    })
}
