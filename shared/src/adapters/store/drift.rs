//! `DNS` items: whether a live hostname still points at its edge (its DNS
//! health, versioned), and the `DriftCheck` index `drift-check` reads
//! them from. The first one is written with the mapping (see `mappings`).

use aws_sdk_dynamodb::types::AttributeValue;

use super::versioned::lock_fields;
use super::{domain_pk, due_shard, s, Store, Versioned, DNS, DRIFT_INDEX};
use crate::domain::{DomainName, DriftCheck, Timestamp};
use crate::error::Error;

impl Versioned for DriftCheck {
    lock_fields!();
    /// Always in the drift index while the hostname is live.
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        vec![
            ("check_shard", s(due_shard(&self.domain))),
            ("check_at", s(self.check_at.index_key())),
        ]
    }
}

impl Store {
    /// Live hostnames whose DNS check is due at `now` (at most `limit`,
    /// shared fairly between the shards), from the drift index: O(due).
    pub async fn due_dns_checks(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, Error> {
        self.due_in(DRIFT_INDEX, "check_shard", "check_at", now, limit)
            .await
    }

    /// Saves a hostname's DNS health read at its current version.
    pub async fn save_drift_check(&self, health: &mut DriftCheck) -> Result<(), Error> {
        let pk = domain_pk(&health.domain);
        self.save_versioned(health, pk, DNS).await
    }
}
