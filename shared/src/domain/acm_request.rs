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

use super::{DomainName, TenantId, Timestamp};

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
    /// A TXT record the workspace must publish too, set when ACM's
    /// validation CNAME already answered before this request showed it to
    /// anyone: ACM's record is the same for every certificate of the name in
    /// the account, so it may be a previous owner's, and proves nothing about
    /// this workspace. Nothing is configured until this record is seen.
    #[serde(default)]
    pub ownership_record: Option<ValidationRecord>,
    /// The ownership record was seen.
    #[serde(default)]
    pub ownership_proven: bool,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AcmRequest {
    /// Every record the workspace must publish: ACM's, and the ownership
    /// record while it is required and unseen.
    pub fn records_to_publish(&self) -> Vec<ValidationRecord> {
        let mut records = self.validation_records.clone();
        if !self.ownership_proven {
            records.extend(self.ownership_record.clone());
        }
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
    use super::AcmStage;

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
