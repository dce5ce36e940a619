//! The DNS-01 certificate order in flight for one hostname (a first issuance
//! or a renewal), and its state machine.
//!
//! ```text
//!  start ──► AwaitingDns ──► Validating ──► Finalizing ──► Issued ──► Imported ──► Attached
//!                │               │              │                        │            │
//!                │               │              │       renewal: promote ┘            └ promote
//!                └───────────────┴──────────────┴──► Invalid (the CA refused; a new order begins anew)
//! ```
//!
//! "Promote" turns the order's certificate into the hostname's
//! [`ServedCertificate`](super::ServedCertificate) and deletes the order, in
//! one transaction: an order exists only while it is in flight. A renewal
//! re-imports into the served certificate's ACM ARN and needs no attach.
//!
//! Each arrow is one step of the order driver (`flows::acme::driver`),
//! and each step is persisted before the next begins, so a call cut short
//! (time budget, crash, an outside failure) resumes from the last saved stage.
//! The certificate and its key are saved at `Issued`, before anything else is
//! attempted: an issued certificate is never lost to a later failure.

use serde::{Deserialize, Serialize};

use super::{DomainName, TenantId, Timestamp};

/// Why the order exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The hostname's first certificate.
    #[default]
    Issue,
    /// A replacement for the served certificate.
    Renew,
    /// A replacement for the served certificate that also covers new names
    /// (a hostname added to an organisation's own distribution): re-imported
    /// into the same ARN, then the new names are attached.
    Extend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The order exists; the tenant must publish the TXT record.
    AwaitingDns,
    /// The DNS precheck passed and the CA was told to validate.
    Validating,
    /// A key and CSR were saved and the order finalised (or about to be).
    Finalizing,
    /// The certificate chain and its (sealed) key are saved.
    Issued,
    /// The certificate is in ACM.
    Imported,
    /// The hostname is on the distribution with this certificate: done.
    Attached,
    /// The CA declared the order invalid.
    Invalid,
}

impl Stage {
    /// The `proxy_status` the API reports for this stage.
    pub fn proxy_status(self) -> &'static str {
        match self {
            Stage::AwaitingDns => "PENDING_VALIDATION",
            Stage::Validating => "VALIDATING",
            Stage::Finalizing => "ISSUING",
            Stage::Issued => "CERTIFICATE_ISSUED",
            Stage::Imported => "CERTIFICATE_IMPORTED",
            Stage::Attached => "SSL_VALIDATED",
            Stage::Invalid => "FAILED",
        }
    }

    /// The stage a successful step leads to, if any.
    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::AwaitingDns => Some(Stage::Validating),
            Stage::Validating => Some(Stage::Finalizing),
            Stage::Finalizing => Some(Stage::Issued),
            Stage::Issued => Some(Stage::Imported),
            Stage::Imported => Some(Stage::Attached),
            Stage::Attached | Stage::Invalid => None,
        }
    }

    /// Whether the ACME order behind this stage may still be reused by `start`.
    pub fn order_in_flight(self) -> bool {
        matches!(
            self,
            Stage::AwaitingDns | Stage::Validating | Stage::Finalizing
        )
    }

    /// Whether a certificate has been obtained.
    pub fn has_certificate(self) -> bool {
        matches!(self, Stage::Issued | Stage::Imported | Stage::Attached)
    }
}

/// What the tenant must publish for DNS-01.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    pub authorization_url: String,
    pub challenge_url: String,
    /// `_acme-challenge.<domain>`.
    pub txt_name: String,
    pub txt_value: String,
}

/// The DNS-01 challenge of one more name on an order for several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameChallenge {
    pub domain: DomainName,
    pub challenge: ChallengeRecord,
    /// Whether the tenant must publish this record: a new name always (its
    /// owner proves control itself, whatever the CA may reuse); a name
    /// already on the certificate only when the CA asks for a validation.
    pub required: bool,
    /// Why the tenant must also publish its claim record for this name.
    #[serde(default)]
    pub claim_proof: Option<ClaimProof>,
}

/// A TXT record a tenant must publish: what the API's `records` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NeededRecord {
    pub domain: String,
    pub txt_record_name: String,
    pub txt_record_value: String,
}

/// Why a challenge record is not proof enough that *this* tenant controls a
/// name, so that its claim record (`_custom-domains-claim.<name>`, a value
/// only this tenant is given: `flows::hostname::claim::claim_record`) must
/// answer before the CA is asked to validate. One ACME account serves every
/// tenant, and the CA keeps what it made for an earlier claim: Let's
/// Encrypt answers the account's new order with its pending one (same TXT
/// value) and reuses a valid authorization for 30 days. On the ACM path,
/// ACM's CNAME is the same for every certificate of the name in the
/// account: the claim record must answer before anything is configured
/// (`AuthorizationReused` does not arise there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimProof {
    /// Another tenant claimed the name within the last 30 days.
    RecentClaimant,
    /// The CA reports the name's authorization valid already.
    AuthorizationReused,
    /// The validation record asked for (the ACME path's TXT value, ACM's
    /// CNAME) already answered when it was first shown.
    RecordAlreadyAnswers,
    /// A CloudFront-managed certificate: the name's CNAME points at the
    /// same routing endpoint for every tenant, so it proves nothing about
    /// who claims the name.
    SharedRoutingTarget,
}

impl ClaimProof {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimProof::RecentClaimant => "recent_claimant",
            ClaimProof::AuthorizationReused => "authorization_reused",
            ClaimProof::RecordAlreadyAnswers => "record_already_answers",
            ClaimProof::SharedRoutingTarget => "shared_routing_target",
        }
    }

    /// Why, in words for the tenant.
    pub fn reason(self) -> &'static str {
        match self {
            ClaimProof::RecentClaimant => "another tenant claimed this name in the last 30 days",
            ClaimProof::AuthorizationReused => {
                "the certificate authority holds an earlier validation of this name"
            }
            ClaimProof::RecordAlreadyAnswers => {
                "the validation record asked for was already published before it was shown to you"
            }
            ClaimProof::SharedRoutingTarget => {
                "every tenant's hostname points at the same edge, so pointing it there proves nothing about who claims it"
            }
        }
    }
}

/// A certificate obtained from the CA. The key is sealed (KMS ciphertext,
/// base64), never plain text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// Leaf first, then the intermediates, PEM.
    pub chain_pem: String,
    pub sealed_key: String,
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

/// One hostname's order, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeOrder {
    pub domain: DomainName,
    pub org_id: TenantId,
    pub stage: Stage,
    #[serde(default)]
    pub purpose: Purpose,
    /// The ARI identifier of the certificate this order replaces, when the
    /// CA accepted it (such orders are exempt from Let's Encrypt's limits).
    #[serde(default)]
    pub replaces: Option<String>,
    /// The ACME profile the order asked for (`ACME_PROFILE`, or the
    /// renewed certificate's), as the CA echoed it when it does.
    #[serde(default)]
    pub profile: Option<String>,
    /// The claim's delegation label, when the product has a delegation zone.
    #[serde(default)]
    pub delegation_label: Option<String>,
    /// The TXT value was written into the delegation zone by the product
    /// (the tenant's `_acme-challenge` CNAME points there): it is removed
    /// once the CA has validated.
    #[serde(default)]
    pub delegated: bool,
    /// The delegation zone's change that wrote this order's TXT record
    /// (Route 53), waited on by later calls rather than made again.
    #[serde(default)]
    pub delegation_change: Option<String>,
    /// When the platform was told (EventBridge) that this renewal needs the
    /// tenant's TXT record; told once per order.
    #[serde(default)]
    pub notified_at: Option<Timestamp>,
    pub order_url: String,
    pub finalize_url: String,
    pub challenge: ChallengeRecord,
    /// Whether the tenant must publish `challenge` (see
    /// [`NameChallenge::required`]); false only for a name already on the
    /// certificate whose authorization the CA reused.
    #[serde(default = "required")]
    pub challenge_required: bool,
    /// Why the tenant must also publish its claim record for this hostname
    /// (None: the challenge record is proof enough).
    #[serde(default)]
    pub claim_proof: Option<ClaimProof>,
    /// Every name the certificate will cover when it is more than this
    /// hostname (the order's own first, then the others); empty otherwise.
    #[serde(default)]
    pub names: Vec<DomainName>,
    /// The challenges of the names other than this hostname.
    #[serde(default)]
    pub challenges: Vec<NameChallenge>,
    /// The distribution this hostname is attached to (chosen at start): the
    /// organisation's or the classic shared one, or, for the
    /// `CloudfrontTenant` edge, the multi-tenant distribution its
    /// distribution tenant is made on.
    pub distribution_id: Option<String>,
    #[serde(default)]
    pub edge: super::Edge,
    /// Where the hostname must point, once attached.
    #[serde(default)]
    pub dns_target: Option<String>,
    /// Sealed key and CSR made for finalisation, kept so a retried finalise
    /// uses the same key.
    #[serde(default)]
    pub pending_key: Option<PendingKey>,
    #[serde(default)]
    pub certificate: Option<IssuedCertificate>,
    /// Set before the ACM import is sent (in the save that stores the
    /// issued certificate), so a retry after a lost answer looks for the
    /// imported certificate instead of importing twice.
    #[serde(default)]
    pub import_started: bool,
    /// Set before the attach is sent (cleared when CloudFront refused it,
    /// changing nothing): an order whose attach may have taken effect is
    /// never re-targeted elsewhere.
    #[serde(default)]
    pub attach_started: bool,
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// When `certificate_arn` was imported: CloudFront may not see a
    /// certificate for a little while after (see `CERTIFICATE_SETTLE`).
    #[serde(default)]
    pub imported_at: Option<Timestamp>,
    /// Why the order failed, when `stage` is `Invalid`; why CloudFront
    /// refused its attach, when `Imported` with `attach_started` cleared.
    #[serde(default)]
    pub failure: Option<String>,
    /// Optimistic-locking counter: every write requires the version it read.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingKey {
    pub sealed_key: String,
    /// Base64 DER.
    pub csr: String,
}

fn required() -> bool {
    true
}

impl AcmeOrder {
    pub fn belongs_to(&self, org: &TenantId) -> bool {
        &self.org_id == org
    }

    /// Every name the certificate will cover.
    pub fn certificate_names(&self) -> Vec<DomainName> {
        match self.names.is_empty() {
            true => vec![self.domain.clone()],
            false => self.names.clone(),
        }
    }

    /// Every challenge of the order with whether the tenant must publish
    /// it, this hostname's first.
    pub fn all_challenges(&self) -> Vec<NameChallenge> {
        let own = NameChallenge {
            domain: self.domain.clone(),
            challenge: self.challenge.clone(),
            required: self.challenge_required,
            claim_proof: self.claim_proof,
        };
        std::iter::once(own)
            .chain(self.challenges.iter().cloned())
            .collect()
    }

    /// Whether the order's certificate is imported but CloudFront refused
    /// its attach: the save that records `Imported` marks the attach as
    /// started, and only a refused attach clears the mark.
    pub fn attach_refused(&self) -> bool {
        self.stage == Stage::Imported && !self.attach_started && self.purpose != Purpose::Renew
    }

    /// Every TXT record the tenant must publish for this order, one per
    /// name that needs one, this hostname's first: a certificate of several
    /// names needs each name's record (at renewal too: the CA's
    /// authorizations outlive no certificate).
    pub fn needed_records(&self) -> Vec<NeededRecord> {
        self.all_challenges()
            .into_iter()
            .filter(|c| c.required)
            .map(|c| NeededRecord {
                domain: c.domain.to_string(),
                txt_record_name: c.challenge.txt_name,
                txt_record_value: c.challenge.txt_value,
            })
            .collect()
    }

    /// The order as seen from `name`, one of its other names: the same
    /// order with `name`'s challenge in front (what `name`'s status shows
    /// while it waits to join the certificate).
    pub fn as_seen_from(&self, name: &DomainName) -> AcmeOrder {
        let mut view = self.clone();
        let Some(i) = self.challenges.iter().position(|c| &c.domain == name) else {
            return view;
        };
        let theirs = &self.challenges[i];
        view.domain = name.clone();
        view.challenge = theirs.challenge.clone();
        view.challenge_required = theirs.required;
        view.claim_proof = theirs.claim_proof;
        view.challenges[i] = NameChallenge {
            domain: self.domain.clone(),
            challenge: self.challenge.clone(),
            required: self.challenge_required,
            claim_proof: self.claim_proof,
        };
        view
    }

    /// Moves to the stage's successor, or to `Invalid` from a stage whose
    /// order is still with the CA. Any other move is a bug and is refused.
    pub fn advance(&mut self, next: Stage) -> Result<(), crate::Error> {
        let allowed = self.stage.next() == Some(next)
            || (next == Stage::Invalid && self.stage.order_in_flight());
        super::transition(&mut self.stage, next, allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn stages_run_in_order_to_attached() {
        let mut stage = Stage::AwaitingDns;
        let mut seen = vec![stage.proxy_status()];
        while let Some(next) = stage.next() {
            stage = next;
            seen.push(stage.proxy_status());
        }
        assert_eq!(
            seen,
            [
                "PENDING_VALIDATION",
                "VALIDATING",
                "ISSUING",
                "CERTIFICATE_ISSUED",
                "CERTIFICATE_IMPORTED",
                "SSL_VALIDATED"
            ]
        );
        assert!(Stage::Issued.has_certificate() && !Stage::Issued.order_in_flight());
    }
}
