//! `MANAGED` items: a hostname's CloudFront-managed certificate (versioned;
//! in the `PendingByTenant` index until served, as an ACM request is).
//! Serving it writes the mapping in the same transaction; a hand-off that
//! serves it also ends the ACME certificate's record, so the renewal sweep
//! no longer sees it.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use super::item::stored_item;
use super::mappings::mapping_refusal;
use super::tenants::PendingPlace;
use super::versioned::{lock_fields, next_version, Expected};
use super::{concurrent_writer, domain_pk, upstream, Store, Versioned, CERT, MANAGED};
use crate::domain::{DomainMapping, ManagedCertificate, ManagedStage, ServedCertificate};
use crate::error::Error;

impl Versioned for ManagedCertificate {
    lock_fields!();
    /// Pending for its tenant until served (a hand-off's hostname is
    /// served already, and holds no place).
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        match self.stage == ManagedStage::Served || self.handoff {
            true => Vec::new(),
            false => vec![("pending_tenant", super::s(self.org_id.as_str()))],
        }
    }
}

impl Store {
    /// Writes a first managed-certificate record, claiming the hostname for
    /// its tenant in the same transaction (with a pending place, `place`).
    pub async fn insert_managed(
        &self,
        record: &ManagedCertificate,
        place: PendingPlace,
    ) -> Result<(), Error> {
        let pk = domain_pk(&record.domain);
        let put = self.locked_put(stored_item(record, &pk, MANAGED)?, Expected::Absent)?;
        let items = vec![TransactWriteItem::builder().put(put).build()];
        match self
            .claim_and_put(
                &record.domain,
                &record.org_id,
                record.created_at,
                items,
                place,
            )
            .await
        {
            // A transaction sent again whose first attempt landed.
            Err(e) if self.holds_managed(record).await => {
                tracing::info!(domain = %record.domain, error = %e, "the managed certificate was written by an earlier attempt");
                Ok(())
            }
            other => other,
        }
    }

    /// Writes a hand-off's first record beside the served ACME
    /// certificate (the claim is the tenant's already).
    pub async fn insert_handoff(&self, record: &ManagedCertificate) -> Result<bool, Error> {
        let pk = domain_pk(&record.domain);
        let put = self.locked_put(stored_item(record, &pk, MANAGED)?, Expected::Absent)?;
        self.send_locked(put).await
    }

    async fn holds_managed(&self, record: &ManagedCertificate) -> bool {
        matches!(
            self.load_hostname(&record.domain).await.map(|r| r.managed),
            Ok(Some(stored)) if stored.org_id == record.org_id && stored.version == record.version
        )
    }

    /// Saves a managed-certificate record read at its current version.
    pub async fn save_managed(&self, record: &mut ManagedCertificate) -> Result<(), Error> {
        let pk = domain_pk(&record.domain);
        self.save_versioned(record, pk, MANAGED).await
    }

    /// Deletes a hand-off's record that failed (the ACME certificate
    /// serves on, and a later hand-off starts afresh), at the version read.
    pub async fn delete_managed(&self, record: &ManagedCertificate) -> Result<(), Error> {
        let delete = self.locked_delete(domain_pk(&record.domain), MANAGED, record.version)?;
        let tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build());
        match self.transact(tx).await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                    Err(concurrent_writer())
                }
                _ => Err(upstream(e)),
            },
        }
    }

    /// Serves the managed certificate: the record at its next stage and
    /// the mapping, in one transaction. `retired`: a hand-off's served ACME
    /// certificate, deleted in the same transaction at the version read
    /// (from then on nothing renews it).
    pub async fn serve_managed(
        &self,
        record: &mut ManagedCertificate,
        mapping: &DomainMapping,
        retired: Option<&ServedCertificate>,
    ) -> Result<(), Error> {
        let pk = domain_pk(&record.domain);
        let read = (record.version, record.updated_at);
        let expected = next_version(record, crate::domain::Timestamp::now());
        let put = self.locked_put(stored_item(&*record, &pk, MANAGED)?, expected)?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build());
        let mapping_items = self.mapping_items(mapping)?;
        for item in mapping_items {
            tx = tx.transact_items(item);
        }
        if let Some(served) = retired {
            let end = self.locked_delete(pk.clone(), CERT, served.version)?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(end).build());
        }
        match self.transact(tx).await {
            Ok(_) => Ok(()),
            Err(e) => {
                (record.version, record.updated_at) = read;
                match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                        // The mapping's items follow the record.
                        let reasons = c.cancellation_reasons();
                        Err(
                            mapping_refusal(mapping, reasons.get(1..).unwrap_or_default())
                                .unwrap_or_else(concurrent_writer),
                        )
                    }
                    _ => Err(upstream(e)),
                }
            }
        }
    }
}
