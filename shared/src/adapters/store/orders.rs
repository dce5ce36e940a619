//! `ACME_ORDER` and `ORDER_REF` items: a hostname's ACME order (versioned,
//! in the `PendingByTenant` index while a first issuance), and the pointers
//! from an order's other names to it.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::item::stored_item;
use super::tenants::PendingPlace;
use super::versioned::{lock_fields, Expected};
use super::{
    concurrent_writer, domain_pk, from_item, s, unbuilt, upstream, Store, Versioned, ACME_ORDER,
    ORDER_REF,
};
use crate::domain::{AcmeOrder, DomainName, Purpose};
use crate::error::Error;

impl Versioned for AcmeOrder {
    lock_fields!();
    /// A first issuance is pending for its tenant until promoted (which
    /// deletes the order); a renewal is not.
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        match self.purpose {
            Purpose::Issue => vec![("pending_tenant", s(self.org_id.as_str()))],
            Purpose::Renew | Purpose::Extend => Vec::new(),
        }
    }
}

impl Store {
    pub async fn load_order(&self, domain: &DomainName) -> Result<Option<AcmeOrder>, Error> {
        self.get(domain_pk(domain), ACME_ORDER)
            .await?
            .map(from_item)
            .transpose()
    }

    /// Writes a new order for a hostname, claiming the hostname for the order's
    /// tenant in the same transaction. `replacing` is the version of an order
    /// this one replaces (an invalid or expired one), `None` for a first order.
    /// `joining` are the order's other names that are not yet on its
    /// certificate: each is pointed at the order (`ORDER_REF`), in the same
    /// transaction. A first issuance's order holds one of its tenant's
    /// pending places (`place`), in the same transaction too.
    pub async fn insert_order(
        &self,
        order: &AcmeOrder,
        replacing: Option<u64>,
        joining: &[DomainName],
        place: PendingPlace,
    ) -> Result<(), Error> {
        let pk = domain_pk(&order.domain);
        let put = self.locked_put(
            stored_item(order, &pk, ACME_ORDER)?,
            Expected::replacing(replacing),
        )?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for name in joining {
            // A name joins one certificate's order at a time.
            let reference = Put::builder()
                .table_name(&self.table)
                .item("pk", domain_pk(name))
                .item("sk", s(ORDER_REF))
                .item("order_lead", s(order.domain.as_str()))
                .condition_expression("attribute_not_exists(pk) OR order_lead = :lead")
                .expression_attribute_values(":lead", s(order.domain.as_str()))
                .build()
                .map_err(unbuilt)?;
            items.push(TransactWriteItem::builder().put(reference).build());
        }
        match self
            .claim_and_put(&order.domain, &order.org_id, order.created_at, items, place)
            .await
        {
            // The SDK sends a transaction again when an attempt's answer is
            // late; one that did land meanwhile finds its own order there.
            Err(e) if self.holds_order(order).await => {
                tracing::info!(domain = %order.domain, error = %e, "the order was written by an earlier attempt of the same transaction");
                Ok(())
            }
            other => other,
        }
    }

    /// Whether the stored order is `order` as written (the same CA order,
    /// at the same version).
    async fn holds_order(&self, order: &AcmeOrder) -> bool {
        matches!(
            self.load_order(&order.domain).await,
            Ok(Some(stored)) if stored.order_url == order.order_url
                && stored.org_id == order.org_id
                && stored.version == order.version
        )
    }

    /// Ends an order that never reached a certificate, with its names'
    /// references to it (one transaction, at the version read); a first
    /// issuance's lets go of its tenant's pending place.
    pub async fn cancel_order(&self, order: &AcmeOrder) -> Result<(), Error> {
        let end = self.locked_delete(domain_pk(&order.domain), ACME_ORDER, order.version)?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(end).build());
        for name in order.names.iter().filter(|n| **n != order.domain) {
            tx = tx.transact_items(self.delete_ref(name)?);
        }
        self.transact(tx)
            .await
            .map_err(|e| match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                    concurrent_writer()
                }
                _ => upstream(e),
            })?;
        if order.purpose == Purpose::Issue {
            self.pending_settled(&order.org_id, &order.domain).await;
        }
        Ok(())
    }

    /// The deletion of `name`'s reference to the order it joins.
    pub(super) fn delete_ref(&self, name: &DomainName) -> Result<TransactWriteItem, Error> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .key("pk", domain_pk(name))
                    .key("sk", s(ORDER_REF))
                    .build()
                    .map_err(unbuilt)?,
            )
            .build())
    }

    /// Saves an order read at its current version, and bumps the version.
    pub async fn save_order(&self, order: &mut AcmeOrder) -> Result<(), Error> {
        let pk = domain_pk(&order.domain);
        self.save_versioned(order, pk, ACME_ORDER).await
    }
}
