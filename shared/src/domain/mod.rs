//! The domain model: validated values and the certificate order's state machine.
//! Nothing here does I/O.

mod acm_request;
mod acme_order;
pub mod certificate;
mod hostname;
mod tenant;

pub use acm_request::{AcmRequest, AcmStage, DomainMapping, Edge, ValidationRecord};
pub use acme_order::{AcmeOrder, ChallengeRecord, IssuedCertificate, PendingKey, Stage};
pub use hostname::DomainName;
pub use tenant::TenantId;

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
