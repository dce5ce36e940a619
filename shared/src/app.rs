//! The application: configuration plus one client per outside system, built
//! once per Lambda container (no network I/O) and shared by every request.

use std::sync::Arc;

use crate::adapters::acm::Certificates;
use crate::adapters::acme::AcmeClient;
use crate::adapters::apigateway::ApiDomains;
use crate::adapters::cloudfront::Distributions;
use crate::adapters::delegation::DelegationZone;
use crate::adapters::dns::DnsPrecheck;
use crate::adapters::dynamodb::Store;
use crate::adapters::events::Events;
use crate::adapters::kms::Sealer;
use crate::config::Config;
use crate::error::Error;

/// CloudFront reads viewer certificates from ACM in this region only.
pub const CLOUDFRONT_CERTIFICATE_REGION: &str = "us-east-1";

pub struct App {
    pub config: Config,
    pub store: Store,
    pub sealer: Sealer,
    /// The ACME server and the product's account on it.
    pub acme: AcmeClient,
    pub dns: DnsPrecheck,
    /// ACM in us-east-1, for certificates served by CloudFront.
    pub edge_certificates: Certificates,
    pub distributions: Distributions,
    /// ACM in the API's region, for API Gateway custom domains.
    pub regional_certificates: Certificates,
    pub api_domains: ApiDomains,
    /// EventBridge, for the events the platform acts on.
    pub events: Events,
    /// The `_acme-challenge` delegation zone, when configured.
    pub delegation: Option<DelegationZone>,
}

impl App {
    /// Reads the environment and builds every client.
    pub async fn from_env() -> Result<Arc<Self>, Error> {
        let config = Config::from_env().map_err(|e| Error::Internal(e.to_string()))?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.aws_region.clone()))
            .load()
            .await;
        Self::new(config, &sdk).map(Arc::new)
    }

    /// Builds the application from configuration and an SDK configuration
    /// (tests pass one pointing at their local AWS).
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, Error> {
        let edge = aws_sdk_acm::config::Builder::from(sdk)
            .region(aws_config::Region::new(CLOUDFRONT_CERTIFICATE_REGION))
            .build();
        let store = Store::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        );
        let sealer = Sealer::new(aws_sdk_kms::Client::new(sdk), config.kms_key_id.clone());
        Ok(Self {
            acme: AcmeClient::new(
                config.acme_directory_url.clone(),
                config.acme_contact_email.clone(),
                config.acme_ca_bundle.as_deref(),
                store.clone(),
                sealer.clone(),
            )?,
            store,
            sealer,
            dns: DnsPrecheck::new(&config.dns_precheck_resolvers, &config.dns_precheck_allow),
            edge_certificates: Certificates::new(aws_sdk_acm::Client::from_conf(edge)),
            distributions: Distributions::new(aws_sdk_cloudfront::Client::from_conf({
                let mut cloudfront = aws_sdk_cloudfront::config::Builder::from(sdk);
                if let Some(endpoint) = &config.cloudfront_endpoint {
                    cloudfront = cloudfront.endpoint_url(endpoint);
                }
                cloudfront.build()
            })),
            regional_certificates: Certificates::new(aws_sdk_acm::Client::new(sdk)),
            api_domains: ApiDomains::new(aws_sdk_apigatewayv2::Client::new(sdk)),
            events: Events::new(
                aws_sdk_eventbridge::Client::new(sdk),
                config.event_bus.clone(),
            ),
            delegation: config
                .delegation
                .as_ref()
                .map(|d| DelegationZone::new(d, sdk))
                .transpose()?,
            config,
        })
    }
}
