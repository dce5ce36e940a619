//! `ACME_ACCOUNT` items: the ACME account's credentials (sealed with KMS),
//! one per directory URL.

use aws_sdk_dynamodb::types::AttributeValue;

use super::conflicts::{resend_on_conflict, write_conflict};
use super::{condition_failed, s, upstream, Store};
use crate::domain::Timestamp;
use crate::error::Error;

const ACME_ACCOUNT: &str = "ACME_ACCOUNT";

impl Store {
    /// The sealed ACME account credentials stored for a directory.
    pub async fn load_account(&self, directory: &str) -> Result<Option<String>, Error> {
        let item = self.get(s(ACME_ACCOUNT), directory).await?;
        Ok(item.and_then(|i| match i.get("sealed_credentials") {
            Some(AttributeValue::S(c)) => Some(c.clone()),
            _ => None,
        }))
    }

    /// Stores sealed ACME account credentials. With `replacing`, overwrites
    /// only those exact credentials (an account the CA no longer knows);
    /// without, writes only if none exist. Answers false when another writer
    /// got there first.
    pub async fn store_account(
        &self,
        directory: &str,
        sealed: &str,
        replacing: Option<&str>,
    ) -> Result<bool, Error> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ACME_ACCOUNT))
            .item("sk", s(directory))
            .item("sealed_credentials", s(sealed))
            .item("created_at", s(Timestamp::now().to_string()));
        put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("sealed_credentials = :old")
                .expression_attribute_values(":old", s(old)),
        };
        match resend_on_conflict(|| put.clone().send(), write_conflict).await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }
}
