//! The ACM path: a certificate Amazon issues and renews, validated by CNAME,
//! served by an API Gateway custom domain.
//!
//! ```text
//!  request ──► Requested ──(ACM: ISSUED)──► DomainCreated ──► Mapped ──► Configured
//!                  │
//!                  └──(ACM: FAILED, VALIDATION_TIMED_OUT, REVOKED, …)──► Failed
//! ```
//!
//! Each step after `Requested` is one idempotent call to API Gateway or
//! DynamoDB, saved before the next, so polling again (or after a crash)
//! finishes with exactly one custom domain, one API mapping and one mapping
//! record.

use serde::{Deserialize, Serialize};

use super::{ClaimProof, DomainName, TenantId, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcmStage {
    /// The certificate is requested; ACM waits for the CNAME records.
    Requested,
    /// ACM issued it (and the workspace's proof is seen); the API Gateway
    /// custom domain is next, once API Gateway takes it (one
    /// `CreateDomainName` per 30 s per account).
    Issued,
    /// ACM issued it and the API Gateway custom domain exists.
    DomainCreated,
    /// The custom domain is mapped to the HTTP API's stage.
    Mapped,
    /// The domain → workspace mapping is recorded: done.
    Configured,
    /// ACM will not issue (failed, timed out, revoked).
    Failed,
}

impl AcmStage {
    pub fn next(self) -> Option<AcmStage> {
        match self {
            AcmStage::Requested => Some(AcmStage::Issued),
            AcmStage::Issued => Some(AcmStage::DomainCreated),
            AcmStage::DomainCreated => Some(AcmStage::Mapped),
            AcmStage::Mapped => Some(AcmStage::Configured),
            AcmStage::Configured | AcmStage::Failed => None,
        }
    }
}

/// A DNS record the tenant adds so ACM can validate the name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub name: String,
    pub value: String,
    #[serde(rename = "type")]
    pub record_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmRequest {
    pub request_id: String,
    pub domain: DomainName,
    pub workspace_id: TenantId,
    pub certificate_arn: String,
    pub stage: AcmStage,
    #[serde(default)]
    pub validation_records: Vec<ValidationRecord>,
    /// The target the tenant points a CNAME at, once the custom domain exists.
    #[serde(default)]
    pub api_gateway_domain: Option<String>,
    /// ACM's status when last read.
    #[serde(default)]
    pub certificate_status: Option<String>,
    #[serde(default)]
    pub failure: Option<String>,
    /// The workspace's claim record, a TXT record it must publish too when
    /// ACM's validation CNAME alone could be someone else's: ACM's record
    /// is the same for every certificate of the name in the account, so a
    /// previous claimant's may still be in DNS, and ACM issues on it. Set
    /// when the request learns ACM's records. Nothing is configured until
    /// this record is seen.
    #[serde(default)]
    pub ownership_record: Option<OwnershipRecord>,
    /// The ownership record was seen.
    #[serde(default)]
    pub ownership_proven: bool,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The claim record an ACM request asks of its workspace, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipRecord {
    #[serde(flatten)]
    pub record: ValidationRecord,
    /// Requests stored before the reason was kept asked for it only when
    /// ACM's CNAME already answered.
    #[serde(default = "record_already_answers")]
    pub reason: ClaimProof,
}

fn record_already_answers() -> ClaimProof {
    ClaimProof::RecordAlreadyAnswers
}

impl AcmRequest {
    /// The ownership record while it is required and unseen.
    pub fn ownership_due(&self) -> Option<&OwnershipRecord> {
        self.ownership_record
            .as_ref()
            .filter(|_| !self.ownership_proven)
    }

    /// Every record the workspace must publish: ACM's, and the ownership
    /// record while it is required and unseen.
    pub fn records_to_publish(&self) -> Vec<ValidationRecord> {
        let mut records = self.validation_records.clone();
        records.extend(self.ownership_due().map(|o| o.record.clone()));
        records
    }

    /// Moves to the stage's successor, or to `Failed` from `Requested`.
    pub fn advance(&mut self, next: AcmStage) -> Result<(), crate::Error> {
        let allowed = self.stage.next() == Some(next)
            || (next == AcmStage::Failed && self.stage == AcmStage::Requested);
        super::transition(&mut self.stage, next, allowed)
    }
}

/// Which edge serves a mapped hostname.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// A CloudFront distribution of the organisation's, or the platform's
    /// classic shared one (the ACME DNS-01 path).
    #[default]
    Cloudfront,
    /// A distribution tenant of its own on the platform's multi-tenant
    /// distribution (the ACME path's shared edge).
    CloudfrontTenant,
    /// An API Gateway custom domain (the ACM path).
    ApiGateway,
}

/// A live hostname and the tenant it belongs to: what the platform reads to
/// route a request for a custom domain to the right workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainMapping {
    pub domain: DomainName,
    /// The organisation or workspace.
    pub tenant_id: TenantId,
    pub edge: Edge,
    /// The distribution ID, the distribution tenant's ID, or the API Gateway
    /// domain target.
    pub target: String,
    pub certificate_arn: String,
    pub configured_at: Timestamp,
    /// Where the hostname must point (a CNAME target): the connection
    /// group's routing endpoint, the distribution's `dxxxx.cloudfront.net`,
    /// or the API Gateway domain's target.
    #[serde(default)]
    pub dns_target: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::{AcmStage, ClaimProof, OwnershipRecord, ValidationRecord};

    #[test]
    fn an_ownership_record_stored_without_its_reason_reads_as_already_answering() {
        let stored = serde_json::json!({"name": "_custom-domains-claim.x.example.com", "value": "v", "type": "TXT"});
        let read: OwnershipRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(read.reason, ClaimProof::RecordAlreadyAnswers);
        let recent = OwnershipRecord {
            record: ValidationRecord {
                name: "n".into(),
                value: "v".into(),
                record_type: "TXT".into(),
            },
            reason: ClaimProof::RecentClaimant,
        };
        let written = serde_json::to_value(&recent).unwrap();
        assert_eq!(written["reason"], "recent_claimant");
        assert_eq!(written["type"], "TXT");
        assert_eq!(
            serde_json::from_value::<OwnershipRecord>(written).unwrap(),
            recent
        );
    }

    #[test]
    fn stages_run_in_order() {
        let mut s = AcmStage::Requested;
        let mut n = 0;
        while let Some(next) = s.next() {
            s = next;
            n += 1;
        }
        assert_eq!((s, n), (AcmStage::Configured, 4));
    }
}
