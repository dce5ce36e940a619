//! AWS Certificate Manager.
//!
//! CloudFront only uses certificates from us-east-1, while a regional API
//! Gateway domain needs one in the API's region: the application holds one
//! [`Certificates`] per role (`App::edge_certificates` for CloudFront,
//! `App::regional_certificates` for API Gateway).

use aws_sdk_acm::error::ProvideErrorMetadata;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{CertificateStatus, CertificateType, KeyAlgorithm, Tag, ValidationMethod};

use crate::domain::{DomainName, ValidationRecord};
use crate::error::{Error, Service};

/// The tag that marks certificates this product made, with the hostname.
pub const DOMAIN_TAG: &str = "custom-domains:domain";
/// The tag naming the tenant a requested certificate is for.
pub const TENANT_TAG: &str = "custom-domains:tenant";
/// The tag naming the deployment (`Config::stack_name`) that made a
/// certificate, on every certificate it makes: its policies in
/// `template.yaml` allow a first import or a request only with it
/// (`aws:RequestTag`), and a re-import or a deletion only of a certificate
/// carrying it (`aws:ResourceTag`), so the product never replaces or
/// deletes a certificate someone else made.
pub const STACK_TAG: &str = "custom-domains:stack";

/// What a deletion came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Gone (or was already).
    Deleted,
    /// Still in use by CloudFront or API Gateway: try again later.
    InUse,
    /// Refused (`AccessDeniedException`): the policy deletes only
    /// certificates tagged with this deployment's name, so this one was
    /// made by someone else, or is gone already (IAM reads a deleted
    /// certificate's tags as none). Nothing of this deployment's is left to
    /// delete; the certificate, if any, stays in ACM.
    Refused,
}

/// What ACM says of a requested certificate.
#[derive(Clone, Debug)]
pub struct RequestedCertificate {
    /// ACM's status, e.g. `PENDING_VALIDATION`, `ISSUED`.
    pub status: String,
    pub issued: bool,
    /// ACM will not issue it (failed, timed out, revoked, expired, inactive).
    pub failed: bool,
    pub failure_reason: Option<String>,
    /// Empty until ACM has filled them in, a moment after the request.
    pub validation_records: Vec<ValidationRecord>,
}

#[derive(Clone, Debug)]
pub struct Certificates {
    client: super::lazy::Lazy<aws_sdk_acm::Client>,
    /// The deployment's name, tagged on every certificate it makes.
    stack: String,
    /// The quota ledger, and the quota this client's certificates count
    /// in while held (imported, or ACM-issued): `Certificates::counted_in`.
    ledger: super::store::Counted,
}

fn upstream(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::upstream(Service::Acm, e)
}

/// How long a throttled import waits before each new attempt (before
/// jitter, ×0.5–1.5): 7 attempts over about 7 s, inside a call's budget.
const IMPORT_THROTTLE_WAITS: [std::time::Duration; 6] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(800),
    std::time::Duration::from_millis(1600),
    std::time::Duration::from_millis(2000),
    std::time::Duration::from_millis(2000),
];

/// What an import came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    /// In ACM, at this ARN.
    Arn(String),
    /// ACM throttled every attempt and imported nothing: try again later.
    Throttled,
}

/// ACM's certificate quotas (2,500 held, and imports or requests a year, by
/// default) are not passing faults: `LimitExceededException` is answered
/// `409 quota_exhausted`, never retried as a throttle.
fn limit_or_upstream(e: aws_sdk_acm::Error) -> Error {
    match e {
        aws_sdk_acm::Error::LimitExceededException(l) => Error::QuotaExhausted {
            service: Service::Acm,
            quota: "ACM certificates".to_owned(),
            figures: None,
            message: format!(
                "the platform's ACM certificate quota is used up ({}); nothing was changed: ask the platform to raise the quota or release unused hostnames",
                l.message().unwrap_or("LimitExceededException")
            ),
        },
        other => upstream(other),
    }
}

/// ACM's quotas (certificates held, imports or requests a year) answer
/// `LimitExceededException`, which the SDK would retry as a throttle.
fn is_quota(e: &aws_smithy_runtime_api::client::interceptors::context::Error) -> bool {
    use aws_sdk_acm::operation::{
        import_certificate::ImportCertificateError, request_certificate::RequestCertificateError,
    };
    e.downcast_ref::<RequestCertificateError>()
        .is_some_and(|e| e.is_limit_exceeded_exception())
        || e.downcast_ref::<ImportCertificateError>()
            .is_some_and(|e| e.is_limit_exceeded_exception())
}

/// An ACM client for `sdk` (in `region`, when given) that never retries a
/// quota.
pub fn client(sdk: &aws_config::SdkConfig, region: Option<&'static str>) -> aws_sdk_acm::Client {
    let mut config = aws_sdk_acm::config::Builder::from(sdk)
        .retry_classifier(super::quota::QuotaIsNotAThrottle { is_quota });
    if let Some(region) = region {
        config = config.region(aws_config::Region::new(region));
    }
    aws_sdk_acm::Client::from_conf(config.build())
}

impl Certificates {
    /// ACM through `client`, for the deployment named `stack`.
    pub fn new(
        client: impl Into<super::lazy::Lazy<aws_sdk_acm::Client>>,
        stack: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            stack: stack.into(),
            ledger: Default::default(),
        }
    }

    /// Counts what this client makes and deletes in the quota ledger:
    /// each certificate in `held` while it exists, and every import by day.
    pub fn counted_in(
        mut self,
        store: super::store::Store,
        held: crate::domain::quota::Quota,
    ) -> Self {
        self.ledger = super::store::Counted::new(store, held);
        self
    }

    /// Imports a certificate (leaf PEM, intermediates PEM, unencrypted key
    /// PEM). With `existing_arn`, replaces the certificate at that ARN, which
    /// keeps every distribution that uses it.
    pub async fn import(
        &self,
        domain: &DomainName,
        leaf_pem: &str,
        intermediates_pem: &str,
        key_pem: &str,
        existing_arn: Option<&str>,
    ) -> Result<Imported, Error> {
        let mut req = self
            .client
            .import_certificate()
            .certificate(Blob::new(leaf_pem.as_bytes()))
            .private_key(Blob::new(key_pem.as_bytes()));
        if !intermediates_pem.trim().is_empty() {
            req = req.certificate_chain(Blob::new(intermediates_pem.as_bytes()));
        }
        // A re-import keeps the certificate's tags (ACM refuses new ones).
        req = match existing_arn {
            Some(arn) => req.certificate_arn(arn),
            None => req
                .tags(tag(DOMAIN_TAG, domain.as_str())?)
                .tags(tag(STACK_TAG, &self.stack)?),
        };
        // Not retried by the SDK: an import whose answer was lost may have
        // happened, and a blind retry would leave a second copy in ACM. The
        // caller's next attempt looks for it first (`find_imported`). Only a
        // throttled import, which ACM did not perform, is sent again here:
        // ACM allows about one ImportCertificate a second per account
        // (`ThrottlingException` past it; ACM's API rate quotas), so a
        // platform issuing many hostnames at once meets it.
        let mut waits = IMPORT_THROTTLE_WAITS.iter();
        loop {
            let sent = req
                .clone()
                .customize()
                .config_override(
                    aws_sdk_acm::config::Builder::default()
                        .retry_config(aws_sdk_acm::config::retry::RetryConfig::disabled()),
                )
                .send()
                .await;
            match sent {
                Ok(out) => {
                    self.ledger.import(existing_arn.is_none()).await;
                    if existing_arn.is_none() {
                        self.ledger.count(1).await;
                    }
                    return out.certificate_arn.map(Imported::Arn).ok_or_else(|| {
                        Error::upstream(Service::Acm, "ImportCertificate returned no ARN")
                    });
                }
                Err(e)
                    if e.as_service_error().and_then(ProvideErrorMetadata::code)
                        == Some("ThrottlingException") =>
                {
                    let Some(wait) = waits.next() else {
                        tracing::warn!(%domain, "ACM throttled every attempt of the import; the next call imports");
                        return Ok(Imported::Throttled);
                    };
                    // Jittered, so imports throttled together spread out.
                    let jitter = 0.5 + crate::random::random_unit();
                    tracing::info!(%domain, wait_ms = wait.as_millis() as u64, "ACM throttled the import; sending it again");
                    tokio::time::sleep(wait.mul_f64(jitter)).await;
                }
                Err(e) => return Err(limit_or_upstream(aws_sdk_acm::Error::from(e))),
            }
        }
    }

    /// Finds an imported certificate for `domain` whose leaf is `leaf_pem`:
    /// the one a lost import answer left behind. Compares the certificates
    /// themselves, since ACM's serial format differs between implementations.
    ///
    /// Lists the newest first and stops at the first certificate made
    /// before the leaf's `notBefore` (an import of it cannot be older), so
    /// the account's other certificates, up to 2,500 of them, are not all
    /// paged through.
    pub async fn find_imported(
        &self,
        domain: &DomainName,
        leaf_pem: &str,
    ) -> Result<Option<String>, Error> {
        let want = pem_der(leaf_pem);
        let since = crate::domain::certificate::inspect(leaf_pem)
            .ok()
            .map(|facts| facts.not_before.unix());
        let mut pages = self
            .client
            .list_certificates()
            .includes(
                // ACM lists only RSA 2048 certificates unless asked for more.
                aws_sdk_acm::types::Filters::builder()
                    .key_types(KeyAlgorithm::Rsa2048)
                    .key_types(KeyAlgorithm::EcPrime256v1)
                    .build(),
            )
            .sort_by(aws_sdk_acm::types::SortBy::CreatedAt)
            .sort_order(aws_sdk_acm::types::SortOrder::Descending)
            .into_paginator()
            .items()
            .send();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
            let made = summary
                .imported_at()
                .or(summary.created_at())
                .map(|t| t.secs());
            if let (Some(made), Some(since)) = (made, since) {
                if made < since {
                    break;
                }
            }
            if summary.domain_name() != Some(domain.as_str())
                || summary
                    .r#type()
                    .is_some_and(|t| *t != CertificateType::Imported)
            {
                continue;
            }
            let Some(arn) = summary.certificate_arn() else {
                continue;
            };
            let got = self
                .client
                .get_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
            if want.is_some() && got.certificate().and_then(pem_der) == want {
                return Ok(Some(arn.to_owned()));
            }
        }
        Ok(None)
    }

    /// Requests a DNS-validated certificate for `domain`. The idempotency
    /// token makes a retried request (within ACM's hour) answer the same ARN
    /// instead of a second certificate.
    pub async fn request(
        &self,
        domain: &DomainName,
        tenant: &str,
        idempotency_token: &str,
    ) -> Result<String, Error> {
        let out = self
            .client
            .request_certificate()
            .domain_name(domain.as_str())
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(idempotency_token)
            .tags(tag(DOMAIN_TAG, domain.as_str())?)
            .tags(tag(TENANT_TAG, tenant)?)
            .tags(tag(STACK_TAG, &self.stack)?)
            .send()
            .await
            .map_err(|e| limit_or_upstream(aws_sdk_acm::Error::from(e)))?;
        // (A request repeated with its token answers the same certificate:
        // counted at most once more than ACM holds, until it is deleted.)
        self.ledger.count(1).await;
        out.certificate_arn
            .ok_or_else(|| Error::upstream(Service::Acm, "RequestCertificate returned no ARN"))
    }

    /// Deletes a certificate this product made and nothing uses; one
    /// already gone counts as deleted. One still in use (CloudFront or API
    /// Gateway has not let go of it yet) is an outcome, not an error: the
    /// caller tries again later. So is one the policy refuses
    /// ([`Deletion::Refused`]): not this deployment's to delete.
    pub async fn delete(&self, arn: &str) -> Result<Deletion, Error> {
        match self
            .client
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
        {
            Ok(_) => {
                self.ledger.count(-1).await;
                Ok(Deletion::Deleted)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                Ok(Deletion::Deleted)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_in_use_exception()) =>
            {
                Ok(Deletion::InUse)
            }
            Err(e)
                if e.as_service_error().and_then(ProvideErrorMetadata::code)
                    == Some("AccessDeniedException") =>
            {
                tracing::warn!(%arn, "ACM refused to delete the certificate: not tagged as this deployment's (made by someone else, or gone already); left in ACM");
                Ok(Deletion::Refused)
            }
            Err(e) => Err(upstream(aws_sdk_acm::Error::from(e))),
        }
    }

    /// ACM's view of a requested certificate.
    pub async fn describe(&self, arn: &str) -> Result<RequestedCertificate, Error> {
        let out = self
            .client
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
        let detail = out.certificate.ok_or_else(|| {
            Error::upstream(Service::Acm, "DescribeCertificate returned no certificate")
        })?;
        let validation_records = detail
            .domain_validation_options()
            .iter()
            .filter_map(|o| o.resource_record())
            .map(|r| ValidationRecord {
                name: r.name().trim_end_matches('.').to_owned(),
                value: r.value().trim_end_matches('.').to_owned(),
                record_type: r.r#type().as_str().to_owned(),
            })
            .collect();
        Ok(RequestedCertificate {
            status: detail
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "UNKNOWN".into()),
            issued: detail.status() == Some(&CertificateStatus::Issued),
            failed: matches!(
                detail.status(),
                Some(
                    CertificateStatus::Failed
                        | CertificateStatus::ValidationTimedOut
                        | CertificateStatus::Revoked
                        | CertificateStatus::Expired
                        | CertificateStatus::Inactive
                )
            ),
            failure_reason: detail.failure_reason().map(|r| r.as_str().to_owned()),
            validation_records,
        })
    }
}

/// One ACM tag.
fn tag(key: &str, value: &str) -> Result<Tag, Error> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))
}

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}
