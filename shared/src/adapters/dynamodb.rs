//! The DynamoDB table: one table, items told apart by their keys.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | who owns a hostname (both issuance paths) | `DOMAIN#<host>` | `OWNER` |
//! | a hostname's ACME order | `DOMAIN#<host>` | `ACME_ORDER` |
//! | the hostname whose order will add this one to its certificate | `DOMAIN#<host>` | `ORDER_REF` |
//! | a hostname's ACM request | `DOMAIN#<host>` | `ACM_REQUEST` |
//! | which hostname an ACM request ID names | `ACM_REQUEST#<id>` | `ACM_REQUEST` |
//! | a live hostname → tenant mapping (both paths) | `DOMAIN#<host>` | `MAPPING` |
//! | the certificate served (ACME path) | `DOMAIN#<host>` | `CERT` |
//! | a short lease on the hostname's renewal | `DOMAIN#<host>` | `LEASE` |
//! | whether a live hostname points at its edge (drift) | `DOMAIN#<host>` | `DNS` |
//! | an organisation's settings (its CloudFront distribution) | `ORG#<org_id>` | `SETTINGS` |
//! | the ACME account (sealed credentials) | `ACME_ACCOUNT` | `<directory URL>` |
//! | when a tenant started its recent new hostnames | `TENANT#<tenant>` | `NEW_ORDERS` |
//!
//! Four global secondary indexes, all sparse (only the items that carry their
//! key attributes are in them) and all keys-only:
//! - `RenewalDue` (`due_shard`, `due_at`): every `CERT` item (of a
//!   certificate with several names, the lead's copy only), keyed on when
//!   the renewal sweep should next look at it ([`Store::due_hostnames`]);
//!   the sweep reads O(due) items, never the whole table. `due_shard` spreads
//!   the index over [`DUE_SHARDS`] partitions.
//! - `ByTenant` (`owner_tenant`, `pk`): every `OWNER` item, so a tenant's
//!   hostnames are listed page by page ([`Store::hostnames_of`]).
//! - `PendingByTenant` (`pending_tenant`, `pk`): first orders and ACM
//!   requests not yet served, counted for the pending limit
//!   ([`Store::check_pending`], at most the limit's keys read).
//! - `DriftCheck` (`check_shard`, `check_at`): every `DNS` item, keyed on
//!   when `check-domains` should next resolve the hostname
//!   ([`Store::due_dns_checks`]), sharded as `RenewalDue`.
//!
//! Everything of one hostname shares its partition and is read with one
//! Query ([`Store::load_hostname`]).
//!
//! Records are serde structs stored as attribute maps (see [`to_item`]); every
//! write of an order or request is conditional on the version it read, and a
//! hostname's first order or request is written in one transaction with its
//! ownership claim, so two tenants racing for a name end with one owner.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::{
    AcmRequest, AcmStage, AcmeOrder, DomainMapping, DomainName, HostnameRecords, Owner, Purpose,
    ServedCertificate, TenantId, Timestamp,
};
use crate::error::{Error, Service};

const OWNER: &str = "OWNER";
const ACME_ORDER: &str = "ACME_ORDER";
const ACM_REQUEST: &str = "ACM_REQUEST";
const MAPPING: &str = "MAPPING";
const CERT: &str = "CERT";
const LEASE: &str = "LEASE";
const DNS: &str = "DNS";
const ORDER_REF: &str = "ORDER_REF";

/// The renewal index and its key attributes.
pub const RENEWAL_INDEX: &str = "RenewalDue";
/// The tenant index and its hash key attribute (its range key is `pk`).
pub const TENANT_INDEX: &str = "ByTenant";
/// Partitions of the renewal index: a sweep queries each.
pub const DUE_SHARDS: u32 = 4;
/// The drift index (sharded as the renewal index).
pub const DRIFT_INDEX: &str = "DriftCheck";

/// A record written with optimistic locking.
pub trait Versioned: Serialize {
    fn version(&self) -> u64;
    fn updated_at(&self) -> Timestamp;
    fn set_version(&mut self, version: u64, now: Timestamp);
    /// Attributes stored beside the record's own (index keys).
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        Vec::new()
    }
}

impl Versioned for AcmeOrder {
    fn version(&self) -> u64 {
        self.version
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn set_version(&mut self, version: u64, now: Timestamp) {
        self.version = version;
        self.updated_at = now;
    }
    /// A first issuance is pending for its tenant until promoted (which
    /// deletes the order); a renewal is not.
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        match self.purpose {
            Purpose::Issue => vec![("pending_tenant", s(self.org_id.as_str()))],
            Purpose::Renew | Purpose::Extend => Vec::new(),
        }
    }
}

impl Versioned for AcmRequest {
    fn version(&self) -> u64 {
        self.version
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn set_version(&mut self, version: u64, now: Timestamp) {
        self.version = version;
        self.updated_at = now;
    }
    /// Pending for its workspace until configured.
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        match self.stage {
            AcmStage::Configured => Vec::new(),
            _ => vec![("pending_tenant", s(self.workspace_id.as_str()))],
        }
    }
}

impl Versioned for ServedCertificate {
    fn version(&self) -> u64 {
        self.version
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn set_version(&mut self, version: u64, now: Timestamp) {
        self.version = version;
        self.updated_at = now;
    }
    /// In the renewal index while the sweep has something to do for it (a
    /// certificate of several names: its lead's copy).
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        match self.renewal.due_at().filter(|_| self.is_lead()) {
            Some(at) => vec![
                ("due_shard", s(due_shard(&self.domain))),
                ("due_at", s(at.index_key())),
            ],
            None => Vec::new(),
        }
    }
}

impl Versioned for crate::domain::DnsHealth {
    fn version(&self) -> u64 {
        self.version
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn set_version(&mut self, version: u64, now: Timestamp) {
        self.version = version;
        self.updated_at = now;
    }
    /// Always in the drift index while the hostname is live.
    fn index_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        vec![
            ("check_shard", s(due_shard(&self.domain))),
            ("check_at", s(self.check_at.index_key())),
        ]
    }
}

/// The renewal-index partition of a hostname (a stable hash of its name).
fn due_shard(domain: &DomainName) -> String {
    let hash = domain.as_str().bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    format!("DUE#{}", hash % DUE_SHARDS)
}

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct Store {
    client: super::lazy::Lazy<aws_sdk_dynamodb::Client>,
    table: String,
    /// Items read so far (GetItem and Query answers): what the sweep
    /// benchmark reports.
    items_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// One page of a tenant's hostnames.
#[derive(Clone, Debug)]
pub struct HostnamePage {
    pub domains: Vec<DomainName>,
    /// Where the next page starts (opaque to callers), if there is one.
    pub next: Option<String>,
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

/// The ownership claim (both paths): the tenant, the tenant index key, and,
/// kept from the claim's first write until its release, when it began and
/// its delegation label.
const CLAIM: &str = "SET tenant_id = :tenant, owner_tenant = :tenant, claimed_at = if_not_exists(claimed_at, :now), delegation_label = if_not_exists(delegation_label, :label)";
/// A claim succeeds on a free name or the tenant's own, unless its owner is
/// releasing it.
const CLAIM_CONDITION: &str =
    "(attribute_not_exists(pk) OR tenant_id = :tenant) AND attribute_not_exists(releasing_since)";

/// Whether a write failed on its condition (rather than on DynamoDB).
fn condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// A record as stored: its attributes, its key, and its index keys.
fn stored_item<T: Versioned>(record: &T, pk: &AttributeValue, sk: &str) -> Result<Item, Error> {
    let mut item = keyed(record, pk, sk)?;
    item.extend(
        record
            .index_attributes()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    Ok(item)
}

fn concurrent_writer() -> Error {
    Error::conflict(
        "concurrent_update",
        "another request changed this domain at the same time; repeat the request",
    )
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
                    OWNER => records.owner = Some(owner_from(domain, &item)?),
                    ACME_ORDER => records.order = Some(from_item(item)?),
                    CERT => records.served = Some(from_item(item)?),
                    ACM_REQUEST => records.acm_request = Some(from_item(item)?),
                    MAPPING => records.mapping = Some(from_item(item)?),
                    DNS => records.dns = Some(from_item(item)?),
                    ORDER_REF => {
                        if let Some(AttributeValue::S(lead)) = item.get("order_lead") {
                            records.order_ref = Some(DomainName::parse(lead)?);
                        }
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

    /// Claims `domain` for `tenant`: succeeds if the hostname is free or
    /// already the tenant's (answering when this claim began, which stays
    /// the same until the name is released), and is a `domain_taken`
    /// conflict otherwise. A
    /// conditional write, so of any number of tenants racing for a name
    /// exactly one wins. Every flow claims before it asks a CA or ACM for
    /// anything, so nothing is ever requested for a name the tenant lost.
    pub async fn claim(&self, domain: &DomainName, tenant: &TenantId) -> Result<String, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression(CLAIM)
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .expression_attribute_values(":label", s(new_delegation_label()?))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes.as_ref().and_then(|a| a.get("claimed_at")) {
                Some(AttributeValue::S(at)) => Ok(at.clone()),
                _ => Err(Error::Internal(format!(
                    "the claim on {domain} has no claimed_at"
                ))),
            },
            Err(e) if condition_failed(&e) => Err(self.claim_refused(domain, tenant).await),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Why a claim was refused: another tenant holds the name, or its owner
    /// is releasing it.
    async fn claim_refused(&self, domain: &DomainName, tenant: &TenantId) -> Error {
        let releasing = match self.get(domain_pk(domain), OWNER).await {
            Ok(Some(item)) => {
                item.contains_key("releasing_since")
                    && matches!(item.get("tenant_id"), Some(AttributeValue::S(t)) if t == tenant.as_str())
            }
            _ => false,
        };
        if releasing {
            Error::conflict(
                "domain_releasing",
                format!("{domain} is being released; claim it again once the release is done"),
            )
        } else {
            Error::conflict(
                "domain_taken",
                format!("{domain} is already claimed by another tenant"),
            )
        }
    }

    /// Marks `domain` as being released by its owner `tenant` (kept across
    /// repeats). From then on the claim refuses new orders and requests.
    pub async fn begin_release(&self, domain: &DomainName, tenant: &TenantId) -> Result<(), Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression("SET releasing_since = if_not_exists(releasing_since, :now)")
            .condition_expression("tenant_id = :tenant")
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(concurrent_writer()),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Takes one of `tenant`'s new-hostname slots: at most `limit` in any
    /// `window`. The times are kept on one item, written conditionally on
    /// what was read, so concurrent calls cannot both take the last slot.
    /// Refused with `429 tenant_rate_limited` and when a slot frees up.
    pub async fn take_new_order_slot(
        &self,
        tenant: &TenantId,
        limit: u32,
        window: std::time::Duration,
    ) -> Result<(), Error> {
        if limit == 0 {
            return Ok(());
        }
        let pk = s(format!("TENANT#{tenant}"));
        if let Some((count, frees)) = self.window(pk, "NEW_ORDERS", limit, window, true).await? {
            let now = Timestamp::now();
            return Err(Error::RateLimited {
                code: "tenant_rate_limited",
                message: format!(
                    "tenant {tenant} started {count} new hostnames in the last {} minutes, the most allowed; try again after {frees}",
                    window.as_secs() / 60
                ),
                retry_after: now.until(frees).max(std::time::Duration::from_secs(1)),
            });
        }
        Ok(())
    }

    /// A sliding-window counter on one item (`pk`, `sk`): the times of the
    /// events within `window`. With `limit` of them already, answers how
    /// many and when the oldest leaves the window (`Some`), changing
    /// nothing; otherwise, when `take`, records one more now, conditional on
    /// what was read, so concurrent callers cannot both take the last place.
    pub async fn window(
        &self,
        pk: AttributeValue,
        sk: &str,
        limit: u32,
        window: std::time::Duration,
        take: bool,
    ) -> Result<Option<(usize, Timestamp)>, Error> {
        for _ in 0..5 {
            let item = self.get(pk.clone(), sk).await?;
            let stored: Vec<String> = match item.as_ref().and_then(|i| i.get("started")) {
                Some(AttributeValue::L(l)) => l
                    .iter()
                    .filter_map(|v| match v {
                        AttributeValue::S(t) => Some(t.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let now = Timestamp::now();
            let mut recent: Vec<Timestamp> = stored
                .iter()
                .filter_map(|t| Timestamp::parse(t).ok())
                .filter(|t| now.minus(window) < *t)
                .collect();
            recent.sort();
            if recent.len() >= limit as usize {
                let frees = recent[recent.len() - limit as usize].plus(window);
                return Ok(Some((recent.len(), frees)));
            }
            if !take {
                return Ok(None);
            }
            recent.push(now);
            let started: Vec<AttributeValue> = recent.iter().map(|t| s(t.to_string())).collect();
            let version = match item.as_ref().and_then(|i| i.get("version")) {
                Some(AttributeValue::N(n)) => n.parse::<u64>().unwrap_or(0),
                _ => 0,
            };
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", pk.clone())
                .item("sk", s(sk))
                .item("started", AttributeValue::L(started))
                .item("version", AttributeValue::N((version + 1).to_string()));
            put = match &item {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(_) => put
                    .condition_expression("version = :read")
                    .expression_attribute_values(":read", AttributeValue::N(version.to_string())),
            };
            match put.send().await {
                Ok(_) => return Ok(None),
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(upstream(e)),
            }
        }
        Err(concurrent_writer())
    }

    /// Refuses a new hostname when `tenant` already has `limit` first
    /// orders or ACM requests not yet served (the `PendingByTenant` index;
    /// reads at most `limit` keys). `429 tenant_pending_limit`.
    pub async fn check_pending(&self, tenant: &TenantId, limit: u32) -> Result<(), Error> {
        if limit == 0 {
            return Ok(());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("PendingByTenant")
            .key_condition_expression("pending_tenant = :t")
            .expression_attribute_values(":t", s(tenant.as_str()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(upstream)?;
        self.items_read.fetch_add(
            u64::try_from(out.count()).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        if out.count() < i32::try_from(limit).unwrap_or(i32::MAX) {
            return Ok(());
        }
        Err(Error::RateLimited {
            code: "tenant_pending_limit",
            message: format!(
                "tenant {tenant} has {limit} hostnames awaiting validation, the most allowed at a time; finish or release one (DELETE /domains/{{domain}}) and try again"
            ),
            retry_after: std::time::Duration::from_secs(3600),
        })
    }

    /// Records that `tenant` proved control of `domain` by DNS (kept from
    /// the first time on): from then on its claim never expires.
    pub async fn mark_proven(&self, domain: &DomainName, tenant: &TenantId) -> Result<(), Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression("SET proven_at = if_not_exists(proven_at, :now)")
            .condition_expression("tenant_id = :tenant")
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(Error::conflict(
                "domain_taken",
                format!("{domain} is no longer claimed by {tenant}"),
            )),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Ends another tenant's claim on `domain` if it never proved control
    /// and was made before `stale_before` (squatting), deleting its order
    /// and request with it, in one transaction conditional on exactly that
    /// claim. Answers the ACM certificate the old request left (for the
    /// caller to delete), `Ok(None)` when the claim is not one to end.
    pub async fn end_stale_claim(
        &self,
        domain: &DomainName,
        stale_before: Timestamp,
    ) -> Result<Option<Option<String>>, Error> {
        let records = self.load_hostname(domain).await?;
        let Some(owner) = records.owner else {
            return Ok(None);
        };
        let began = Timestamp::parse(&owner.claimed_at).ok();
        let stale = owner.proven_at.is_none()
            && owner.releasing_since.is_none()
            && records.served.is_none()
            && records.mapping.is_none()
            && began.is_some_and(|t| t < stale_before);
        if !stale {
            return Ok(None);
        }
        let delete = |pk: AttributeValue, sk: &str| {
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("pk", pk)
                .key("sk", s(sk))
        };
        let claim = delete(domain_pk(domain), OWNER)
            .condition_expression(
                "tenant_id = :old AND claimed_at = :began AND attribute_not_exists(proven_at) AND attribute_not_exists(releasing_since)",
            )
            .expression_attribute_values(":old", s(owner.tenant_id.as_str()))
            .expression_attribute_values(":began", s(owner.claimed_at.clone()));
        let mut deletes = vec![
            claim,
            delete(domain_pk(domain), ACME_ORDER),
            delete(domain_pk(domain), ACM_REQUEST),
            delete(domain_pk(domain), LEASE),
            delete(domain_pk(domain), ORDER_REF),
        ];
        if let Some(r) = &records.acm_request {
            deletes.push(delete(
                s(format!("ACM_REQUEST#{}", r.request_id)),
                ACM_REQUEST,
            ));
        }
        let mut tx = self.client.transact_write_items();
        for d in deletes {
            let d = d.build().map_err(|e| Error::Internal(e.to_string()))?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(d).build());
        }
        match tx.send().await {
            Ok(_) => Ok(Some(records.acm_request.map(|r| r.certificate_arn))),
            Err(e) => match e.as_service_error() {
                // The claim changed meanwhile (proved, renewed, released):
                // not one to end.
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => Ok(None),
                _ => Err(upstream(e)),
            },
        }
    }

    /// Records that a step of the release is done.
    pub async fn release_step_done(&self, domain: &DomainName, step: &str) -> Result<(), Error> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression("ADD release_done :step")
            .condition_expression("attribute_exists(releasing_since)")
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step.to_owned()]))
            .send()
            .await
            .map_err(|e| {
                if condition_failed(&e) {
                    concurrent_writer()
                } else {
                    upstream(e)
                }
            })?;
        Ok(())
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

    /// The claim on `domain`, if any (one item, not the whole aggregate).
    pub async fn load_owner(&self, domain: &DomainName) -> Result<Option<Owner>, Error> {
        self.get(domain_pk(domain), OWNER)
            .await?
            .map(|item| owner_from(domain, &item))
            .transpose()
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
    /// `joining` are the order's other names that are not yet on its
    /// certificate: each is pointed at the order (`ORDER_REF`), in the same
    /// transaction.
    pub async fn insert_order(
        &self,
        order: &AcmeOrder,
        replacing: Option<u64>,
        joining: &[DomainName],
    ) -> Result<(), Error> {
        let pk = domain_pk(&order.domain);
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(stored_item(order, &pk, ACME_ORDER)?));
        put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        let put = put.build().map_err(|e| Error::Internal(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for name in joining {
            // A name joins one certificate's order at a time.
            let reference = Put::builder()
                .table_name(&self.table)
                .item("pk", domain_pk(name))
                .item("sk", s(ORDER_REF))
                .item("order_lead", s(order.domain.as_str()))
                .condition_expression("attribute_not_exists(pk) OR order_lead = :lead")
                .expression_attribute_values(":lead", s(order.domain.as_str()))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(reference).build());
        }
        self.claim_and_put(&order.domain, &order.org_id, order.created_at, items)
            .await
    }

    /// Ends an order that never reached a certificate, with its names'
    /// references to it (one transaction, at the version read).
    pub async fn cancel_order(&self, order: &AcmeOrder) -> Result<(), Error> {
        let mut tx = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .delete(
                    aws_sdk_dynamodb::types::Delete::builder()
                        .table_name(&self.table)
                        .key("pk", domain_pk(&order.domain))
                        .key("sk", s(ACME_ORDER))
                        .condition_expression("version = :v")
                        .expression_attribute_values(
                            ":v",
                            AttributeValue::N(order.version.to_string()),
                        )
                        .build()
                        .map_err(|e| Error::Internal(e.to_string()))?,
                )
                .build(),
        );
        for name in order.names.iter().filter(|n| **n != order.domain) {
            tx = tx.transact_items(self.delete_ref(name)?);
        }
        tx.send()
            .await
            .map(|_| ())
            .map_err(|e| match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                    concurrent_writer()
                }
                _ => upstream(e),
            })
    }

    fn delete_ref(&self, name: &DomainName) -> Result<TransactWriteItem, Error> {
        Ok(TransactWriteItem::builder()
            .delete(
                aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("pk", domain_pk(name))
                    .key("sk", s(ORDER_REF))
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?,
            )
            .build())
    }

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
        let mut record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(stored_item(request, &pk, ACM_REQUEST)?));
        record = match replacing {
            None => record.condition_expression("attribute_not_exists(pk)"),
            Some((v, _)) => record
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        let index = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("ACM_REQUEST#{}", request.request_id)))
            .item("sk", s(ACM_REQUEST))
            .item("domain", s(request.domain.as_str()))
            .condition_expression("attribute_not_exists(pk)");
        let built = |p: aws_sdk_dynamodb::types::builders::PutBuilder| {
            p.build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(|e| Error::Internal(e.to_string()))
        };
        let mut items = vec![built(record)?, built(index)?];
        if let Some((_, old_id)) = replacing {
            let old_index = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("pk", s(format!("ACM_REQUEST#{old_id}")))
                .key("sk", s(ACM_REQUEST))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?;
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

    /// One transaction: the hostname's ownership claim (which must be free or
    /// the tenant's own) and `items`.
    async fn claim_and_put(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
        now: Timestamp,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), Error> {
        // An update, not a put: the claim keeps the time it began
        // (`if_not_exists`), which idempotency tokens are derived from.
        let claim = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression(CLAIM)
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":label", s(new_delegation_label()?))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(claim).build());
        for item in items {
            tx = tx.transact_items(item);
        }
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons: Vec<Option<String>> = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                let failed = |i: usize| {
                    reasons.get(i).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed")
                };
                if failed(0) {
                    Err(self.claim_refused(domain, tenant).await)
                } else if (1..reasons.len()).any(failed) {
                    Err(concurrent_writer())
                } else {
                    Err(upstream(e))
                }
            }
        }
    }

    /// Saves an order read at its current version, and bumps the version.
    pub async fn save_order(&self, order: &mut AcmeOrder) -> Result<(), Error> {
        let pk = domain_pk(&order.domain);
        self.save_versioned(order, pk, ACME_ORDER).await
    }

    /// Saves an ACM request read at its current version, and bumps the version.
    pub async fn save_acm_request(&self, request: &mut AcmRequest) -> Result<(), Error> {
        let pk = domain_pk(&request.domain);
        self.save_versioned(request, pk, ACM_REQUEST).await
    }

    async fn save_versioned<T: Versioned>(
        &self,
        record: &mut T,
        pk: AttributeValue,
        sk: &str,
    ) -> Result<(), Error> {
        let expected = record.version();
        let previous = record.updated_at();
        record.set_version(expected + 1, Timestamp::now());
        let item = stored_item(&*record, &pk, sk)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                record.set_version(expected, previous);
                if condition_failed(&e) {
                    Err(concurrent_writer())
                } else {
                    Err(upstream(e))
                }
            }
        }
    }

    pub async fn load_acm_request(&self, domain: &DomainName) -> Result<Option<AcmRequest>, Error> {
        self.get(domain_pk(domain), ACM_REQUEST)
            .await?
            .map(from_item)
            .transpose()
    }

    /// The hostname an ACM request ID was issued for.
    pub async fn acm_request_domain(&self, request_id: &str) -> Result<Option<DomainName>, Error> {
        let item = self
            .get(s(format!("ACM_REQUEST#{request_id}")), ACM_REQUEST)
            .await?;
        match item.as_ref().and_then(|i| i.get("domain")) {
            Some(AttributeValue::S(d)) => DomainName::parse(d).map(Some),
            _ => Ok(None),
        }
    }

    /// Releases `domain`: deletes its ownership claim, order, request (and
    /// that request's ID index) in one transaction, which only goes through
    /// while `tenant` still owns the name.
    pub async fn release(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
        request_id: Option<&str>,
    ) -> Result<(), Error> {
        let delete = |pk: AttributeValue, sk: &str| {
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("pk", pk)
                .key("sk", s(sk))
        };
        let claim = delete(domain_pk(domain), OWNER)
            .condition_expression("tenant_id = :tenant")
            .expression_attribute_values(":tenant", s(tenant.as_str()));
        let mut deletes = vec![
            claim,
            delete(domain_pk(domain), ACME_ORDER),
            delete(domain_pk(domain), ACM_REQUEST),
            delete(domain_pk(domain), CERT),
            delete(domain_pk(domain), LEASE),
            delete(domain_pk(domain), MAPPING),
            delete(domain_pk(domain), DNS),
            delete(domain_pk(domain), ORDER_REF),
        ];
        if let Some(id) = request_id {
            deletes.push(delete(s(format!("ACM_REQUEST#{id}")), ACM_REQUEST));
        }
        let mut tx = self.client.transact_write_items();
        for d in deletes {
            let d = d.build().map_err(|e| Error::Internal(e.to_string()))?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(d).build());
        }
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                    Err(concurrent_writer())
                }
                _ => Err(upstream(e)),
            },
        }
    }

    /// Makes an order's certificate the served one and ends the order, in
    /// one transaction: the order must still be at the version read, and
    /// each served record at its version (or absent, when `first`). A
    /// certificate of several names writes every name's copy, and removes
    /// the names' references to the order.
    pub async fn promote(
        &self,
        order: &AcmeOrder,
        served: &mut [(ServedCertificate, bool)],
        mappings: &[DomainMapping],
    ) -> Result<(), Error> {
        // The new names' mappings ride in the same transaction when they fit
        // in one (100 items); a certificate of many names writes them first.
        let refs = order.names.iter().filter(|n| **n != order.domain).count();
        // Each served record, the order, its names' references, then the
        // mappings.
        let first_mapping = served.len() + 1 + refs;
        let items = first_mapping + MAPPING_ITEMS * mappings.len();
        let together = items <= TRANSACTION_ITEMS;
        if !together {
            for mapping in mappings {
                self.put_mapping(mapping).await?;
            }
        }
        let now = Timestamp::now();
        let before: Vec<(u64, Timestamp)> = served
            .iter()
            .map(|(s, _)| (s.version, s.updated_at))
            .collect();
        let mut tx = self.client.transact_write_items();
        for (record, first) in served.iter_mut() {
            let expected = record.version;
            if !*first {
                record.set_version(expected + 1, now);
            }
            let pk = domain_pk(&record.domain);
            let item = stored_item(&*record, &pk, CERT)?;
            let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
            put = if *first {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("version = :expected")
                    .expression_attribute_values(
                        ":expected",
                        AttributeValue::N(expected.to_string()),
                    )
            };
            tx = tx.transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(|e| Error::Internal(e.to_string()))?)
                    .build(),
            );
        }
        let end_order = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", domain_pk(&order.domain))
            .key("sk", s(ACME_ORDER))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", AttributeValue::N(order.version.to_string()));
        tx = tx.transact_items(
            TransactWriteItem::builder()
                .delete(
                    end_order
                        .build()
                        .map_err(|e| Error::Internal(e.to_string()))?,
                )
                .build(),
        );
        for name in order.names.iter().filter(|n| **n != order.domain) {
            tx = tx.transact_items(self.delete_ref(name)?);
        }
        if together {
            for mapping in mappings {
                for item in self.mapping_items(mapping)? {
                    tx = tx.transact_items(item);
                }
            }
        }
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                for ((record, _), (version, at)) in served.iter_mut().zip(before) {
                    record.set_version(version, at);
                }
                match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                        // A mapping's own refusal says why; any other item
                        // failing is a concurrent writer.
                        let reasons = c.cancellation_reasons();
                        let refused = mappings.iter().enumerate().find_map(|(i, m)| {
                            let at = first_mapping + MAPPING_ITEMS * i;
                            mapping_refusal(m, reasons.get(at..at + MAPPING_ITEMS)?)
                        });
                        Err(refused
                            .filter(|_| together)
                            .unwrap_or_else(concurrent_writer))
                    }
                    _ => Err(upstream(e)),
                }
            }
        }
    }

    /// Saves the served certificate's renewal bookkeeping, read at its
    /// current version, and bumps the version.
    pub async fn save_served(&self, served: &mut ServedCertificate) -> Result<(), Error> {
        let pk = domain_pk(&served.domain);
        self.save_versioned(served, pk, CERT).await
    }

    /// Hostnames whose served certificate the sweep should look at by `now`
    /// (renewal due, a backoff over, or an ARI window to re-check), at most
    /// `limit`, from the renewal index: reads only the due items.
    pub async fn due_hostnames(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, Error> {
        self.due_in(RENEWAL_INDEX, "due_shard", "due_at", now, limit)
            .await
    }

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
                            // One name today's rules refuse (a newer Public
                            // Suffix List, say) must not stop every run.
                            match DomainName::parse(host) {
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

    /// Saves a hostname's DNS health read at its current version.
    pub async fn save_dns_health(
        &self,
        health: &mut crate::domain::DnsHealth,
    ) -> Result<(), Error> {
        let pk = domain_pk(&health.domain);
        self.save_versioned(health, pk, DNS).await
    }

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
        let result = self
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
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Gives the lease back, if `holder` still has it.
    pub async fn release_lease(&self, domain: &DomainName, holder: &str) -> Result<(), Error> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(LEASE))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(upstream(e)),
        }
    }

    /// One page of `tenant`'s hostnames (both paths), in name order, from the
    /// tenant index. `after` is the `next` of the previous page.
    pub async fn hostnames_of(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HostnamePage, Error> {
        let start = match after {
            None => None,
            Some(cursor) => {
                let domain = decode_cursor(cursor)?;
                Some(HashMap::from([
                    ("owner_tenant".to_owned(), s(tenant.as_str())),
                    ("pk".to_owned(), domain_pk(&domain)),
                    ("sk".to_owned(), s(OWNER)),
                ]))
            }
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TENANT_INDEX)
            .key_condition_expression("owner_tenant = :tenant")
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .limit(i32::try_from(limit).unwrap_or(100))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(upstream)?;
        self.count_read(out.items().len());
        let mut domains = Vec::new();
        for item in out.items() {
            if let Some(AttributeValue::S(pk)) = item.get("pk") {
                if let Some(host) = pk.strip_prefix("DOMAIN#") {
                    domains.push(DomainName::parse(host)?);
                }
            }
        }
        let next = match &out.last_evaluated_key {
            Some(k) if !k.is_empty() => domains.last().map(encode_cursor),
            _ => None,
        };
        Ok(HostnamePage { domains, next })
    }

    /// Records that `mapping.domain` is live for its tenant. Refused (as a
    /// conflict) when another tenant's mapping is there.
    pub async fn put_mapping(&self, mapping: &DomainMapping) -> Result<(), Error> {
        let mut tx = self.client.transact_write_items();
        for item in self.mapping_items(mapping)? {
            tx = tx.transact_items(item);
        }
        match tx.send().await {
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
    fn mapping_items(&self, mapping: &DomainMapping) -> Result<Vec<TransactWriteItem>, Error> {
        // A check of the claim with the mapping: while its owner is
        // releasing the name (or after someone else took it), no mapping
        // can appear, so a release that has begun cannot be undone by an
        // attach or a status poll still under way.
        let pk = domain_pk(&mapping.domain);
        let tenant = s(mapping.tenant_id.as_str());
        let claim = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", pk.clone())
            .key("sk", s(OWNER))
            .condition_expression("tenant_id = :tenant AND attribute_not_exists(releasing_since)")
            .expression_attribute_values(":tenant", tenant.clone())
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(keyed(mapping, &pk, MAPPING)?))
            .condition_expression("attribute_not_exists(pk) OR tenant_id = :tenant")
            .expression_attribute_values(":tenant", tenant)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        // Watched for drift from now on (checked at once by the next
        // check-domains run).
        let health = crate::domain::DnsHealth::new(
            mapping.domain.clone(),
            mapping.tenant_id.clone(),
            mapping.edge,
            mapping.target.clone(),
            match mapping.edge {
                crate::domain::Edge::ApiGateway => Some(mapping.target.clone()),
                _ => mapping.dns_target.clone(),
            },
            Timestamp::now(),
        );
        let dns = Put::builder()
            .table_name(&self.table)
            .set_item(Some(stored_item(&health, &pk, DNS)?))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
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
            .item("created_at", s(Timestamp::now().to_string()));
        put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("sealed_credentials = :old")
                .expression_attribute_values(":old", s(old)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }
}

/// DynamoDB's limit on the items of one transaction.
const TRANSACTION_ITEMS: usize = 100;

/// The items one mapping writes (`Store::mapping_items`).
const MAPPING_ITEMS: usize = 3;

/// Why DynamoDB refused a mapping's items, given their cancellation
/// reasons (in `mapping_items`' order), if it was theirs to refuse.
fn mapping_refusal(
    mapping: &DomainMapping,
    reasons: &[aws_sdk_dynamodb::types::CancellationReason],
) -> Option<Error> {
    let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
    if failed(0) {
        Some(Error::conflict(
            "domain_releasing",
            format!(
                "{} is being released (or is no longer this tenant's)",
                mapping.domain
            ),
        ))
    } else if failed(1) {
        Some(Error::conflict(
            "domain_taken",
            format!("{} is mapped to another tenant", mapping.domain),
        ))
    } else {
        None
    }
}

fn owner_from(domain: &DomainName, item: &Item) -> Result<Owner, Error> {
    let text = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let tenant = text("tenant_id")
        .ok_or_else(|| Error::Internal(format!("owner record of {domain} has no tenant_id")))?;
    Ok(Owner {
        tenant_id: TenantId::parse("tenant_id", &tenant)?,
        claimed_at: text("claimed_at").unwrap_or_default(),
        delegation_label: text("delegation_label"),
        releasing_since: text("releasing_since")
            .map(|t| Timestamp::parse(&t))
            .transpose()?,
        release_done: match item.get("release_done") {
            Some(AttributeValue::Ss(steps)) => steps.clone(),
            _ => Vec::new(),
        },
        proven_at: text("proven_at")
            .map(|t| Timestamp::parse(&t))
            .transpose()?,
    })
}

/// A fresh delegation label: 128 random bits, hex (a valid DNS label that
/// no one can guess from another hostname's).
fn new_delegation_label() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::Internal("no randomness for a delegation label".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A page cursor: the last hostname of the page, base64url (opaque to
/// callers, and checked when it comes back).
fn encode_cursor(domain: &DomainName) -> String {
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    BASE64_URL_SAFE_NO_PAD.encode(domain.as_str())
}

fn decode_cursor(cursor: &str) -> Result<DomainName, Error> {
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    let bad = || Error::validation("invalid_cursor", "the cursor is not one this API gave");
    let bytes = BASE64_URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    DomainName::parse(&text).map_err(|_| bad())
}

fn keyed<T: Serialize>(record: &T, pk: &AttributeValue, sk: &str) -> Result<Item, Error> {
    let mut item = to_item(record)?;
    item.insert("pk".into(), pk.clone());
    item.insert("sk".into(), s(sk));
    Ok(item)
}

/// Turns a serde struct into a DynamoDB item (numbers as `N`, maps as `M`,
/// `None` left out).
///
/// Kept by hand rather than `serde_dynamo` (tried: 4.3 with
/// `aws-sdk-dynamodb+1`): it pulls base64 0.21 beside the 0.22 the rest of
/// the build uses, a duplicate crate version in every Lambda binary, and
/// these records use only `S`, `N`, `BOOL`, `L` and `M`, which the two small
/// functions here cover (with the round-trip test below); `serde_dynamo`'s
/// extra reach (sets, binary) is nothing they need.
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
