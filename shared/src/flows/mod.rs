//! Use cases: what each route does, step by step, in terms of the domain
//! model and the adapters. Every state transition is written here.

pub mod account;
pub mod complete_certificate;
pub mod domain_status;
pub mod release_domain;
pub mod request_domain;
pub mod start_certificate;
