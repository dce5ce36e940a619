//! CloudFront-managed certificates on the shared edge (CloudFront SaaS
//! Manager): the hostname's distribution tenant is created with a
//! `ManagedCertificateRequest`, CloudFront validates the name over HTTP once
//! it points at the edge, ACM issues and renews the certificate; the
//! product keeps no key and imports nothing.
//!
//! ```text
//!  start ──► Proving ──(claim record seen)──► Requested ──(CloudFront: issued)──► Issued ──(attached)──► Served
//!                                               │    ▲
//!                        (timed out, failed) ─► ▼    │ (the name points at the edge again: asked anew)
//!                                             Failed ┘
//!
//!  hand-off, a hostname served with an ACME certificate on its tenant once it points at the edge:
//!            Requested ──► Issued ──► Attached ──(ACME records and imported certificate gone)──► Served
//!                │
//!                └─► Failed (the ACME certificate stays, its renewals go on)
//! ```
//!
//! The routing CNAME proves nothing about who claims the name: every
//! tenant's points at the same endpoint, so a name another tenant left
//! pointed there would validate for anyone. A first request therefore waits
//! in `Proving` for the claimant's own claim record (the TXT record of
//! [`super::claim_record`]) before any tenant is created; a claimant
//! already proven (an earlier validation, or a hand-off) is never asked.

use serde::{Deserialize, Serialize};

use super::{DomainName, TenantId, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedStage {
    /// Waiting for the claimant's claim record; nothing exists at
    /// CloudFront yet.
    Proving,
    /// The distribution tenant carries a managed-certificate request:
    /// CloudFront waits for the name to point at the edge.
    Requested,
    /// CloudFront issued the certificate; it is being attached to the
    /// tenant.
    Issued,
    /// Attached to the tenant; on a hand-off, the ACME certificate's
    /// records and imported certificate are being retired.
    Attached,
    /// Served; ACM renews the certificate, the product does nothing.
    Served,
    /// CloudFront will not issue on this request (validation timed out,
    /// failed, revoked, expired): asked again once the name points at the
    /// edge.
    Failed,
}

impl ManagedStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedStage::Proving => "proving",
            ManagedStage::Requested => "requested",
            ManagedStage::Issued => "issued",
            ManagedStage::Attached => "attached",
            ManagedStage::Served => "served",
            ManagedStage::Failed => "failed",
        }
    }

    fn allowed(self, next: ManagedStage) -> bool {
        use ManagedStage::*;
        matches!(
            (self, next),
            (Proving, Requested)
                | (Requested, Issued)
                | (Requested, Failed)
                | (Failed, Requested)
                | (Issued, Attached)
                | (Attached, Served)
        )
    }
}

/// CloudFront's `CertificateStatus` of a managed certificate
/// (`GetManagedCertificateDetails`), as the product acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateVerdict {
    /// `pending-validation`: the name does not point at the edge yet.
    Pending,
    /// `issued`.
    Issued,
    /// `validation-timed-out`, `failed`, `revoked`, `expired`, `inactive`:
    /// this request will not serve; a new one is needed.
    Failed,
}

impl CertificateVerdict {
    /// The verdict on CloudFront's status string.
    pub fn of(status: &str) -> CertificateVerdict {
        match status {
            "issued" => CertificateVerdict::Issued,
            "pending-validation" | "" => CertificateVerdict::Pending,
            _ => CertificateVerdict::Failed,
        }
    }
}

/// A hostname's CloudFront-managed certificate, as stored (sk `MANAGED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedCertificate {
    pub domain: DomainName,
    pub org_id: TenantId,
    pub stage: ManagedStage,
    /// The multi-tenant distribution.
    pub distribution_id: String,
    /// The distribution tenant, once created.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Where the name must point (the connection group's routing endpoint).
    #[serde(default)]
    pub dns_target: Option<String>,
    /// The managed certificate's ARN, once CloudFront reports one.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// CloudFront's `CertificateStatus` when last read.
    #[serde(default)]
    pub certificate_status: Option<String>,
    /// Why the last request failed (CloudFront's status).
    #[serde(default)]
    pub failure: Option<String>,
    /// `cloudfront` or `self-hosted`: who serves the HTTP validation token.
    pub validation_token_host: String,
    /// Requested for a hostname served with an ACME certificate (a
    /// hand-off): the imported certificate serves until this one is
    /// attached.
    #[serde(default)]
    pub handoff: bool,
    /// The imported certificate a hand-off retires, until it is deleted
    /// from ACM (it may be in use until CloudFront deploys the change).
    #[serde(default)]
    pub retiring_arn: Option<String>,
    /// How many managed-certificate requests CloudFront was sent.
    #[serde(default)]
    pub requests: u32,
    #[serde(default)]
    pub requested_at: Option<Timestamp>,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ManagedCertificate {
    /// A first request (`handoff`: for a hostname served on ACME already).
    pub fn new(
        domain: DomainName,
        org_id: TenantId,
        distribution_id: String,
        validation_token_host: String,
        stage: ManagedStage,
        handoff: bool,
    ) -> Self {
        let now = Timestamp::now();
        Self {
            domain,
            org_id,
            stage,
            distribution_id,
            tenant_id: None,
            dns_target: None,
            certificate_arn: None,
            certificate_status: None,
            failure: None,
            validation_token_host,
            handoff,
            retiring_arn: None,
            requests: 0,
            requested_at: None,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Moves to `next` when the state machine allows it.
    pub fn advance(&mut self, next: ManagedStage) -> Result<(), crate::Error> {
        let allowed = self.stage.allowed(next);
        super::transition(&mut self.stage, next, allowed)
    }

    /// Whether CloudFront serves it on the tenant (attached or served).
    pub fn is_attached(&self) -> bool {
        matches!(self.stage, ManagedStage::Attached | ManagedStage::Served)
    }

    /// The `certificate_status` the API reports: CloudFront's, or
    /// `awaiting_claim_record` before anything was requested.
    pub fn reported_status(&self) -> &str {
        match self.stage {
            ManagedStage::Proving => "awaiting_claim_record",
            _ => self
                .certificate_status
                .as_deref()
                .unwrap_or("pending-validation"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stages_move_only_forward_or_from_a_failure_to_a_new_request() {
        use ManagedStage::*;
        let all = [Proving, Requested, Issued, Attached, Served, Failed];
        let allowed: Vec<(ManagedStage, ManagedStage)> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.allowed(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Proving, Requested),
                (Requested, Issued),
                (Requested, Failed),
                (Issued, Attached),
                (Attached, Served),
                (Failed, Requested),
            ]
        );
    }

    #[test]
    fn cloudfronts_statuses_are_read_as_pending_issued_or_failed() {
        assert_eq!(
            CertificateVerdict::of("pending-validation"),
            CertificateVerdict::Pending
        );
        assert_eq!(CertificateVerdict::of("issued"), CertificateVerdict::Issued);
        for failed in [
            "validation-timed-out",
            "failed",
            "revoked",
            "expired",
            "inactive",
        ] {
            assert_eq!(CertificateVerdict::of(failed), CertificateVerdict::Failed);
        }
    }
}
