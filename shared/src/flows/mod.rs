//! Use cases: what each route does, step by step, in terms of the domain
//! model and the adapters. Every state transition is written here.
//!
//! - ACME path: [`start_certificate`] places the order, [`issuance`] drives
//!   any order in flight to a served certificate (for [`complete_certificate`]
//!   and for [`renewal`]: the sweep and renew-now).
//! - ACM path: [`request_domain`], [`domain_status`].
//! - Both: [`claim`] (claims, expiry, takeover), [`hostname_status`]
//!   (status and the tenant's list), [`release_domain`], and
//!   [`check_domains`] (drift: the scheduled DNS checks of live hostnames).

pub mod acme_limits;
pub mod check_domains;
pub mod claim;
pub mod complete_certificate;
pub mod domain_status;
pub mod hostname_status;
pub mod issuance;
pub mod release_domain;
pub mod renewal;
pub mod request_domain;
pub mod start_certificate;
