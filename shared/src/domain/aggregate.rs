//! Everything stored about one hostname, loaded together (one Query on its
//! partition). Where the hostname stands and who must act next follow from
//! it in `lifecycle.rs`.

use serde::Serialize;

use super::Timestamp;
use super::{AcmRequest, AcmeOrder, DomainMapping, DomainName, ServedCertificate, TenantId};

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
    /// The live domain → tenant mapping (both paths).
    pub mapping: Option<DomainMapping>,
    /// Whether the live hostname points at its edge (`drift-check`).
    pub dns: Option<super::DriftCheck>,
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
}
