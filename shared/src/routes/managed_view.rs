//! The JSON a CloudFront-managed certificate is reported in, the same from
//! start-certificate, complete-certificate and the status route: CloudFront's
//! `certificate_status`, where to point the hostname, the claim record while
//! it is needed, and who must act next.

use serde::Serialize;

use crate::adapters::cloudfront::Deployment;
use crate::domain::{
    ClaimProof, DomainName, HostnameRecords, ManagedCertificate, ManagedStage, NextAction,
};

#[derive(Serialize)]
pub struct ManagedView<'a> {
    pub domain: &'a str,
    /// The one name a managed certificate covers.
    pub domains: [&'a str; 1],
    /// Always `managed` here (`acme` on the DNS-01 path's answers).
    pub certificate: &'static str,
    pub status: &'static str,
    /// `SSL_VALIDATED` once attached, as on the ACME path; before,
    /// `PENDING_VALIDATION`, `CERTIFICATE_ISSUED` or `FAILED`.
    pub proxy_status: &'static str,
    /// CloudFront's `CertificateStatus` (`pending-validation`, `issued`,
    /// `validation-timed-out`, `failed`, `revoked`, `expired`), or
    /// `awaiting_claim_record` before anything was asked of CloudFront.
    pub certificate_status: &'a str,
    pub certificate_arn: Option<&'a str>,
    /// Where the hostname must point: the connection group's routing
    /// endpoint.
    pub dns_target: Option<&'a str>,
    pub edge: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_status: Option<Deployment>,
    /// The tenant's claim record, while it must still be seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_record: Option<super::start_certificate::ClaimRecord>,
    /// Moved from a served ACME certificate (`HANDOFF_TO_MANAGED`).
    pub handoff: bool,
    /// How many times CloudFront was asked for it.
    pub requests: u32,
    pub failure: Option<&'a str>,
    pub next_action: NextAction,
    pub message: String,
}

impl<'a> ManagedView<'a> {
    pub fn of(
        domain: &'a DomainName,
        records: &'a HostnameRecords,
        m: &'a ManagedCertificate,
    ) -> Self {
        let (status, next_action) = records.status(domain);
        let proven = records
            .owner
            .as_ref()
            .is_some_and(|o| o.proven_at.is_some());
        let claim_record = (m.stage == ManagedStage::Proving && !proven).then(|| {
            super::start_certificate::ClaimRecord::new(
                domain,
                &m.org_id,
                ClaimProof::SharedRoutingTarget,
            )
        });
        Self {
            domain: domain.as_str(),
            domains: [domain.as_str()],
            certificate: "managed",
            status,
            proxy_status: match m.stage {
                ManagedStage::Proving | ManagedStage::Requested => "PENDING_VALIDATION",
                ManagedStage::Issued => "CERTIFICATE_ISSUED",
                ManagedStage::Attached | ManagedStage::Served => "SSL_VALIDATED",
                ManagedStage::Failed => "FAILED",
            },
            certificate_status: m.reported_status(),
            certificate_arn: m.certificate_arn.as_deref().filter(|_| m.is_attached()),
            dns_target: m.dns_target.as_deref(),
            edge: "cloudfront_tenant",
            edge_status: None,
            claim_record,
            handoff: m.handoff,
            requests: m.requests,
            failure: m.failure.as_deref(),
            message: next_action.message.clone(),
            next_action,
        }
    }
}
