//! The one error type of the product, and its HTTP meaning.
//!
//! Every failure a route can meet is a variant here. [`Error::status`] and
//! [`Error::code`] give its HTTP status and a stable machine-readable code; the
//! JSON body (see `routes::respond`) carries that code and a human message. The
//! message of an upstream or internal failure never reaches the body: those are
//! logged with their source chain and answered with a generic sentence.

use std::fmt;

/// An outside system the product calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Acme,
    Acm,
    CloudFront,
    DynamoDb,
    Kms,
    Dns,
    ApiGateway,
    EventBridge,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Acme => "the ACME server",
            Service::Acm => "AWS Certificate Manager",
            Service::CloudFront => "CloudFront",
            Service::DynamoDb => "DynamoDB",
            Service::Kms => "AWS KMS",
            Service::Dns => "DNS",
            Service::ApiGateway => "API Gateway",
            Service::EventBridge => "EventBridge",
        })
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: bad JSON, a missing field, a bad hostname.
    #[error("{message}")]
    Validation { code: &'static str, message: String },
    /// No verified caller (a missing, invalid or expired token).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not act on this tenant's resources.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked about does not exist (for this tenant).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the stored state: a hostname owned by another
    /// tenant, a distribution whose other hostnames the certificate would not
    /// cover, or a concurrent writer that won the race.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The hostname is claimed by another tenant that has not proved
    /// control: `details` says which DNS record would let the caller take
    /// it over (`domain_taken`, 409).
    #[error("{message}")]
    Contested {
        message: String,
        details: serde_json::Value,
    },
    /// The tenant has not done their part yet (the DNS record is missing or
    /// wrong); nothing was changed and the call can be repeated.
    #[error("{message}")]
    Precondition {
        code: &'static str,
        message: String,
        /// Structured facts for the caller (e.g. what each DNS source saw).
        details: Option<serde_json::Value>,
    },
    /// Going on now would pass one of the CA's rate limits, as the product's
    /// own ledger counts them (`flows::acme::limits`): nothing was asked of
    /// the CA. `429 acme_rate_limited`, naming the limit.
    #[error("{message}")]
    CaLimit {
        limit: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    /// Going on now would pass a rate limit (the CA's, counted from our own
    /// records); nothing was changed. Retry after `retry_after`.
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    /// The certificate authority refused the order for good (an invalid order).
    #[error("{message}")]
    Rejected { code: &'static str, message: String },
    /// An outside system failed; the request may be retried.
    #[error("{service} failed: {source}")]
    Upstream { service: Service, source: Source },
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(code: &'static str, message: impl Into<String>) -> Self {
        Error::Validation {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn upstream(service: Service, source: impl Into<Source>) -> Self {
        Error::Upstream {
            service,
            source: source.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Validation { .. } => 400,
            Error::Unauthenticated(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict { .. } | Error::Contested { .. } => 409,
            Error::Precondition { .. } | Error::Rejected { .. } => 422,
            Error::RateLimited { .. } | Error::CaLimit { .. } => 429,
            Error::Upstream { .. } => 502,
            Error::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code, part of the API contract.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation { code, .. }
            | Error::Conflict { code, .. }
            | Error::Precondition { code, .. }
            | Error::RateLimited { code, .. }
            | Error::Rejected { code, .. } => code,
            Error::Contested { .. } => "domain_taken",
            Error::CaLimit { .. } => "acme_rate_limited",
            Error::NotFound(_) => "not_found",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::Upstream { .. } => "upstream_unavailable",
            Error::Internal(_) => "internal_error",
        }
    }

    /// Structured details for the response body, if the error has any.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            Error::Precondition { details, .. } => details.clone(),
            Error::Contested { details, .. } => Some(details.clone()),
            Error::CaLimit {
                limit, retry_after, ..
            } => Some(serde_json::json!({
                "retry_after": self::retry_after_seconds(*retry_after),
                "limit": limit,
            })),
            Error::RateLimited { retry_after, .. } => {
                Some(serde_json::json!({ "retry_after": self::retry_after_seconds(*retry_after) }))
            }
            _ => None,
        }
    }

    /// Seconds the caller should wait before trying again, if the error says.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after, .. } | Error::CaLimit { retry_after, .. } => {
                Some(retry_after_seconds(*retry_after))
            }
            _ => None,
        }
    }

    /// The message shown to the caller. Internal detail stays in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Error::Upstream { service, .. } => format!(
                "{service} did not answer as expected; progress so far is saved, retry the same request"
            ),
            Error::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Whole seconds, rounded up: a client that waits this long is not early.
fn retry_after_seconds(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
