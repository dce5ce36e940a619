//! `ACM_REQUEST` items: a hostname's ACM request (versioned, in the
//! `PendingByTenant` index until configured), and the item that tells which
//! hostname an ACM request ID names (`pk = ACM_REQUEST#<id>`).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::item::stored_item;
use super::versioned::{lock_fields, Expected};
use super::{domain_pk, from_item, s, unbuilt, Store, Versioned, ACM_REQUEST};
use crate::domain::{AcmRequest, AcmStage, DomainName};
use crate::error::Error;

impl Versioned for AcmRequest {
    lock_fields!();
    /// Pending for its workspace until configured.
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        match self.stage {
            AcmStage::Configured => Vec::new(),
            _ => vec![("pending_tenant", s(self.workspace_id.as_str()))],
        }
    }
}

/// The key of the item naming the hostname of ACM request `id`.
pub(super) fn id_pk(id: &str) -> AttributeValue {
    s(format!("ACM_REQUEST#{id}"))
}

impl Store {
    /// Writes a new ACM request and its ID index, claiming the hostname for
    /// the workspace in the same transaction. `replacing` is the failed
    /// request this one replaces (its version, and its ID, whose index is
    /// deleted in the same transaction).
    pub async fn insert_acm_request(
        &self,
        request: &AcmRequest,
        replacing: Option<(u64, &str)>,
    ) -> Result<(), Error> {
        let pk = domain_pk(&request.domain);
        let record = self.locked_put(
            stored_item(request, &pk, ACM_REQUEST)?,
            Expected::replacing(replacing.map(|(v, _)| v)),
        )?;
        let index = Put::builder()
            .table_name(&self.table)
            .item("pk", id_pk(&request.request_id))
            .item("sk", s(ACM_REQUEST))
            .item("domain", s(request.domain.as_str()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unbuilt)?;
        let mut items = vec![
            TransactWriteItem::builder().put(record).build(),
            TransactWriteItem::builder().put(index).build(),
        ];
        if let Some((_, old_id)) = replacing {
            let old_index = Delete::builder()
                .table_name(&self.table)
                .key("pk", id_pk(old_id))
                .key("sk", s(ACM_REQUEST))
                .build()
                .map_err(unbuilt)?;
            items.push(TransactWriteItem::builder().delete(old_index).build());
        }
        self.claim_and_put(
            &request.domain,
            &request.workspace_id,
            request.created_at,
            items,
        )
        .await
    }

    /// Saves an ACM request read at its current version, and bumps the version.
    pub async fn save_acm_request(&self, request: &mut AcmRequest) -> Result<(), Error> {
        let pk = domain_pk(&request.domain);
        self.save_versioned(request, pk, ACM_REQUEST).await
    }

    pub async fn load_acm_request(&self, domain: &DomainName) -> Result<Option<AcmRequest>, Error> {
        self.get(domain_pk(domain), ACM_REQUEST)
            .await?
            .map(from_item)
            .transpose()
    }

    /// The hostname an ACM request ID was issued for.
    pub async fn acm_request_domain(&self, request_id: &str) -> Result<Option<DomainName>, Error> {
        let item = self.get(id_pk(request_id), ACM_REQUEST).await?;
        match item.as_ref().and_then(|i| i.get("domain")) {
            Some(AttributeValue::S(d)) => DomainName::parse(d).map(Some),
            _ => Ok(None),
        }
    }
}
