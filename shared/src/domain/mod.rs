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
