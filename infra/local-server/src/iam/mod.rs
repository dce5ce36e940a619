//! IAM, enforced locally: every AWS request a function makes, under
//! `make dev` and in `make test`, is evaluated against that function's
//! policy statements in `template.yaml`, with IAM's own matching, and a
//! request no statement allows is answered as the service answers it
//! (`AccessDeniedException`, or `AccessDenied` for CloudFront and Route 53).
//! The local AWS (moto, ministack) checks no IAM at all, so without this a
//! policy missing a grant (an index's own ARN, say) passes every local run
//! and fails every request on AWS.
//!
//! - [`policy`]: the template's statements per function, its intrinsics
//!   (`!GetAtt`, `!Sub`, parameters) resolved with the local stack's values,
//!   and the evaluation (action and resource wildcards, a Deny wins).
//! - [`request`]: which IAM actions one HTTP request to AWS needs, on which
//!   resource ARNs (the table or `…/index/<name>` from the body, the
//!   certificate, distribution, tenant, hosted zone, key, event bus, API
//!   Gateway path).
//! - [`client`]: the SDK HTTP client that does the checking, attributing
//!   each request to the function whose handler made it
//!   (`routes::current_function`); requests made outside any function (a
//!   test's own set-up) are not checked. Before deciding, it reads what
//!   IAM reads of the resource from the local AWS itself (a certificate's
//!   tags, for `aws:ResourceTag`: `crate::direct`).
//!
//! Condition keys are evaluated (`StringEquals`, `StringLike`, their
//! `ForAllValues:`/`ForAnyValue:` forms, `Null`), from the request and, for
//! `aws:ResourceTag`, from the resource.

pub mod client;
pub mod policy;
pub mod request;

pub use client::Enforcing;
pub use policy::{Decision, Policies};
pub use request::{needs, Need};

/// The account every local resource belongs to (moto's default).
pub const ACCOUNT: &str = "123456789012";
