//! `ACM_REQUEST` items: a hostname's ACM request (versioned, in the
//! `PendingByTenant` index until configured), and the item that tells which
//! hostname an ACM request ID names (`pk = ACM_REQUEST#<id>`).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::item::stored_item;
use super::tenants::PendingPlace;
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
    /// deleted in the same transaction). The request holds one of the
    /// workspace's pending places (`place`), in the same transaction too.
    pub async fn insert_acm_request(
        &self,
        request: &AcmRequest,
        replacing: Option<(u64, &str)>,
        place: PendingPlace,
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
        match self
            .claim_and_put(
                &request.domain,
                &request.workspace_id,
                request.created_at,
                items,
                place,
            )
            .await
        {
            // The SDK sends a transaction again when an attempt's answer is
            // late; one that did land meanwhile finds its own request there.
            Err(e) if self.holds_acm_request(request).await => {
                tracing::info!(domain = %request.domain, error = %e, "the request was written by an earlier attempt of the same transaction");
                Ok(())
            }
            other => other,
        }
    }

    /// Whether the stored request is `request` as written (the same ID, at
    /// the same version).
    async fn holds_acm_request(&self, request: &AcmRequest) -> bool {
        matches!(
            self.load_acm_request(&request.domain).await,
            Ok(Some(stored)) if stored.request_id == request.request_id
                && stored.workspace_id == request.workspace_id
                && stored.version == request.version
        )
    }

    /// Saves an ACM request read at its current version, and bumps the
    /// version. (A configured request's place among its workspace's
    /// pending ones is let go when the workspace next needs one,
    /// `Store::check_pending`.)
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
            Some(AttributeValue::S(d)) => DomainName::stored(d).map(Some),
            _ => Ok(None),
        }
    }
}
