//! `OWNER` items: who owns a hostname (both issuance paths). The claim, its
//! proof and release, the takeover of a stale claim, and the transactions
//! that claim a name together with its first order or request, or delete
//! everything of a released one.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};

use super::acm_requests::id_pk;
use super::conflicts::{resend_on_conflict, transaction_conflict, write_conflict};
use super::counts::{uncounted_condition, with_counted};
use super::tenants::PendingPlace;
use super::{
    concurrent_writer, condition_failed, domain_pk, s, unbuilt, upstream, Item, Store, ACME_ORDER,
    ACM_REQUEST, CERT, DNS, LEASE, MAPPING, ORDER_REF, OWNER, PREVIOUS_CLAIM,
};
use crate::domain::census::CountedState;
use crate::domain::{CustomMetadata, DomainName, Owner, PreviousClaim, TenantId, Timestamp};
use crate::error::Code;
use crate::error::Error;

/// The ownership claim (both paths): the tenant, the tenant index key, the
/// claimant's last action, and, kept from the claim's first write until
/// its release, when it began and its delegation label.
const CLAIM: &str = "SET tenant_id = :tenant, owner_tenant = :tenant, listing = :listing, active_at = :now, claimed_at = if_not_exists(claimed_at, :now), delegation_label = if_not_exists(delegation_label, :label)";
/// A claim succeeds on a free name or the tenant's own, unless its owner is
/// releasing it.
const CLAIM_CONDITION: &str =
    "(attribute_not_exists(pk) OR tenant_id = :tenant) AND attribute_not_exists(releasing_since)";

impl Store {
    /// Claims `domain` for `tenant`: succeeds if the hostname is free or
    /// already the tenant's (answering when this claim began, which stays
    /// the same until the name is released), and is a `domain_taken`
    /// conflict otherwise. A
    /// conditional write, so of any number of tenants racing for a name
    /// exactly one wins. Every flow claims before it asks a CA or ACM for
    /// anything, so nothing is ever requested for a name the tenant lost.
    pub async fn claim(&self, domain: &DomainName, tenant: &TenantId) -> Result<String, Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression(CLAIM)
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_values(":listing", s(super::tenants::LISTING))
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .expression_attribute_values(":label", s(new_delegation_label()?))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        // Racing another tenant's claim in flight (its claim with its first
        // order), DynamoDB refuses this one until that is done; sent again,
        // it then finds the name taken.
        let result = resend_on_conflict(|| request.clone().send(), write_conflict).await;
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
                Code::DomainReleasing,
                format!("{domain} is being released; claim it again once the release is done"),
            )
        } else {
            Error::conflict(
                Code::DomainTaken,
                format!("{domain} is already claimed by another tenant"),
            )
        }
    }

    /// Marks `domain` as being released by its owner `tenant` (kept across
    /// repeats). From then on the claim refuses new orders and requests.
    pub async fn begin_release(&self, domain: &DomainName, tenant: &TenantId) -> Result<(), Error> {
        match self.stamp_claim(domain, tenant, "releasing_since").await? {
            true => Ok(()),
            false => Err(concurrent_writer()),
        }
    }

    /// Records that `tenant` proved control of `domain` by DNS (kept from
    /// the first time on): from then on its claim never expires.
    pub async fn mark_proven(&self, domain: &DomainName, tenant: &TenantId) -> Result<(), Error> {
        match self.stamp_claim(domain, tenant, "proven_at").await? {
            true => Ok(()),
            false => Err(Error::conflict(
                Code::DomainTaken,
                format!("{domain} is no longer claimed by {tenant}"),
            )),
        }
    }

    /// Records that `tenant`, still the claimant of `domain`, acted on it
    /// (an unproven claim expires a while after its last action). Best
    /// effort: a claim that changed meanwhile (proved, or another's) is left
    /// as it is.
    pub async fn touch_claim(&self, domain: &DomainName, tenant: &TenantId) -> Result<(), Error> {
        self.update_claim(
            domain,
            tenant,
            "SET active_at = :now".into(),
            "tenant_id = :tenant AND attribute_not_exists(proven_at)",
        )
        .await
        .map(|_| ())
    }

    /// Sets (or, with `None`, removes) the platform's metadata on
    /// `tenant`'s claim of `domain`; answers whether `tenant` holds the
    /// claim and is not releasing it.
    pub async fn set_metadata(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
        metadata: Option<&CustomMetadata>,
    ) -> Result<bool, Error> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .condition_expression("tenant_id = :tenant AND attribute_not_exists(releasing_since)")
            .expression_attribute_values(":tenant", s(tenant.as_str()));
        request = match metadata {
            Some(m) => request
                .update_expression("SET custom_metadata = :metadata")
                .expression_attribute_values(":metadata", s(m.to_json())),
            None => request.update_expression("REMOVE custom_metadata"),
        };
        let result = resend_on_conflict(|| request.clone().send(), write_conflict).await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Sets the claim's timestamp `attribute` to now, unless already set,
    /// if `tenant` still holds the claim; answers whether it does.
    async fn stamp_claim(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
        attribute: &str,
    ) -> Result<bool, Error> {
        self.update_claim(
            domain,
            tenant,
            format!("SET {attribute} = if_not_exists({attribute}, :now)"),
            "tenant_id = :tenant",
        )
        .await
    }

    /// Updates `tenant`'s claim on `domain` by `expression` (`:now` is
    /// now) if `condition` holds (`:tenant` is the tenant); answers whether
    /// it held.
    async fn update_claim(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
        expression: String,
        condition: &str,
    ) -> Result<bool, Error> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()));
        let result = resend_on_conflict(|| request.clone().send(), write_conflict).await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(upstream(e)),
        }
    }

    /// Ends another tenant's claim on `domain` if it never proved control
    /// and its claimant last acted before `stale_before` (squatting),
    /// deleting its order and request with it and recording it as the
    /// previous claim, in one transaction conditional on exactly that
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
        let stale = owner.proven_at.is_none()
            && owner.releasing_since.is_none()
            && records.served.is_none()
            && records.mapping.is_none()
            && owner.last_active().is_some_and(|t| t < stale_before);
        if !stale {
            return Ok(None);
        }
        let delete = |pk: AttributeValue, sk: &str| {
            Delete::builder()
                .table_name(&self.table)
                .key("pk", pk)
                .key("sk", s(sk))
        };
        // Conditional on exactly the claim seen: its tenant, its first
        // write and its last action.
        let active = match owner.active_at {
            Some(_) => "active_at = :active",
            None => "attribute_not_exists(active_at)",
        };
        let mut claim = delete(domain_pk(domain), OWNER)
            .condition_expression(format!(
                "tenant_id = :old AND claimed_at = :began AND {active} AND {} AND attribute_not_exists(proven_at) AND attribute_not_exists(releasing_since)",
                uncounted_condition(owner.counted)
            ))
            .expression_attribute_values(":old", s(owner.tenant_id.as_str()))
            .expression_attribute_values(":began", s(owner.claimed_at.clone()));
        if let Some(active) = owner.active_at {
            claim = claim.expression_attribute_values(":active", s(active.to_string()));
        }
        claim = with_counted(claim, owner.counted);
        let mut deletes = vec![
            claim,
            delete(domain_pk(domain), ACME_ORDER),
            delete(domain_pk(domain), ACM_REQUEST),
            delete(domain_pk(domain), LEASE),
            delete(domain_pk(domain), ORDER_REF),
        ];
        if let Some(r) = &records.acm_request {
            deletes.push(delete(id_pk(&r.request_id), ACM_REQUEST));
        }
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(self.previous_claim(domain, &owner.tenant_id)?);
        if let Some(uncount) = self.uncount(domain, owner.counted)? {
            tx = tx.transact_items(uncount);
        }
        for d in deletes {
            let d = d.build().map_err(unbuilt)?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(d).build());
        }
        match self.transact(tx).await {
            Ok(_) => {
                self.pending_settled(&owner.tenant_id, domain).await;
                Ok(Some(records.acm_request.map(|r| r.certificate_arn)))
            }
            // Another writer still busy with the claim after every attempt.
            Err(e) if transaction_conflict(&e) => Err(concurrent_writer()),
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
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression("ADD release_done :step")
            .condition_expression("attribute_exists(releasing_since)")
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step.to_owned()]));
        resend_on_conflict(|| request.clone().send(), write_conflict)
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

    /// One transaction: the hostname's ownership claim (which must be free or
    /// the tenant's own), `items`, and, when they make the hostname pending
    /// (`place`), its place among the tenant's pending ones (which it must
    /// hold already, or fit within the limit).
    pub(super) async fn claim_and_put(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
        now: Timestamp,
        items: Vec<TransactWriteItem>,
        place: PendingPlace,
    ) -> Result<(), Error> {
        // An update, not a put: the claim keeps the time it began
        // (`if_not_exists`), which idempotency tokens are derived from.
        let claim = Update::builder()
            .table_name(&self.table)
            .key("pk", domain_pk(domain))
            .key("sk", s(OWNER))
            .update_expression(CLAIM)
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_values(":listing", s(super::tenants::LISTING))
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":label", s(new_delegation_label()?))
            .build()
            .map_err(unbuilt)?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(claim).build());
        for item in items {
            tx = tx.transact_items(item);
        }
        let placed = match place {
            PendingPlace::Takes { limit } => {
                let update = self.pending_place(tenant, domain, limit)?;
                tx = tx.transact_items(TransactWriteItem::builder().update(update).build());
                Some(limit)
            }
            PendingPlace::NotPending => None,
        };
        match self.transact(tx).await {
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
                // The place is the last item.
                let place_refused =
                    placed.filter(|_| reasons.len().checked_sub(1).is_some_and(failed));
                if failed(0) {
                    Err(self.claim_refused(domain, tenant).await)
                } else if let Some(limit) = place_refused {
                    Err(super::tenants::pending_limit_reached(tenant, limit))
                } else if (1..reasons.len()).any(failed) || transaction_conflict(&e) {
                    Err(concurrent_writer())
                } else {
                    Err(upstream(e))
                }
            }
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
        counted: Option<CountedState>,
    ) -> Result<(), Error> {
        let delete = |pk: AttributeValue, sk: &str| {
            Delete::builder()
                .table_name(&self.table)
                .key("pk", pk)
                .key("sk", s(sk))
        };
        // Taken off the counts where it is counted (`counts`).
        let claim = delete(domain_pk(domain), OWNER)
            .condition_expression(format!(
                "tenant_id = :tenant AND {}",
                uncounted_condition(counted)
            ))
            .expression_attribute_values(":tenant", s(tenant.as_str()));
        let claim = with_counted(claim, counted);
        let mut deletes = vec![
            claim,
            delete(domain_pk(domain), ACME_ORDER),
            delete(domain_pk(domain), ACM_REQUEST),
            delete(domain_pk(domain), CERT),
            delete(domain_pk(domain), super::MANAGED),
            delete(domain_pk(domain), LEASE),
            delete(domain_pk(domain), MAPPING),
            delete(domain_pk(domain), DNS),
            delete(domain_pk(domain), ORDER_REF),
        ];
        if let Some(id) = request_id {
            deletes.push(delete(id_pk(id), ACM_REQUEST));
        }
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(self.previous_claim(domain, tenant)?);
        if let Some(uncount) = self.uncount(domain, counted)? {
            tx = tx.transact_items(uncount);
        }
        for d in deletes {
            let d = d.build().map_err(unbuilt)?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(d).build());
        }
        match self.transact(tx).await {
            Ok(_) => {
                self.pending_settled(tenant, domain).await;
                Ok(())
            }
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                    Err(concurrent_writer())
                }
                _ => Err(upstream(e)),
            },
        }
    }
}

impl Store {
    /// The write that records `tenant`'s claim on `domain` as the previous
    /// one (in the transaction that ends it).
    fn previous_claim(
        &self,
        domain: &DomainName,
        tenant: &TenantId,
    ) -> Result<TransactWriteItem, Error> {
        let now = Timestamp::now();
        let expires = now.plus(PreviousClaim::PROOF_WINDOW);
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .item("pk", domain_pk(domain))
            .item("sk", s(PREVIOUS_CLAIM))
            .item("previous_tenant", s(tenant.as_str()))
            .item("ended_at", s(now.to_string()))
            // The table's TTL attribute: DynamoDB deletes it once past.
            .item("expires_at", AttributeValue::N(expires.unix().to_string()))
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// The previous claim a `PREVIOUS_CLAIM` item holds (None if unreadable:
/// it only ever asks for more proof).
pub(super) fn previous_from(item: &Item) -> Option<PreviousClaim> {
    let text = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    Some(PreviousClaim {
        tenant_id: TenantId::parse("previous_tenant", text("previous_tenant")?).ok()?,
        ended_at: Timestamp::parse(text("ended_at")?).ok()?,
    })
}

/// The claim an `OWNER` item holds.
pub(super) fn owner_from(domain: &DomainName, item: &Item) -> Result<Owner, Error> {
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
        active_at: text("active_at")
            .map(|t| Timestamp::parse(&t))
            .transpose()?,
        custom_metadata: text("custom_metadata").and_then(|t| CustomMetadata::from_stored(&t)),
        told: match item.get("told") {
            Some(AttributeValue::Ss(keys)) => keys.clone(),
            _ => Vec::new(),
        },
        counted: text("counted_state").and_then(|s| CountedState::parse(&s)),
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
