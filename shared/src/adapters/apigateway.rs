//! API Gateway (HTTP APIs): custom domains and their API mappings.

use aws_sdk_apigatewayv2::operation::create_domain_name::CreateDomainNameError;
use aws_sdk_apigatewayv2::types::{DomainNameConfiguration, EndpointType, SecurityPolicy};

use crate::domain::DomainName;
use crate::error::Code;
use crate::error::{Error, Service};

/// What a custom-domain change came to. API Gateway takes one
/// `CreateDomainName`, and one `DeleteDomainName`, per 30 s per account
/// (not adjustable; API Gateway quotas): a change refused for that
/// (`TooManyRequestsException` past the SDK's own retries) is
/// [`Paced::NotYet`], kept for the next call, never an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Paced<T> {
    Done(T),
    NotYet,
}

/// Whether API Gateway refused a request as too many
/// (`TooManyRequestsException`: paced, or a quota when it names a
/// `limitType`).
fn too_many<E: aws_sdk_apigatewayv2::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("TooManyRequestsException")
}

/// API Gateway's custom domain quota (120 per Region by default).
fn quota_exhausted(domain: &DomainName) -> Error {
    Error::QuotaExhausted {
        service: Service::ApiGateway,
        quota: "Custom domains per account per Region".to_owned(),
        message: format!("the platform's API Gateway custom domain quota is used up, so {domain} cannot get one; nothing was changed: ask the platform to raise the quota or release unused hostnames"),
        figures: None,
    }
}

/// API Gateway's custom domain quota answers `TooManyRequestsException`
/// naming a `limitType`, which the SDK would retry as a throttle.
fn is_quota(e: &aws_smithy_runtime_api::client::interceptors::context::Error) -> bool {
    e.downcast_ref::<CreateDomainNameError>()
        .is_some_and(|e| match e {
            CreateDomainNameError::TooManyRequestsException(t) => t.limit_type().is_some(),
            _ => false,
        })
}

/// An API Gateway client for `sdk` that never retries a quota.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_apigatewayv2::Client {
    aws_sdk_apigatewayv2::Client::from_conf(
        aws_sdk_apigatewayv2::config::Builder::from(sdk)
            .retry_classifier(super::quota::QuotaIsNotAThrottle { is_quota })
            .build(),
    )
}

#[derive(Clone, Debug)]
pub struct ApiDomains {
    client: super::lazy::Lazy<aws_sdk_apigatewayv2::Client>,
    /// The quota ledger the custom domains count in (`counted_in`).
    ledger: super::store::Counted,
}

fn upstream(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::upstream(Service::ApiGateway, e)
}

impl ApiDomains {
    pub fn new(client: impl Into<super::lazy::Lazy<aws_sdk_apigatewayv2::Client>>) -> Self {
        Self {
            client: client.into(),
            ledger: Default::default(),
        }
    }

    /// Counts the custom domains made and deleted in the quota ledger.
    pub fn counted_in(mut self, store: super::store::Store) -> Self {
        let quota = crate::domain::quota::Quota::ApiGatewayCustomDomains;
        self.ledger = super::store::Counted::new(store, quota);
        self
    }

    /// Creates the regional custom domain (TLS 1.2) with `certificate_arn`,
    /// or finds the one an earlier attempt created; answers its target (the
    /// name the tenant points a CNAME at). A domain that exists with another
    /// certificate is a conflict.
    ///
    /// Paced by API Gateway ([`Paced::NotYet`]); its domain quota reached is
    /// `409 quota_exhausted`; a name API Gateway holds elsewhere (another
    /// account or API: `ConflictException` with no domain of ours to be
    /// found) is `409 api_domain_exists`.
    pub async fn ensure_domain(
        &self,
        domain: &DomainName,
        certificate_arn: &str,
    ) -> Result<Paced<String>, Error> {
        if let Some((target, arn)) = self.existing_domain(domain).await? {
            if arn.as_deref() != Some(certificate_arn) {
                return Err(Error::conflict(
                    Code::ApiDomainExists,
                    format!(
                        "API Gateway already has a custom domain {domain} with another certificate"
                    ),
                ));
            }
            return Ok(Paced::Done(target));
        }
        let config = DomainNameConfiguration::builder()
            .certificate_arn(certificate_arn)
            .endpoint_type(EndpointType::Regional)
            .security_policy(SecurityPolicy::Tls12)
            .build();
        let created = self
            .client
            .create_domain_name()
            .domain_name(domain.as_str())
            .domain_name_configurations(config)
            .send()
            .await;
        match created {
            Ok(out) => {
                self.ledger.count(1).await;
                let target = out
                    .domain_name_configurations()
                    .first()
                    .and_then(|c| c.api_gateway_domain_name())
                    .map(str::to_owned);
                match target {
                    Some(t) => Ok(Paced::Done(t)),
                    // Some implementations fill the target in only on read.
                    None => self
                        .existing_domain(domain)
                        .await?
                        .map(|(t, _)| t)
                        .filter(|t| !t.is_empty())
                        .map(Paced::Done)
                        .ok_or_else(|| {
                            Error::upstream(Service::ApiGateway, "the custom domain has no target")
                        }),
                }
            }
            // Created by a concurrent poll between our read and our create,
            // or held by another account or API.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conflict_exception()) =>
            {
                match self.existing_domain(domain).await? {
                    Some((target, arn)) if arn.as_deref() == Some(certificate_arn) => {
                        Ok(Paced::Done(target))
                    }
                    _ => Err(Error::conflict(
                        Code::ApiDomainExists,
                        format!("API Gateway refuses {domain}: another AWS account or API already has it as a custom domain; it must be removed there first (or release this hostname)"),
                    )),
                }
            }
            Err(e) => match e.as_service_error() {
                Some(CreateDomainNameError::TooManyRequestsException(t)) => match t.limit_type() {
                    Some(_) => Err(quota_exhausted(domain)),
                    None => Ok(Paced::NotYet),
                },
                _ => Err(upstream(aws_sdk_apigatewayv2::Error::from(e))),
            },
        }
    }

    async fn existing_domain(
        &self,
        domain: &DomainName,
    ) -> Result<Option<(String, Option<String>)>, Error> {
        match self
            .client
            .get_domain_name()
            .domain_name(domain.as_str())
            .send()
            .await
        {
            Ok(out) => {
                let config = out.domain_name_configurations().first();
                let target = config
                    .and_then(|c| c.api_gateway_domain_name())
                    .unwrap_or_default()
                    .to_owned();
                Ok(Some((
                    target,
                    config.and_then(|c| c.certificate_arn()).map(str::to_owned),
                )))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(upstream(aws_sdk_apigatewayv2::Error::from(e))),
        }
    }

    /// Maps the custom domain's root to the API's stage, unless an earlier
    /// attempt already did.
    pub async fn ensure_mapping(
        &self,
        domain: &DomainName,
        api_id: &str,
        stage: &str,
    ) -> Result<(), Error> {
        let existing = self
            .client
            .get_api_mappings()
            .domain_name(domain.as_str())
            .send()
            .await
            .map_err(|e| upstream(aws_sdk_apigatewayv2::Error::from(e)))?;
        let mapped = existing.items().iter().any(|m| {
            m.api_id() == Some(api_id)
                && m.stage() == Some(stage)
                && m.api_mapping_key().unwrap_or_default().is_empty()
        });
        if mapped {
            return Ok(());
        }
        self.client
            .create_api_mapping()
            .domain_name(domain.as_str())
            .api_id(api_id)
            .stage(stage)
            .send()
            .await
            .map_err(|e| upstream(aws_sdk_apigatewayv2::Error::from(e)))?;
        Ok(())
    }

    /// Deletes the custom domain's API mappings (this product makes one, at
    /// the root) and then the custom domain; what is gone already is fine.
    /// Paced by API Gateway ([`Paced::NotYet`]: the next call deletes it).
    pub async fn delete_domain(&self, domain: &DomainName) -> Result<Paced<()>, Error> {
        let mappings = match self
            .client
            .get_api_mappings()
            .domain_name(domain.as_str())
            .send()
            .await
        {
            Ok(out) => out.items.unwrap_or_default(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_not_found_exception()) =>
            {
                return Ok(Paced::Done(()))
            }
            Err(e) => return Err(upstream(aws_sdk_apigatewayv2::Error::from(e))),
        };
        for mapping in mappings {
            let Some(id) = mapping.api_mapping_id else {
                continue;
            };
            match self
                .client
                .delete_api_mapping()
                .domain_name(domain.as_str())
                .api_mapping_id(id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_not_found_exception()) => {}
                Err(e) => return Err(upstream(aws_sdk_apigatewayv2::Error::from(e))),
            }
        }
        match self
            .client
            .delete_domain_name()
            .domain_name(domain.as_str())
            .send()
            .await
        {
            Ok(_) => {
                self.ledger.count(-1).await;
                Ok(Paced::Done(()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_not_found_exception()) =>
            {
                Ok(Paced::Done(()))
            }
            Err(e) if e.as_service_error().is_some_and(too_many) => Ok(Paced::NotYet),
            Err(e) => Err(upstream(aws_sdk_apigatewayv2::Error::from(e))),
        }
    }
}
