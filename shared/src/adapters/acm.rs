//! AWS Certificate Manager.
//!
//! CloudFront only uses certificates from us-east-1, while a regional API
//! Gateway domain needs one in the API's region: the application holds one
//! [`Certificates`] per role (`App::edge_certificates` for CloudFront).

use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{CertificateStatus, CertificateType, KeyAlgorithm, Tag};

use crate::domain::DomainName;
use crate::error::{Error, Service};

/// The tag that marks certificates this product imported, with the hostname.
pub const DOMAIN_TAG: &str = "custom-domains:domain";

#[derive(Clone, Debug)]
pub struct Certificates {
    client: aws_sdk_acm::Client,
}

fn upstream(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::upstream(Service::Acm, e)
}

impl Certificates {
    pub fn new(client: aws_sdk_acm::Client) -> Self {
        Self { client }
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
    ) -> Result<String, Error> {
        let mut req = self
            .client
            .import_certificate()
            .certificate(Blob::new(leaf_pem.as_bytes()))
            .private_key(Blob::new(key_pem.as_bytes()));
        if !intermediates_pem.trim().is_empty() {
            req = req.certificate_chain(Blob::new(intermediates_pem.as_bytes()));
        }
        req = match existing_arn {
            Some(arn) => req.certificate_arn(arn),
            None => req.tags(
                Tag::builder()
                    .key(DOMAIN_TAG)
                    .value(domain.as_str())
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?,
            ),
        };
        let out = req.send().await.map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
        out.certificate_arn
            .ok_or_else(|| Error::upstream(Service::Acm, "ImportCertificate returned no ARN"))
    }

    /// Finds an imported certificate for `domain` with the given serial (hex,
    /// any case or separators): the one a lost import answer left behind.
    pub async fn find_imported(&self, domain: &DomainName, serial_hex: &str) -> Result<Option<String>, Error> {
        let want = normalise_serial(serial_hex);
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
            .into_paginator()
            .items()
            .send();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
            if summary.domain_name() != Some(domain.as_str()) {
                continue;
            }
            if summary.r#type().is_some_and(|t| *t != CertificateType::Imported) {
                continue;
            }
            let Some(arn) = summary.certificate_arn() else { continue };
            let detail = self
                .client
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
            let serial = detail.certificate().and_then(|c| c.serial()).map(normalise_serial);
            if serial.as_deref() == Some(want.as_str()) {
                return Ok(Some(arn.to_owned()));
            }
        }
        Ok(None)
    }

    /// ACM's status of a certificate.
    pub async fn status(&self, arn: &str) -> Result<Option<CertificateStatus>, Error> {
        let out = self
            .client
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| upstream(aws_sdk_acm::Error::from(e)))?;
        Ok(out.certificate.and_then(|c| c.status))
    }
}

fn normalise_serial(s: &str) -> String {
    s.chars().filter(char::is_ascii_hexdigit).collect::<String>().to_ascii_lowercase().trim_start_matches('0').to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn serials_compare_without_separators() {
        assert_eq!(super::normalise_serial("0A:bc:01"), super::normalise_serial("abc01"));
    }
}
