//! The DynamoDB table: one table, items told apart by their keys.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | who owns a hostname (both issuance paths) | `DOMAIN#<host>` | `OWNER` |
//! | a hostname's ACME order | `DOMAIN#<host>` | `ACME_ORDER` |
//! | an organisation's settings (its CloudFront distribution) | `ORG#<org_id>` | `SETTINGS` |
//! | the ACME account (sealed credentials) | `ACME_ACCOUNT` | `<directory URL>` |
//!
//! Records are serde structs stored as attribute maps (see [`to_item`]); every
//! write of an order is conditional on the version it read, and a hostname's
//! first order is written in one transaction with its ownership claim, so two
//! tenants racing for a name end with one owner.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::{AcmeOrder, DomainName, TenantId};
use crate::error::{Error, Service};

const OWNER: &str = "OWNER";
const ACME_ORDER: &str = "ACME_ORDER";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn domain_pk(domain: &DomainName) -> AttributeValue {
    AttributeValue::S(format!("DOMAIN#{domain}"))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn upstream<E, R>(e: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::upstream(Service::DynamoDb, e)
}

fn concurrent_writer() -> Error {
    Error::conflict(
        "concurrent_update",
        "another request changed this domain at the same time; repeat the request",
    )
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get(&self, pk: AttributeValue, sk: &str) -> Result<Option<Item>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(upstream)?;
        Ok(out.item)
    }

    /// The tenant that owns `domain`, if any.
    pub async fn owner_of(&self, domain: &DomainName) -> Result<Option<TenantId>, Error> {
        let Some(item) = self.get(domain_pk(domain), OWNER).await? else {
            return Ok(None);
        };
        match item.get("tenant_id") {
            Some(AttributeValue::S(t)) => TenantId::parse("tenant_id", t).map(Some),
            _ => Err(Error::Internal(format!(
                "owner record of {domain} has no tenant_id"
            ))),
        }
    }

    pub async fn load_order(&self, domain: &DomainName) -> Result<Option<AcmeOrder>, Error> {
        self.get(domain_pk(domain), ACME_ORDER)
            .await?
            .map(from_item)
            .transpose()
    }

    /// Writes a new order for a hostname, claiming the hostname for the order's
    /// tenant in the same transaction. `replacing` is the version of an order
    /// this one replaces (an invalid or expired one), `None` for a first order.
    pub async fn insert_order(
        &self,
        order: &AcmeOrder,
        replacing: Option<u64>,
    ) -> Result<(), Error> {
        let pk = domain_pk(&order.domain);
        let claim = Put::builder()
            .table_name(&self.table)
            .item("pk", pk.clone())
            .item("sk", s(OWNER))
            .item("tenant_id", s(order.org_id.as_str()))
            .item("claimed_at", s(order.created_at.clone()))
            .condition_expression("attribute_not_exists(pk) OR tenant_id = :tenant")
            .expression_attribute_values(":tenant", s(order.org_id.as_str()))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(order_item(order, &pk)?));
        put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        let put = put.build().map_err(|e| Error::Internal(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons: Vec<Option<String>> = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(c.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                let failed = |i: usize| {
                    reasons.get(i).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed")
                };
                if failed(0) {
                    Err(Error::conflict(
                        "domain_taken",
                        format!("{} is already claimed by another tenant", order.domain),
                    ))
                } else if failed(1) {
                    Err(concurrent_writer())
                } else {
                    Err(upstream(e))
                }
            }
        }
    }

    /// Saves `order`, which was read at `order.version`, and bumps the version.
    pub async fn save_order(&self, order: &mut AcmeOrder) -> Result<(), Error> {
        let expected = order.version;
        order.version += 1;
        order.updated_at = crate::now_rfc3339();
        let pk = domain_pk(&order.domain);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(order_item(order, &pk)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                order.version = expected;
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception())
                {
                    Err(concurrent_writer())
                } else {
                    Err(upstream(e))
                }
            }
        }
    }

    /// The CloudFront distribution recorded for an organisation, if any.
    pub async fn org_distribution(&self, org: &TenantId) -> Result<Option<String>, Error> {
        let item = self.get(s(format!("ORG#{org}")), "SETTINGS").await?;
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
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("ORG#{org}")))
            .item("sk", s("SETTINGS"))
            .item("distribution_id", s(distribution_id))
            .send()
            .await
            .map_err(upstream)?;
        Ok(())
    }

    /// The sealed ACME account credentials stored for a directory.
    pub async fn load_account(&self, directory: &str) -> Result<Option<String>, Error> {
        let item = self.get(s("ACME_ACCOUNT"), directory).await?;
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
            .item("pk", s("ACME_ACCOUNT"))
            .item("sk", s(directory))
            .item("sealed_credentials", s(sealed))
            .item("created_at", s(crate::now_rfc3339()));
        put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("sealed_credentials = :old")
                .expression_attribute_values(":old", s(old)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(upstream(e)),
        }
    }
}

fn order_item(order: &AcmeOrder, pk: &AttributeValue) -> Result<Item, Error> {
    let mut item = to_item(order)?;
    item.insert("pk".into(), pk.clone());
    item.insert("sk".into(), s(ACME_ORDER));
    Ok(item)
}

/// Turns a serde struct into a DynamoDB item (numbers as `N`, maps as `M`,
/// `None` left out).
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, Error> {
    match serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))? {
        serde_json::Value::Object(map) => Ok(map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, to_attribute(v)))
            .collect()),
        _ => Err(Error::Internal("only structs are stored".into())),
    }
}

fn to_attribute(value: serde_json::Value) -> AttributeValue {
    use serde_json::Value;
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attribute).collect()),
        Value::Object(o) => AttributeValue::M(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, to_attribute(v)))
                .collect(),
        ),
    }
}

/// The inverse of [`to_item`]; the key attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Error> {
    let map: serde_json::Map<String, serde_json::Value> = item
        .into_iter()
        .filter(|(k, _)| k != "pk" && k != "sk")
        .map(|(k, v)| Ok((k, from_attribute(v)?)))
        .collect::<Result<_, Error>>()?;
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| Error::Internal(format!("stored record does not parse: {e}")))
}

fn from_attribute(value: AttributeValue) -> Result<serde_json::Value, Error> {
    use serde_json::Value;
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::N(n) => Value::Number(
            n.parse::<serde_json::Number>()
                .map_err(|_| Error::Internal(format!("bad stored number {n}")))?,
        ),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::L(l) => Value::Array(
            l.into_iter()
                .map(from_attribute)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| Ok((k, from_attribute(v)?)))
                .collect::<Result<_, Error>>()?,
        ),
        other => {
            return Err(Error::Internal(format!(
                "unexpected stored attribute {other:?}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        count: u64,
        flag: bool,
        nested: Option<Vec<String>>,
        missing: Option<String>,
    }

    #[test]
    fn round_trips_through_attributes() {
        let v = Sample {
            name: "a".into(),
            count: 7,
            flag: true,
            nested: Some(vec!["x".into()]),
            missing: None,
        };
        let item = to_item(&v).unwrap();
        assert!(!item.contains_key("missing"));
        assert_eq!(item["count"], AttributeValue::N("7".into()));
        assert_eq!(from_item::<Sample>(item).unwrap(), v);
    }
}
