//! Adapters: one module per outside system, each the only place that system's
//! SDK or protocol types appear. Errors leave them already mapped to
//! [`crate::Error`] (a conditional-check failure becomes a Conflict, an
//! unreachable service an Upstream error naming it). The DynamoDB table is
//! `store`, split by the kind of record each item holds.

pub mod acm;
pub mod acme;
pub mod apigateway;
pub mod cloudfront;
pub mod delegation;
pub mod dns;
pub mod events;
pub mod kms;
pub mod lazy;
mod quota;
pub mod store;
