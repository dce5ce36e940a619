//! The optimistic lock, the one mechanism every versioned item is written
//! through (orders, ACM requests, served certificates, DNS health records,
//! limit counters): a put or delete on the condition that the item is still
//! as read, `attribute_not_exists(pk)` for a first write and
//! `version = <the version read>` after. A write that finds the item
//! changed lost to a concurrent writer (`409 concurrent_update`; a limit
//! counter reads again and retries first).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put};
use serde::Serialize;

use super::conflicts::{resend_on_conflict, write_conflict};
use super::item::stored_item;
use super::{concurrent_writer, condition_failed, s, unbuilt, upstream, Item, Store};
use crate::domain::Timestamp;
use crate::error::Error;

/// A record written with optimistic locking.
pub trait Versioned: Serialize {
    fn version(&self) -> u64;
    fn updated_at(&self) -> Timestamp;
    fn set_version(&mut self, version: u64, now: Timestamp);
    /// Attributes stored beside the record's own (index keys).
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        Vec::new()
    }
}

/// The lock's fields, the same on every versioned record (`version`,
/// `updated_at`): the first three methods of a [`Versioned`] impl.
macro_rules! lock_fields {
    () => {
        fn version(&self) -> u64 {
            self.version
        }
        fn updated_at(&self) -> crate::domain::Timestamp {
            self.updated_at
        }
        fn set_version(&mut self, version: u64, now: crate::domain::Timestamp) {
            self.version = version;
            self.updated_at = now;
        }
    };
}
pub(super) use lock_fields;

/// What a conditional write expects to find where it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expected {
    /// No item: a first write.
    Absent,
    /// The item at the version read.
    Version(u64),
}

impl Expected {
    /// A first write (`None`), or one replacing the version read.
    pub(super) fn replacing(version: Option<u64>) -> Self {
        version.map_or(Self::Absent, Self::Version)
    }
}

/// Moves `record` to its next version (updated `now`) for a write that
/// expects the version it was read at; answers that expectation.
pub(super) fn next_version<T: Versioned>(record: &mut T, now: Timestamp) -> Expected {
    let read = record.version();
    record.set_version(read + 1, now);
    Expected::Version(read)
}

impl Store {
    /// A put of `item` on the condition that what is stored there is as
    /// `expected`: one item of a transaction, or sent alone with
    /// `send_locked`.
    pub(super) fn locked_put(&self, item: Item, expected: Expected) -> Result<Put, Error> {
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        match expected {
            Expected::Absent => put.condition_expression("attribute_not_exists(pk)"),
            Expected::Version(v) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        }
        .build()
        .map_err(unbuilt)
    }

    /// A delete of the item (`pk`, `sk`) on the condition that it is still
    /// at `version`.
    pub(super) fn locked_delete(
        &self,
        pk: AttributeValue,
        sk: &str,
        version: u64,
    ) -> Result<Delete, Error> {
        Delete::builder()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", s(sk))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .build()
            .map_err(unbuilt)
    }

    /// Sends a locked put on its own (one PutItem): `Ok(false)` when what
    /// was stored there was not as expected.
    pub(super) async fn send_locked(&self, put: Put) -> Result<bool, Error> {
        let request = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_values(put.expression_attribute_values);
        let result = resend_on_conflict(|| request.clone().send(), write_conflict).await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Saves a record read at its current version as (`pk`, `sk`), and
    /// bumps the version (put back when the write fails).
    pub(super) async fn save_versioned<T: Versioned>(
        &self,
        record: &mut T,
        pk: AttributeValue,
        sk: &str,
    ) -> Result<(), Error> {
        let (read, read_at) = (record.version(), record.updated_at());
        let expected = next_version(record, Timestamp::now());
        let put = self.locked_put(stored_item(&*record, &pk, sk)?, expected)?;
        let written = self.send_locked(put).await;
        if !matches!(written, Ok(true)) {
            record.set_version(read, read_at);
        }
        if written? {
            Ok(())
        } else {
            tracing::info!(
                sk,
                version = read,
                "a versioned record changed since it was read"
            );
            Err(concurrent_writer())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::lazy::Lazy;

    /// A store whose client is never built: these tests only build requests.
    fn store() -> Store {
        Store::new(
            Lazy::new(|| -> aws_sdk_dynamodb::Client { unreachable!("no request is sent") }),
            "table".into(),
        )
    }

    fn values(put: &Put) -> Vec<(String, AttributeValue)> {
        let mut v: Vec<_> = put
            .expression_attribute_values
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn a_first_write_expects_no_item_and_a_later_one_the_version_read() {
        let store = store();
        let first = store.locked_put(Item::new(), Expected::Absent).unwrap();
        assert_eq!(first.table_name, "table");
        assert_eq!(
            first.condition_expression.as_deref(),
            Some("attribute_not_exists(pk)")
        );
        assert!(values(&first).is_empty());
        let later = store
            .locked_put(Item::new(), Expected::replacing(Some(3)))
            .unwrap();
        assert_eq!(
            later.condition_expression.as_deref(),
            Some("version = :expected")
        );
        assert_eq!(
            values(&later),
            vec![(":expected".to_owned(), AttributeValue::N("3".into()))]
        );
        assert_eq!(Expected::replacing(None), Expected::Absent);
    }

    #[test]
    fn a_delete_expects_the_version_read() {
        let delete = store()
            .locked_delete(s("DOMAIN#a.example.com"), "ACME_ORDER", 7)
            .unwrap();
        assert_eq!(delete.condition_expression.as_deref(), Some("version = :v"));
        assert_eq!(
            delete.expression_attribute_values.unwrap_or_default()[":v"],
            AttributeValue::N("7".into())
        );
        assert_eq!(delete.key["sk"], s("ACME_ORDER"));
    }

    #[derive(Serialize)]
    struct Record {
        version: u64,
        updated_at: Timestamp,
    }

    impl Versioned for Record {
        lock_fields!();
    }

    #[test]
    fn the_next_version_expects_the_one_read() {
        let then = Timestamp::parse("2000-01-01T00:00:00Z").unwrap();
        let now = Timestamp::parse("2000-01-02T00:00:00Z").unwrap();
        let mut record = Record {
            version: 4,
            updated_at: then,
        };
        assert_eq!(next_version(&mut record, now), Expected::Version(4));
        assert_eq!((record.version(), record.updated_at()), (5, now));
    }
}
