//! `LEASE` items: a short lease on a hostname's renewal, so one renewal per
//! hostname runs at a time, whoever drives it.

use aws_sdk_dynamodb::types::AttributeValue;

use super::conflicts::{resend_on_conflict, write_conflict};
use super::{condition_failed, domain_pk, s, upstream, Store, LEASE};
use crate::domain::{DomainName, Timestamp};
use crate::error::Error;

impl Store {
    /// Takes the hostname's lease for `holder` until `until`: succeeds when
    /// there is none, it has expired, or `holder` already has it. One
    /// renewal per hostname at a time, whoever drives it.
    pub async fn take_lease(
        &self,
        domain: &DomainName,
        holder: &str,
        until: Timestamp,
    ) -> Result<bool, Error> {
        let now = Timestamp::now();
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", domain_pk(domain))
            .item("sk", s(LEASE))
            .item("holder", s(holder))
            .item("until", AttributeValue::N(until.unix().to_string()))
            .condition_expression("attribute_not_exists(pk) OR #until < :now OR holder = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", AttributeValue::N(now.unix().to_string()))
            .expression_attribute_values(":me", s(holder));
        let result = resend_on_conflict(|| request.clone().send(), write_conflict).await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Gives the lease back, if `holder` still has it.
    pub async fn release_lease(&self, domain: &DomainName, holder: &str) -> Result<(), Error> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(LEASE))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder));
        let result = resend_on_conflict(|| request.clone().send(), write_conflict).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(upstream(e)),
        }
    }
}
