//! The DynamoDB table: one table, items told apart by their keys. This
//! module is the only place its keys and attribute values are built; each
//! submodule owns the items of one kind of record, as `impl Store` blocks.
//!
//! | item | `pk` | `sk` | module |
//! |---|---|---|---|
//! | who owns a hostname (both issuance paths) | `DOMAIN#<host>` | `OWNER` | `claims` |
//! | a hostname's ACME order | `DOMAIN#<host>` | `ACME_ORDER` | `orders` |
//! | the hostname whose order will add this one to its certificate | `DOMAIN#<host>` | `ORDER_REF` | `orders` |
//! | a hostname's ACM request | `DOMAIN#<host>` | `ACM_REQUEST` | `acm_requests` |
//! | which hostname an ACM request ID names | `ACM_REQUEST#<id>` | `ACM_REQUEST` | `acm_requests` |
//! | a live hostname → tenant mapping (both paths) | `DOMAIN#<host>` | `MAPPING` | `mappings` |
//! | the certificate served (ACME path) | `DOMAIN#<host>` | `CERT` | `served` |
//! | a short lease on the hostname's renewal | `DOMAIN#<host>` | `LEASE` | `lease` |
//! | whether a live hostname points at its edge (drift) | `DOMAIN#<host>` | `DNS` | `drift` |
//! | an organisation's settings (its CloudFront distribution) | `ORG#<org_id>` | `SETTINGS` | `settings` |
//! | the ACME account (sealed credentials) | `ACME_ACCOUNT` | `<directory URL>` | `acme_account` |
//! | when a tenant started its recent new hostnames | `TENANT#<tenant>` | `NEW_ORDERS` | `tenants` |
//! | the hostnames holding a tenant's pending places (its pending limit) | `TENANT#<tenant>` | `PENDING` | `tenants` |
//! | how many hostnames are in each state | `COUNTS` | `HOSTNAMES#<n>` (64 shards) | `counts` |
//! | the CA's limits, counted per ACME directory | `ACME_LIMITS#<directory URL>` | `NEW_ORDERS`, `DOMAIN#<registered domain>`, `NAMES#<host>`, `FAILED#<host>` | `limits` |
//!
//! Six global secondary indexes, all sparse (only the items that carry their
//! key attributes are in them) and keys-only but for `Overdue`:
//! - `RenewalDue` (`due_shard`, `due_at`): every `CERT` item (of a
//!   certificate with several names, the lead's copy only), keyed on when
//!   the renewal sweep should next look at it ([`Store::due_hostnames`]);
//!   the sweep reads O(due) items, never the whole table. `due_shard` spreads
//!   the index over [`DUE_SHARDS`] partitions.
//! - `Overdue` (`due_shard`, `overdue_at`): the same `CERT` items, keyed
//!   on when each is overdue (`ServedCertificate::overdue_at`), with their
//!   `not_after`: the sweep counts the overdue ones (a `Select COUNT`
//!   Query per shard, reading O(overdue) keys) and reads the most urgent
//!   one per shard, for its metrics ([`Store::overdue_certificates`]).
//! - `ByTenant` (`owner_tenant`, `pk`): every `OWNER` item, so a tenant's
//!   hostnames are listed page by page ([`Store::hostnames_of`]).
//! - `Hostnames` (`listing`, `pk`): every `OWNER` item again, under one
//!   key, so the platform's operators list every tenant's hostnames page by
//!   page ([`Store::all_hostnames`]). One partition: it is written once per
//!   claim and once per release, far under a partition's 1,000 writes a
//!   second.
//! - `PendingByTenant` (`pending_tenant`, `pk`): first orders and ACM
//!   requests not yet served. The pending limit is not read from it (an
//!   index answers up to a second behind its table, and a count read there
//!   cannot stop starts racing each other): it is kept on the tenant's
//!   `PENDING` item, written in the transaction that makes a hostname
//!   pending. The index seeds that item for a tenant from before it, and
//!   tells which of its hostnames may have left pending
//!   ([`Store::check_pending`]).
//! - `DriftCheck` (`check_shard`, `check_at`): every `DNS` item, keyed on
//!   when `drift-check` should next resolve the hostname
//!   ([`Store::due_dns_checks`]), sharded as `RenewalDue`.
//!
//! Everything of one hostname shares its partition and is read with one
//! Query ([`Store::load_hostname`]).
//!
//! Records are serde structs stored as attribute maps (see [`to_item`]); every
//! write of an order, request, served certificate, DNS health record or
//! limit counter is conditional on the version it read (one mechanism, in
//! `versioned`), and a hostname's first order or request is written in one
//! transaction with its ownership claim, so two tenants racing for a name
//! end with one owner. A write DynamoDB refuses because a transaction in
//! flight touches its item is sent again (`conflicts`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{DomainName, HostnameRecords, Timestamp};
use crate::error::Code;
use crate::error::{Error, Service};

mod acm_requests;
mod acme_account;
mod claims;
mod conflicts;
mod counts;
mod drift;
mod events;
mod item;
mod lease;
mod ledger;
mod limits;
mod managed;
mod mappings;
mod orders;
mod served;
mod settings;
mod tenants;
mod versioned;

pub use item::{from_item, to_item};
pub use ledger::Counted;
pub use limits::CaCounter;
pub use tenants::{HostnamePage, PendingPlace};
pub use versioned::Versioned;

const OWNER: &str = "OWNER";
const ACME_ORDER: &str = "ACME_ORDER";
const ACM_REQUEST: &str = "ACM_REQUEST";
const MAPPING: &str = "MAPPING";
const CERT: &str = "CERT";
const MANAGED: &str = "MANAGED";
const LEASE: &str = "LEASE";
const DNS: &str = "DNS";
const ORDER_REF: &str = "ORDER_REF";
/// The last claim on the hostname that ended (kept 30 days; see
/// [`crate::domain::PreviousClaim`]).
const PREVIOUS_CLAIM: &str = "PREVIOUS_CLAIM";

/// The renewal index and its key attributes.
pub const RENEWAL_INDEX: &str = "RenewalDue";
/// Served certificates by when they are overdue (sharded as the renewal
/// index).
pub const OVERDUE_INDEX: &str = "Overdue";
/// The tenant index and its hash key attribute (its range key is `pk`).
pub const TENANT_INDEX: &str = "ByTenant";
/// Every claim, for the platform's operators.
pub const HOSTNAMES_INDEX: &str = "Hostnames";
/// The index of first orders and ACM requests not yet served, by tenant.
const PENDING_INDEX: &str = "PendingByTenant";
/// Partitions of the renewal index: a sweep queries each.
pub const DUE_SHARDS: u32 = 4;
/// The drift index (sharded as the renewal index).
pub const DRIFT_INDEX: &str = "DriftCheck";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct Store {
    client: super::lazy::Lazy<aws_sdk_dynamodb::Client>,
    table: String,
    /// Items read so far (GetItem and Query answers): what the sweep
    /// benchmark reports.
    items_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn domain_pk(domain: &DomainName) -> AttributeValue {
    AttributeValue::S(format!("DOMAIN#{domain}"))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A DynamoDB error as the product's: a write refused on every attempt for
/// a transaction in flight on its item is a concurrent writer
/// (`conflicts`); anything else DynamoDB's failure.
fn upstream<E, R>(e: SdkError<E, R>) -> Error
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if conflicts::write_conflict(&e) {
        return concurrent_writer();
    }
    Error::upstream(Service::DynamoDb, e)
}

/// A request the SDK refused to build (a missing required field).
fn unbuilt(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(e.to_string())
}

/// Whether a write failed on its condition (rather than on DynamoDB).
fn condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn concurrent_writer() -> Error {
    Error::conflict(
        Code::ConcurrentUpdate,
        "another request changed this domain at the same time; repeat the request",
    )
}

/// The partition of a sharded due index (`RenewalDue`, `DriftCheck`) a
/// hostname's item goes to (a stable hash of its name).
fn due_shard(domain: &DomainName) -> String {
    format!("DUE#{}", name_hash(domain) % DUE_SHARDS)
}

/// A stable hash of a hostname's name (FNV-1a), to shard by.
fn name_hash(domain: &DomainName) -> u32 {
    domain.as_str().bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    })
}

impl Store {
    pub fn new(
        client: impl Into<super::lazy::Lazy<aws_sdk_dynamodb::Client>>,
        table: String,
    ) -> Self {
        Self {
            client: client.into(),
            table,
            items_read: Default::default(),
        }
    }

    /// Items read from the table by this store so far.
    pub fn items_read(&self) -> u64 {
        self.items_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_read(&self, n: usize) {
        self.items_read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
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
        self.count_read(usize::from(out.item.is_some()));
        Ok(out.item)
    }

    /// Everything stored about `domain`, in one consistent Query on its
    /// partition.
    pub async fn load_hostname(&self, domain: &DomainName) -> Result<HostnameRecords, Error> {
        let mut records = HostnameRecords::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", domain_pk(domain))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(upstream)?;
            self.count_read(out.items().len());
            for item in out.items.unwrap_or_default() {
                let sk = match item.get("sk") {
                    Some(AttributeValue::S(sk)) => sk.clone(),
                    _ => continue,
                };
                match sk.as_str() {
                    OWNER => records.owner = Some(claims::owner_from(domain, &item)?),
                    PREVIOUS_CLAIM => records.previous = claims::previous_from(&item),
                    ACME_ORDER => records.order = Some(from_item(item)?),
                    CERT => records.served = Some(from_item(item)?),
                    ACM_REQUEST => records.acm_request = Some(from_item(item)?),
                    MANAGED => records.managed = Some(from_item(item)?),
                    MAPPING => records.mapping = Some(from_item(item)?),
                    DNS => records.dns = Some(from_item(item)?),
                    ORDER_REF => {
                        if let Some(AttributeValue::S(lead)) = item.get("order_lead") {
                            records.order_ref = Some(DomainName::stored(lead)?);
                        }
                    }
                    other if other.starts_with(events::EVENT) => {
                        records.told.extend(events::told_from(other, &item));
                    }
                    _ => {}
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(records),
            }
        }
    }

    /// The hostnames whose item in a sharded due index (`index`, keyed on
    /// `shard_key` and `at_key`) is due at `now`, at most `limit`, shared
    /// fairly between the shards: reads only the due keys.
    async fn due_in(
        &self,
        index: &str,
        shard_key: &str,
        at_key: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, Error> {
        let mut found = Vec::new();
        // An equal share per shard (the last ones take what the first left),
        // so no shard starves the others when more is due than one run takes.
        for shard in 0..DUE_SHARDS {
            let shards_left = (DUE_SHARDS - shard) as usize;
            let share = limit.saturating_sub(found.len()).div_ceil(shards_left);
            let stop_at = found.len() + share;
            let mut start = None;
            loop {
                let want = stop_at.saturating_sub(found.len());
                if want == 0 {
                    break;
                }
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#shard = :shard AND #at <= :now")
                    .expression_attribute_names("#shard", shard_key)
                    .expression_attribute_names("#at", at_key)
                    .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                    .expression_attribute_values(":now", s(now.index_key()))
                    .limit(i32::try_from(want.min(500)).unwrap_or(500))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(upstream)?;
                self.count_read(out.items().len());
                for item in out.items() {
                    if let Some(AttributeValue::S(pk)) = item.get("pk") {
                        if let Some(host) = pk.strip_prefix("DOMAIN#") {
                            // Read as stored (a name today's rules refuse,
                            // after a newer Public Suffix List, still
                            // renews); a malformed one must not stop every
                            // run.
                            match DomainName::stored(host) {
                                Ok(d) => found.push(d),
                                Err(e) => {
                                    tracing::warn!(host, error = %e, "a due hostname no longer parses; skipped")
                                }
                            }
                        }
                    }
                }
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}
