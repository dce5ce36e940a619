//! `CERT` items: the certificate served for a hostname (ACME path,
//! versioned), and the `RenewalDue` index the renewal sweep reads them from.
//! The promotion of an order's certificate to the served one is here too.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Select, TransactWriteItem};

use super::item::stored_item;
use super::mappings::{mapping_refusal, MAPPING_ITEMS};
use super::versioned::{lock_fields, next_version, Expected};
use super::{
    concurrent_writer, domain_pk, due_shard, s, upstream, Store, Versioned, ACME_ORDER, CERT,
    DUE_SHARDS, OVERDUE_INDEX, RENEWAL_INDEX,
};
use crate::domain::{AcmeOrder, DomainMapping, DomainName, ServedCertificate, Timestamp};
use crate::error::Error;

/// DynamoDB's limit on the items of one transaction.
const TRANSACTION_ITEMS: usize = 100;

impl Versioned for ServedCertificate {
    lock_fields!();
    /// In the renewal index while the sweep has something to do for it,
    /// and in the overdue index by when it is overdue (a certificate of
    /// several names: its lead's copy).
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        if !self.is_lead() {
            return Vec::new();
        }
        let mut attributes = vec![
            ("due_shard", s(due_shard(&self.domain))),
            ("overdue_at", s(self.overdue_at().index_key())),
            ("not_after", s(self.certificate.not_after.index_key())),
        ];
        if let Some(at) = self.renewal.due_at() {
            attributes.push(("due_at", s(at.index_key())));
        }
        attributes
    }
}

impl Store {
    /// Makes an order's certificate the served one and ends the order, in
    /// one transaction: the order must still be at the version read, and
    /// each served record at its version (or absent, when `first`). A
    /// certificate of several names writes every name's copy, and removes
    /// the names' references to the order.
    pub async fn promote(
        &self,
        order: &AcmeOrder,
        served: &mut [(ServedCertificate, bool)],
        mappings: &[DomainMapping],
    ) -> Result<(), Error> {
        // The new names' mappings ride in the same transaction when they fit
        // in one (100 items); a certificate of many names writes them first.
        let refs = order.names.iter().filter(|n| **n != order.domain).count();
        // Each served record, the order, its names' references, then the
        // mappings.
        let first_mapping = served.len() + 1 + refs;
        let items = first_mapping + MAPPING_ITEMS * mappings.len();
        let together = items <= TRANSACTION_ITEMS;
        if !together {
            for mapping in mappings {
                self.put_mapping(mapping).await?;
            }
        }
        let now = Timestamp::now();
        let before: Vec<(u64, Timestamp)> = served
            .iter()
            .map(|(s, _)| (s.version, s.updated_at))
            .collect();
        let mut tx = self.client.transact_write_items();
        for (record, first) in served.iter_mut() {
            let expected = if *first {
                Expected::Absent
            } else {
                next_version(record, now)
            };
            let pk = domain_pk(&record.domain);
            let put = self.locked_put(stored_item(&*record, &pk, CERT)?, expected)?;
            tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let end_order = self.locked_delete(domain_pk(&order.domain), ACME_ORDER, order.version)?;
        tx = tx.transact_items(TransactWriteItem::builder().delete(end_order).build());
        for name in order.names.iter().filter(|n| **n != order.domain) {
            tx = tx.transact_items(self.delete_ref(name)?);
        }
        if together {
            for mapping in mappings {
                for item in self.mapping_items(mapping)? {
                    tx = tx.transact_items(item);
                }
            }
        }
        // A first issuance's place among its tenant's pending ones is let go
        // when the tenant next needs one (`Store::check_pending`), not here:
        // promotion is the busiest write of all, and stays one transaction.
        match self.transact(tx).await {
            Ok(_) => Ok(()),
            Err(e) => {
                for ((record, _), (version, at)) in served.iter_mut().zip(before) {
                    record.set_version(version, at);
                }
                match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                        // A mapping's own refusal says why; any other item
                        // failing is a concurrent writer.
                        let reasons = c.cancellation_reasons();
                        let refused = mappings.iter().enumerate().find_map(|(i, m)| {
                            let at = first_mapping + MAPPING_ITEMS * i;
                            mapping_refusal(m, reasons.get(at..at + MAPPING_ITEMS)?)
                        });
                        Err(refused
                            .filter(|_| together)
                            .unwrap_or_else(concurrent_writer))
                    }
                    _ => Err(upstream(e)),
                }
            }
        }
    }

    /// Saves the served certificate's renewal bookkeeping, read at its
    /// current version, and bumps the version.
    pub async fn save_served(&self, served: &mut ServedCertificate) -> Result<(), Error> {
        let pk = domain_pk(&served.domain);
        self.save_versioned(served, pk, CERT).await
    }

    /// Hostnames whose served certificate the sweep should look at by `now`
    /// (renewal due, a backoff over, or an ARI window to re-check), at most
    /// `limit`, from the renewal index: reads only the due items.
    pub async fn due_hostnames(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, Error> {
        self.due_in(RENEWAL_INDEX, "due_shard", "due_at", now, limit)
            .await
    }

    /// How many certificates the sweep will look at by `until` (renewal
    /// due, a backoff over, or an ARI window to re-check): a `Select COUNT`
    /// Query per shard of the renewal index.
    pub async fn due_by(&self, until: Timestamp) -> Result<u64, Error> {
        let mut due = 0u64;
        for shard in 0..DUE_SHARDS {
            due += self
                .count_until(RENEWAL_INDEX, "due_at", shard, until)
                .await?;
        }
        Ok(due)
    }

    /// How many items `shard` of a sharded index (keyed on `due_shard` and
    /// `at_key`) holds at or before `until`: a `Select COUNT` Query, paged
    /// (reads only the keys counted).
    async fn count_until(
        &self,
        index: &str,
        at_key: &str,
        shard: u32,
        until: Timestamp,
    ) -> Result<u64, Error> {
        let mut counted = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("due_shard = :shard AND #at <= :until")
                .expression_attribute_names("#at", at_key)
                .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                .expression_attribute_values(":until", s(until.index_key()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(upstream)?;
            counted += u64::try_from(out.count()).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(counted),
            }
        }
    }

    /// How many served certificates are overdue at `now`
    /// (`ServedCertificate::overdue_at`), and the `not_after` of the most
    /// urgent one (the soonest overdue) if any is served: from the overdue
    /// index, one item per shard, and a count of the overdue keys only in a
    /// shard whose first item is overdue (so a run with none overdue reads
    /// one item per shard, whatever the table holds).
    pub async fn overdue_certificates(
        &self,
        now: Timestamp,
    ) -> Result<(u64, Option<Timestamp>), Error> {
        let mut overdue = 0u64;
        let mut soonest: Option<Timestamp> = None;
        for shard in 0..DUE_SHARDS {
            let first = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OVERDUE_INDEX)
                .key_condition_expression("due_shard = :shard")
                .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                .limit(1)
                .send()
                .await
                .map_err(upstream)?;
            self.count_read(first.items().len());
            let Some(item) = first.items().first() else {
                continue;
            };
            let text = |k: &str| match item.get(k) {
                Some(AttributeValue::S(v)) => Timestamp::parse(v).ok(),
                _ => None,
            };
            if let Some(not_after) = text("not_after") {
                soonest = Some(soonest.map_or(not_after, |s| s.min(not_after)));
            }
            if text("overdue_at").is_none_or(|at| at > now) {
                continue;
            }
            overdue += self
                .count_until(OVERDUE_INDEX, "overdue_at", shard, now)
                .await?;
        }
        Ok((overdue, soonest))
    }
}

impl Store {
    /// Whether `domain`'s release is the one that ends the certificate at
    /// `arn` (deletes it from ACM, revokes it): the first release to ask
    /// is, and stays so on its repeats; every other is told no. Names
    /// sharing one certificate may be released at once, each seeing the
    /// others leave: the certificate is ended once. The item goes after 30
    /// days (the table's TTL).
    pub async fn take_certificate_end(
        &self,
        arn: &str,
        domain: &DomainName,
    ) -> Result<bool, Error> {
        let expires = Timestamp::now().plus(std::time::Duration::from_secs(30 * 86_400));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("CERTEND#{arn}")))
            .item("sk", s("CERTEND"))
            .item("by", s(domain.as_str()))
            .item("expires_at", AttributeValue::N(expires.unix().to_string()))
            .condition_expression("attribute_not_exists(pk) OR #by = :by")
            .expression_attribute_names("#by", "by")
            .expression_attribute_values(":by", s(domain.as_str()));
        match super::conflicts::resend_on_conflict(
            || request.clone().send(),
            super::conflicts::write_conflict,
        )
        .await
        {
            Ok(_) => Ok(true),
            Err(e) if super::condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }
}
