//! `MAPPING` items: which tenant a live hostname belongs to and how it is
//! served (both paths). A mapping is written with a check of the claim and
//! the hostname's first DNS health record (see `drift`).

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, ConditionCheck, Put, TransactWriteItem};

use super::item::{keyed, stored_item};
use super::{
    concurrent_writer, domain_pk, from_item, s, unbuilt, upstream, Store, DNS, MAPPING, OWNER,
};
use crate::domain::{DomainMapping, DomainName, DriftCheck, Edge, Timestamp};
use crate::error::Code;
use crate::error::Error;

/// The items one mapping writes (`Store::mapping_items`).
pub(super) const MAPPING_ITEMS: usize = 3;

impl Store {
    /// Records that `mapping.domain` is live for its tenant. Refused (as a
    /// conflict) when another tenant's mapping is there.
    pub async fn put_mapping(&self, mapping: &DomainMapping) -> Result<(), Error> {
        let mut tx = self.client.transact_write_items();
        for item in self.mapping_items(mapping)? {
            tx = tx.transact_items(item);
        }
        match self.transact(tx).await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    Err(mapping_refusal(mapping, c.cancellation_reasons())
                        .unwrap_or_else(concurrent_writer))
                }
                _ => Err(upstream(e)),
            },
        }
    }

    /// The `MAPPING_ITEMS` writes of a mapping: a check of the claim, the
    /// mapping, and its DNS health record.
    pub(super) fn mapping_items(
        &self,
        mapping: &DomainMapping,
    ) -> Result<Vec<TransactWriteItem>, Error> {
        // A check of the claim with the mapping: while its owner is
        // releasing the name (or after someone else took it), no mapping
        // can appear, so a release that has begun cannot be undone by an
        // attach or a status poll still under way.
        let pk = domain_pk(&mapping.domain);
        let tenant = s(mapping.tenant_id.as_str());
        let claim = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", pk.clone())
            .key("sk", s(OWNER))
            .condition_expression("tenant_id = :tenant AND attribute_not_exists(releasing_since)")
            .expression_attribute_values(":tenant", tenant.clone())
            .build()
            .map_err(unbuilt)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(keyed(mapping, &pk, MAPPING)?))
            .condition_expression("attribute_not_exists(pk) OR tenant_id = :tenant")
            .expression_attribute_values(":tenant", tenant)
            .build()
            .map_err(unbuilt)?;
        // Watched for drift from now on (checked at once by the next
        // drift-check run).
        let health = DriftCheck::new(
            mapping.domain.clone(),
            mapping.tenant_id.clone(),
            mapping.edge,
            mapping.target.clone(),
            match mapping.edge {
                Edge::ApiGateway => Some(mapping.target.clone()),
                _ => mapping.dns_target.clone(),
            },
            Timestamp::now(),
        );
        let dns = Put::builder()
            .table_name(&self.table)
            .set_item(Some(stored_item(&health, &pk, DNS)?))
            .build()
            .map_err(unbuilt)?;
        Ok(vec![
            TransactWriteItem::builder().condition_check(claim).build(),
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().put(dns).build(),
        ])
    }

    /// Which tenant a live hostname belongs to, and how it is served: the
    /// lookup the platform makes to route a request for a custom domain.
    pub async fn mapping_for(&self, domain: &DomainName) -> Result<Option<DomainMapping>, Error> {
        self.get(domain_pk(domain), MAPPING)
            .await?
            .map(from_item)
            .transpose()
    }
}

/// Why DynamoDB refused a mapping's items, given their cancellation
/// reasons (in `mapping_items`' order), if it was theirs to refuse.
pub(super) fn mapping_refusal(
    mapping: &DomainMapping,
    reasons: &[CancellationReason],
) -> Option<Error> {
    let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
    if failed(0) {
        Some(Error::conflict(
            Code::DomainReleasing,
            format!(
                "{} is being released (or is no longer this tenant's)",
                mapping.domain
            ),
        ))
    } else if failed(1) {
        Some(Error::conflict(
            Code::DomainTaken,
            format!("{} is mapped to another tenant", mapping.domain),
        ))
    } else {
        None
    }
}
