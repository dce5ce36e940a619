//! `ORG#<org_id>` / `SETTINGS` items: an organisation's settings (the
//! CloudFront distribution its hostnames are served by).

use aws_sdk_dynamodb::types::AttributeValue;

use super::conflicts::{resend_on_conflict, write_conflict};
use super::{s, upstream, Store};
use crate::domain::TenantId;
use crate::error::Error;

const SETTINGS: &str = "SETTINGS";

fn org_pk(org: &TenantId) -> AttributeValue {
    s(format!("ORG#{org}"))
}

impl Store {
    /// The CloudFront distribution recorded for an organisation, if any.
    pub async fn org_distribution(&self, org: &TenantId) -> Result<Option<String>, Error> {
        let item = self.get(org_pk(org), SETTINGS).await?;
        Ok(item.and_then(|i| match i.get("distribution_id") {
            Some(AttributeValue::S(d)) if !d.is_empty() => Some(d.clone()),
            _ => None,
        }))
    }

    /// Records the CloudFront distribution of an organisation.
    pub async fn set_org_distribution(
        &self,
        org: &TenantId,
        distribution_id: &str,
    ) -> Result<(), Error> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", org_pk(org))
            .item("sk", s(SETTINGS))
            .item("distribution_id", s(distribution_id));
        resend_on_conflict(|| request.clone().send(), write_conflict)
            .await
            .map_err(upstream)?;
        Ok(())
    }
}
