//! Use cases: what each route does, step by step, in terms of the domain
//! model and the adapters. Every state transition is written here.
//!
//! Grouped by path:
//! - [`acme`]: the DNS-01 path. [`acme::start`] (start-certificate),
//!   [`acme::complete`] (complete-certificate), [`acme::renew`] (the
//!   sweep, renew-now, and a renewal continued by complete-certificate);
//!   the machinery they share: `acme::order` places orders,
//!   [`acme::driver`] drives any order in flight to a served certificate,
//!   and [`acme::limits`] keeps the CA's rate limits.
//! - [`acm`]: the ACM path. [`acm::request`] (request-domain),
//!   [`acm::advance`] (domain-status: ACM's progress and the setup after);
//!   `acm::records` learns ACM's validation records for both.
//! - [`managed`]: CloudFront-managed certificates on the shared edge, a
//!   first request or a hand-off from the ACME path (start, advance,
//!   hand-off in one file).
//! - [`quota`]: the quota ledger's checks before a new hostname spends
//!   anything.
//! - [`hostname`]: every path. [`hostname::claim`] (claims, expiry,
//!   takeover), [`hostname::release`] (release-domain, and the
//!   `domain_releasing` error the other flows answer), [`hostname::drift`]
//!   (the scheduled DNS checks of live hostnames), [`hostname::status`]
//!   (status and the tenant's list).
//! - `lease`: the hostname's lease, under which complete-certificate, the
//!   renewals and the release run (`with_lease`).
//!
//! No flow imports a module that imports it back: what several flows use
//! lives in a module they all import (`acme::order`, [`acme::driver`],
//! `acm::records`, `lease`).

pub mod acm;
pub mod acme;
pub mod hostname;
pub(crate) mod lease;
pub mod managed;
pub mod quota;
