//! Use cases: what each route does, step by step, in terms of the domain
//! model and the adapters. Every state transition is written here.
//!
//! Grouped by path:
//! - [`acme`]: the DNS-01 path. [`acme::start`] (start-certificate),
//!   [`acme::complete`] (complete-certificate), [`acme::renew`] (the
//!   sweep, renew-now, and a renewal continued by complete-certificate);
//!   the machinery they share: [`acme::driver`] drives any order in flight
//!   to a served certificate, and [`acme::limits`] keeps the CA's rate
//!   limits.
//! - [`acm`]: the ACM path. [`acm::request`] (request-domain),
//!   [`acm::advance`] (domain-status: ACM's progress and the setup after).
//! - [`hostname`]: both paths. [`hostname::claim`] (claims, expiry,
//!   takeover), [`hostname::release`] (release-domain), [`hostname::drift`]
//!   (the scheduled DNS checks of live hostnames), [`hostname::status`]
//!   (status and the tenant's list).

pub mod acm;
pub mod acme;
pub mod hostname;
pub(crate) mod lease;
