//! The domain model: validated values, the certificate order's state
//! machine, and the hostname's life as one type (`lifecycle`).
//! Nothing here does I/O.

mod acm_request;
mod acme_order;
mod aggregate;
pub mod announce;
pub mod census;
pub mod certificate;
pub mod drift;
mod hostname;
pub mod lifecycle;
mod managed;
mod metadata;
pub mod quota;
pub mod renewal;
mod served;
mod tenant;
mod timestamp;

pub use acm_request::{
    AcmRequest, AcmStage, DomainMapping, Edge, OwnershipRecord, ValidationRecord,
};
pub use acme_order::{
    AcmeOrder, ChallengeRecord, ClaimProof, IssuedCertificate, NameChallenge, NeededRecord,
    PendingKey, Purpose, Stage,
};
pub use aggregate::{
    claim_record, Action, Actor, HostnameRecords, NextAction, Owner, PreviousClaim, Told,
    CLAIM_LABEL,
};
pub use drift::{DriftCheck, Pointing};
pub use hostname::DomainName;
pub use lifecycle::{Lifecycle, ReleaseStep};
pub use managed::{CertificateVerdict, ManagedCertificate, ManagedStage};
pub use metadata::CustomMetadata;
pub use served::{
    RenewalState, ServedCertificate, DUPLICATE_LIMIT, DUPLICATE_PERIOD, REMINDER_LEAD_DAYS,
};
pub use tenant::TenantId;
pub use timestamp::Timestamp;

/// Moves a state machine to `next` when the move is `allowed`; any other
/// move is a bug, refused as an internal error rather than stored.
fn transition<S: Copy + std::fmt::Debug>(
    stage: &mut S,
    next: S,
    allowed: bool,
) -> Result<(), crate::Error> {
    if !allowed {
        return Err(crate::Error::Internal(format!(
            "illegal transition {stage:?} -> {next:?}"
        )));
    }
    *stage = next;
    Ok(())
}
