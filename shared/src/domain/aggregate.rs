//! Everything stored about one hostname, loaded together (one Query on its
//! partition). Where the hostname stands and who must act next follow from
//! it in `lifecycle.rs`.

use serde::Serialize;

use super::Timestamp;
use super::{
    AcmRequest, AcmeOrder, CustomMetadata, DomainMapping, DomainName, ServedCertificate, TenantId,
};

/// Who holds a hostname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub tenant_id: TenantId,
    /// Unchanged until the name is released (idempotency tokens use it).
    pub claimed_at: String,
    /// This claim's label in the delegation zone: the tenant may point
    /// `_acme-challenge.<host>` at `<label>.<zone>`. Random per claim, so a
    /// later claimant's never matches a CNAME an earlier owner left.
    pub delegation_label: Option<String>,
    /// Set when its owner asked to release the name: from then on nothing
    /// new is claimed, ordered or attached for it.
    pub releasing_since: Option<Timestamp>,
    /// The release's steps done so far (`flows::hostname::release`).
    pub release_done: Vec<String>,
    /// When the tenant first proved control of the name by DNS (its TXT or
    /// CNAME seen, or ACM's validation passed). An unproven claim expires.
    pub proven_at: Option<Timestamp>,
    /// The claimant's last action on the name (a start or a complete):
    /// an unproven claim expires this long after it, not after its first
    /// write. None on claims written before it was kept.
    pub active_at: Option<Timestamp>,
    /// The platform's own data about the hostname, as its tenant last set
    /// it (start, request or `PATCH /domains/{domain}`).
    pub custom_metadata: Option<CustomMetadata>,
    /// The keys of the events told of this claim
    /// (`flows::hostname::announce`), for as long as the claim lasts.
    pub told: Vec<String>,
    /// The state the hostname is counted in (`domain::census`), if it was
    /// counted yet.
    pub counted: Option<super::census::CountedState>,
}

impl Owner {
    /// When the claimant last acted on the name (its first claim if it
    /// never did since).
    pub fn last_active(&self) -> Option<Timestamp> {
        let began = Timestamp::parse(&self.claimed_at).ok();
        match (began, self.active_at) {
            (Some(b), Some(a)) => Some(b.max(a)),
            (b, a) => b.or(a),
        }
    }
}

/// The label under the hostname where a tenant publishes its claim record.
pub const CLAIM_LABEL: &str = "_custom-domains-claim";

/// The TXT record that proves `tenant` controls `domain`'s DNS (its claim
/// record, for a takeover or wherever a challenge record could be another
/// claimant's): its value is derived from both (not secret: it can only
/// ever let this tenant in, and only if published in the name's own zone).
pub fn claim_record(domain: &DomainName, tenant: &TenantId) -> (String, String) {
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!(
            "custom-domains claim\0{}\0{}",
            tenant.as_str(),
            domain.as_str()
        )
        .as_bytes(),
    );
    (
        format!("{CLAIM_LABEL}.{domain}"),
        BASE64_URL_SAFE_NO_PAD.encode(&digest.as_ref()[..24]),
    )
}

/// The last claim on a hostname that ended (expired, taken over or
/// released). A CA keeps what that claim made for a while (Let's Encrypt:
/// a valid authorization 30 days, a pending order 7), under the one ACME
/// account every tenant shares; so another tenant claiming the name within
/// [`PreviousClaim::PROOF_WINDOW`] proves control with its own claim
/// record, not with a challenge record that could be the earlier
/// claimant's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousClaim {
    pub tenant_id: TenantId,
    pub ended_at: Timestamp,
}

impl PreviousClaim {
    /// Let's Encrypt's authorization reuse (the longest the CA keeps a
    /// claim's proof).
    pub const PROOF_WINDOW: std::time::Duration = std::time::Duration::from_secs(30 * 86400);

    /// Whether a claim by `tenant` at `now` must bring its own proof.
    pub fn asks_proof_of(&self, tenant: &TenantId, now: Timestamp) -> bool {
        &self.tenant_id != tenant && self.ended_at.plus(Self::PROOF_WINDOW) > now
    }
}

/// One hostname's records, each at most once.
#[derive(Clone, Debug, Default)]
pub struct HostnameRecords {
    pub owner: Option<Owner>,
    /// The ACME order in flight (first issuance or renewal).
    pub order: Option<AcmeOrder>,
    /// The hostname whose order in flight will add this one to its
    /// certificate (an organisation's own distribution serving several).
    pub order_ref: Option<DomainName>,
    /// The certificate served on the ACME path.
    pub served: Option<ServedCertificate>,
    /// The ACM path's request.
    pub acm_request: Option<AcmRequest>,
    /// The CloudFront-managed certificate on the shared edge (a first
    /// request, or a hand-off from the served ACME certificate).
    pub managed: Option<super::ManagedCertificate>,
    /// The live domain → tenant mapping (both paths).
    pub mapping: Option<DomainMapping>,
    /// Whether the live hostname points at its edge (`drift-check`).
    pub dns: Option<super::DriftCheck>,
    /// The last claim that ended, kept after the others are deleted.
    pub previous: Option<PreviousClaim>,
    /// The hostname's event outbox (kept 90 days).
    pub told: Vec<Told>,
}

/// An event written to the hostname's outbox (`flows::hostname::announce`).
#[derive(Clone, Debug, PartialEq)]
pub struct Told {
    /// The claim's start and the milestone's key.
    pub key: String,
    pub detail_type: String,
    pub detail: serde_json::Value,
    pub created_at: Timestamp,
}

/// Who must act for a hostname to move on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The tenant (publish a DNS record, call a route).
    Tenant,
    /// The platform's operators (a renewal keeps failing).
    Platform,
    /// No one: the product carries on by itself.
    Nobody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NextAction {
    pub actor: Actor,
    pub action: Action,
    pub message: String,
}

/// What must be done next: a stable code (`openapi.json`'s
/// `NextAction.action` lists exactly these; a unit test checks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    StartCertificate,
    PublishTxtRecord,
    CompleteCertificate,
    InvestigateRenewal,
    RetryingRenewal,
    Renewing,
    None,
    PublishCnameRecords,
    PollStatus,
    ReleaseAndRequest,
    PointDns,
    FixDns,
    ReleaseDomain,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::StartCertificate,
        Action::PublishTxtRecord,
        Action::CompleteCertificate,
        Action::InvestigateRenewal,
        Action::RetryingRenewal,
        Action::Renewing,
        Action::None,
        Action::PublishCnameRecords,
        Action::PollStatus,
        Action::ReleaseAndRequest,
        Action::PointDns,
        Action::FixDns,
        Action::ReleaseDomain,
    ];
}

impl HostnameRecords {
    pub fn is_owned_by(&self, tenant: &TenantId) -> bool {
        self.owner.as_ref().is_some_and(|o| &o.tenant_id == tenant)
    }

    /// Whether the owner is releasing the name.
    pub fn is_releasing(&self) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| o.releasing_since.is_some())
    }

    /// The claim on the name if it is another tenant's than `tenant`, not
    /// proven, not being released and nothing of it live: one that may
    /// expire or be taken over.
    pub fn unproven_claim_of_other(&self, tenant: &TenantId) -> Option<&Owner> {
        self.owner.as_ref().filter(|o| {
            o.proven_at.is_none()
                && o.releasing_since.is_none()
                && &o.tenant_id != tenant
                && self.served.is_none()
                && self.mapping.is_none()
        })
    }
}
