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
    SecretsManager,
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
            Service::SecretsManager => "AWS Secrets Manager",
        })
    }
}

/// Every code an error answers with: the API's contract, in the order
/// `openapi.json`'s `Error.code` lists them (a unit test checks the two
/// agree). Flows match on these, never on strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    InvalidJson,
    UnsupportedMediaType,
    BodyTooLarge,
    InvalidDomain,
    InvalidTenant,
    MissingParameter,
    NotFound,
    DomainTaken,
    ConcurrentUpdate,
    DistributionHasOtherHostnames,
    DistributionNotFound,
    DistributionBusy,
    ApiDomainExists,
    DnsRecordMissing,
    NoDistribution,
    OrderInvalid,
    AcmeRefused,
    AcmeRateLimited,
    UpstreamUnavailable,
    InternalError,
    Unauthenticated,
    Forbidden,
    ReservedDomain,
    NoCertificate,
    RenewalRefused,
    InvalidLimit,
    InvalidCursor,
    RenewalBackoff,
    DomainReleasing,
    DomainTooLongForAcm,
    CnameAlreadyExists,
    QuotaExhausted,
    TenantRateLimited,
    DnsNotPropagated,
    CaaForbids,
    TenantPendingLimit,
    EdgeFull,
    SeveralNamesNeedOwnDistribution,
    TooManyNames,
    CertificateChangeInFlight,
    CertificateNotAccepted,
    InvalidMetadata,
    ManagedUnavailable,
    DnsNotPointed,
    OnOtherCertificate,
}

impl Code {
    pub const ALL: [Code; 45] = [
        Code::InvalidJson,
        Code::UnsupportedMediaType,
        Code::BodyTooLarge,
        Code::InvalidDomain,
        Code::InvalidTenant,
        Code::MissingParameter,
        Code::NotFound,
        Code::DomainTaken,
        Code::ConcurrentUpdate,
        Code::DistributionHasOtherHostnames,
        Code::DistributionNotFound,
        Code::DistributionBusy,
        Code::ApiDomainExists,
        Code::DnsRecordMissing,
        Code::NoDistribution,
        Code::OrderInvalid,
        Code::AcmeRefused,
        Code::AcmeRateLimited,
        Code::UpstreamUnavailable,
        Code::InternalError,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::ReservedDomain,
        Code::NoCertificate,
        Code::RenewalRefused,
        Code::InvalidLimit,
        Code::InvalidCursor,
        Code::RenewalBackoff,
        Code::DomainReleasing,
        Code::DomainTooLongForAcm,
        Code::CnameAlreadyExists,
        Code::QuotaExhausted,
        Code::TenantRateLimited,
        Code::DnsNotPropagated,
        Code::CaaForbids,
        Code::TenantPendingLimit,
        Code::EdgeFull,
        Code::SeveralNamesNeedOwnDistribution,
        Code::TooManyNames,
        Code::CertificateChangeInFlight,
        Code::CertificateNotAccepted,
        Code::InvalidMetadata,
        Code::ManagedUnavailable,
        Code::DnsNotPointed,
        Code::OnOtherCertificate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "invalid_json",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::BodyTooLarge => "body_too_large",
            Code::InvalidDomain => "invalid_domain",
            Code::InvalidTenant => "invalid_tenant",
            Code::MissingParameter => "missing_parameter",
            Code::NotFound => "not_found",
            Code::DomainTaken => "domain_taken",
            Code::ConcurrentUpdate => "concurrent_update",
            Code::DistributionHasOtherHostnames => "distribution_has_other_hostnames",
            Code::DistributionNotFound => "distribution_not_found",
            Code::DistributionBusy => "distribution_busy",
            Code::ApiDomainExists => "api_domain_exists",
            Code::DnsRecordMissing => "dns_record_missing",
            Code::NoDistribution => "no_distribution",
            Code::OrderInvalid => "order_invalid",
            Code::AcmeRefused => "acme_refused",
            Code::AcmeRateLimited => "acme_rate_limited",
            Code::UpstreamUnavailable => "upstream_unavailable",
            Code::InternalError => "internal_error",
            Code::Unauthenticated => "unauthenticated",
            Code::Forbidden => "forbidden",
            Code::ReservedDomain => "reserved_domain",
            Code::NoCertificate => "no_certificate",
            Code::RenewalRefused => "renewal_refused",
            Code::InvalidLimit => "invalid_limit",
            Code::InvalidCursor => "invalid_cursor",
            Code::RenewalBackoff => "renewal_backoff",
            Code::DomainReleasing => "domain_releasing",
            Code::DomainTooLongForAcm => "domain_too_long_for_acm",
            Code::CnameAlreadyExists => "cname_already_exists",
            Code::QuotaExhausted => "quota_exhausted",
            Code::TenantRateLimited => "tenant_rate_limited",
            Code::DnsNotPropagated => "dns_not_propagated",
            Code::CaaForbids => "caa_forbids",
            Code::TenantPendingLimit => "tenant_pending_limit",
            Code::EdgeFull => "edge_full",
            Code::SeveralNamesNeedOwnDistribution => "several_names_need_own_distribution",
            Code::TooManyNames => "too_many_names",
            Code::CertificateChangeInFlight => "certificate_change_in_flight",
            Code::CertificateNotAccepted => "certificate_not_accepted",
            Code::InvalidMetadata => "invalid_metadata",
            Code::ManagedUnavailable => "managed_unavailable",
            Code::DnsNotPointed => "dns_not_pointed",
            Code::OnOtherCertificate => "on_other_certificate",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// AWS's error codes (and the SDK's words for no answer) of failures that
/// pass by themselves: throttles and the services' own faults (AWS's
/// "Error retries" page lists them as retryable).
const TRANSIENT_AWS: [&str; 12] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "RequestTimeout",
    "dispatch failure",
    "io error",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: bad JSON, a missing field, a bad hostname.
    #[error("{message}")]
    Validation { code: Code, message: String },
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
    Conflict { code: Code, message: String },
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
        code: Code,
        message: String,
        /// Structured facts for the caller (e.g. what each DNS source saw).
        details: Option<serde_json::Value>,
    },
    /// Going on now would pass a rate limit; nothing was changed (nothing
    /// was asked of the CA). Retry after `retry_after`. `limit` names which
    /// of the CA's limits the product's own ledger counted
    /// (`flows::acme::limits`), when it was one of those.
    #[error("{message}")]
    RateLimited {
        code: Code,
        limit: Option<&'static str>,
        message: String,
        retry_after: std::time::Duration,
    },
    /// An AWS quota of the platform's account is used up: nothing was
    /// changed, and repeating cannot help until the quota is raised or
    /// hostnames are released. `quota` names it as AWS's Service Quotas
    /// console does.
    #[error("{message}")]
    QuotaExhausted {
        service: Service,
        /// AWS's name for the quota.
        quota: String,
        message: String,
        /// The product's ledger's figures, when it refused before AWS was
        /// asked (`flows::quota`).
        figures: Option<serde_json::Value>,
    },
    /// The certificate authority refused the order for good (an invalid order).
    #[error("{message}")]
    Rejected { code: Code, message: String },
    /// An outside system failed; the request may be retried.
    #[error("{service} failed: {source}")]
    Upstream { service: Service, source: Source },
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(code: Code, message: impl Into<String>) -> Self {
        Error::Validation {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
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

    /// Whether this is an AWS request that ended at its attempt or
    /// operation timeout (`AWS_ATTEMPT_TIMEOUT_MS`,
    /// `AWS_OPERATION_TIMEOUT_MS`): the service may be slow, not wrong,
    /// and what was saved before it stands.
    pub fn is_timeout(&self) -> bool {
        let Error::Upstream { source, .. } = self else {
            return false;
        };
        // The SDK's `SdkError::TimeoutError` is generic over each
        // operation's error, so it cannot be downcast to here; its text is
        // fixed by the SDK ("request has timed out").
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
        while let Some(e) = next {
            if e.to_string() == "request has timed out" {
                return true;
            }
            next = e.source();
        }
        false
    }

    /// Whether this failure is one that passes by itself: the CA's or
    /// AWS's 5xx, a throttle, a timeout, a connection that failed. A
    /// renewal cut short by one is retried without counting it as a
    /// failure (`flows::acme::renew`); a refusal (the CA refused, AWS
    /// denied or rejected the request) counts.
    pub fn is_transient(&self) -> bool {
        let Error::Upstream { service, source } = self else {
            return false;
        };
        if self.is_timeout() {
            return true;
        }
        if *service == Service::Acme {
            return match source.downcast_ref::<instant_acme::Error>() {
                // The CA's problem document: its status says whose fault.
                Some(instant_acme::Error::Api(p)) => p.status.is_none_or(|s| s >= 500),
                // No problem document: the connection, or an unreadable
                // answer.
                Some(_) | None => true,
            };
        }
        // The AWS SDK's error chain names the service's error code (or a
        // dispatch failure: no answer at all).
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
        while let Some(e) = next {
            let text = e.to_string();
            if TRANSIENT_AWS.iter().any(|code| text.contains(code)) {
                return true;
            }
            next = e.source();
        }
        false
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Validation { .. } => 400,
            Error::Unauthenticated(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict { .. } | Error::Contested { .. } | Error::QuotaExhausted { .. } => 409,
            Error::Precondition { .. } | Error::Rejected { .. } => 422,
            Error::RateLimited { .. } => 429,
            Error::Upstream { .. } => 502,
            Error::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code, part of the API contract.
    pub fn code(&self) -> Code {
        match self {
            Error::Validation { code, .. }
            | Error::Conflict { code, .. }
            | Error::Precondition { code, .. }
            | Error::RateLimited { code, .. }
            | Error::Rejected { code, .. } => *code,
            Error::Contested { .. } => Code::DomainTaken,
            Error::QuotaExhausted { .. } => Code::QuotaExhausted,
            Error::NotFound(_) => Code::NotFound,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::Forbidden(_) => Code::Forbidden,
            Error::Upstream { .. } => Code::UpstreamUnavailable,
            Error::Internal(_) => Code::InternalError,
        }
    }

    /// Structured details for the response body, if the error has any.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            Error::Precondition { details, .. } => details.clone(),
            Error::Contested { details, .. } => Some(details.clone()),
            Error::QuotaExhausted {
                service,
                quota,
                figures,
                ..
            } => {
                let mut details = serde_json::json!({
                    "service": service.to_string(),
                    "quota": quota,
                });
                if let (Some(serde_json::Value::Object(all)), Some(extra)) =
                    (figures, details.as_object_mut())
                {
                    extra.extend(all.clone());
                }
                Some(details)
            }
            Error::RateLimited {
                limit: Some(limit),
                retry_after,
                ..
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
            Error::RateLimited { retry_after, .. } => Some(retry_after_seconds(*retry_after)),
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

#[cfg(test)]
mod tests {
    use super::Code;

    /// Every code is one `openapi.json` documents, in its order, and the
    /// other way round.
    #[test]
    fn codes_are_the_documented_ones() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi.json")).unwrap();
        let documented = &spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"];
        let ours: Vec<serde_json::Value> = Code::ALL
            .iter()
            .map(|c| serde_json::Value::from(c.as_str()))
            .collect();
        assert_eq!(documented.as_array().unwrap(), &ours);
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
