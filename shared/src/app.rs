//! The application: configuration plus one client per outside system, each
//! built on first use and shared by every request of the container. Init
//! does no network I/O, and no file I/O unless `ACME_CA_BUNDLE` names a
//! local CA.

use std::sync::Arc;

use crate::adapters::acm::Certificates;
use crate::adapters::acme::AcmeClient;
use crate::adapters::apigateway::ApiDomains;
use crate::adapters::cloudfront::Distributions;
use crate::adapters::delegation::DelegationZone;
use crate::adapters::dns::DnsPrecheck;
use crate::adapters::events::Events;
use crate::adapters::kms::Sealer;
use crate::adapters::lazy::Lazy;
use crate::adapters::store::Store;
use crate::config::Config;
use crate::domain::quota::Quota;
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

/// The AWS SDK's HTTPS client, trusting Mozilla's roots compiled into the
/// binary (`webpki-root-certs`, which holds Amazon's) rather than the
/// system's store: the SDK's default reads every file of that store when a
/// container starts (146 files on Debian), and AWS bills a Lambda's init.
pub fn aws_http_client() -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, Error> {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty().with_pem_certificate(mozilla_roots_pem()))
        .build()
        .map_err(|e| Error::Internal(format!("AWS TLS roots: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

/// `webpki-root-certs`' roots as one PEM bundle (what the SDK's trust store
/// takes).
fn mozilla_roots_pem() -> Vec<u8> {
    use base64::prelude::{Engine, BASE64_STANDARD};
    let mut pem = Vec::with_capacity(256 * 1024);
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in BASE64_STANDARD.encode(der.as_ref()).as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// `sdk` with the configured attempt and operation timeouts (the SDK sets
/// none by itself; its connect timeout stays).
fn with_timeouts(config: &Config, sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    let mut timeouts = sdk
        .timeout_config()
        .cloned()
        .unwrap_or_else(|| aws_config::timeout::TimeoutConfig::builder().build())
        .to_builder();
    timeouts.set_operation_attempt_timeout(Some(config.aws_attempt_timeout));
    timeouts.set_operation_timeout(Some(config.aws_operation_timeout));
    sdk.to_builder().timeout_config(timeouts.build()).build()
}

/// A client `make` builds from `sdk` the first time it is used.
fn on_first_use<C: Send + Sync + 'static>(
    sdk: &aws_config::SdkConfig,
    make: fn(&aws_config::SdkConfig) -> C,
) -> Lazy<C> {
    let sdk = sdk.clone();
    Lazy::new(move || make(&sdk))
}

impl App {
    /// Reads the environment and builds every client.
    pub async fn from_env() -> Result<Arc<Self>, Error> {
        Self::from_env_sending_through(aws_http_client()?).await
    }

    /// As [`App::from_env`], with the AWS SDK's requests sent through
    /// `http` (the local server's, which enforces the functions' IAM
    /// policies as AWS would).
    pub async fn from_env_sending_through(
        http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    ) -> Result<Arc<Self>, Error> {
        let config = Config::from_env().map_err(|e| Error::Internal(e.to_string()))?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.aws_region.clone()))
            .http_client(http);
        // Lambda hands a function its role's credentials in the environment,
        // the first place the SDK's default chain looks. Taking them from
        // there directly skips building the rest of that chain at init, which
        // builds an STS client (for web identity) and an IMDS client, and
        // with them the HTTPS connector and its trust store: a third of a
        // container's init, for providers a Lambda function never reaches.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
            && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some()
        {
            loader = loader.credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
        }
        let sdk = loader.load().await;
        Self::new(config, &sdk).map(Arc::new)
    }

    /// Builds the application from configuration and an SDK configuration
    /// (tests pass one pointing at their local AWS).
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, Error> {
        // The process's metrics, under the first application's namespace.
        crate::metrics::init(&config.metrics_namespace);
        // Every AWS request ends inside the call's budget, whatever AWS does.
        let sdk = &with_timeouts(&config, sdk);
        // Each SDK client is built on first use (`adapters::lazy`): a
        // function builds only those it needs, after its init.
        let store = Store::new(
            on_first_use(sdk, aws_sdk_dynamodb::Client::new),
            config.table_name.clone(),
        );
        let sealer = Sealer::new(
            on_first_use(sdk, aws_sdk_kms::Client::new),
            config.kms_key_id.clone(),
        );
        let cloudfront_endpoint = config.cloudfront_endpoint.clone();
        let sdk_for_cloudfront = sdk.clone();
        let sdk_for_edge = sdk.clone();
        Ok(Self {
            acme: AcmeClient::new(
                config.acme_directory_url.clone(),
                config.acme_contact_email.clone(),
                config.acme_ca_bundle.as_deref(),
                store.clone(),
                sealer.clone(),
            )?,
            store: store.clone(),
            sealer,
            dns: DnsPrecheck::new(&config.dns_precheck_resolvers, &config.dns_precheck_allow),
            edge_certificates: Certificates::new(
                Lazy::new(move || {
                    crate::adapters::acm::client(&sdk_for_edge, Some(CLOUDFRONT_CERTIFICATE_REGION))
                }),
                config.stack_name.clone(),
            )
            .counted_in(store.clone(), Quota::AcmImportedCertificates),
            distributions: Distributions::new(Lazy::new(move || {
                let mut cloudfront = aws_sdk_cloudfront::config::Builder::from(&sdk_for_cloudfront);
                if let Some(endpoint) = &cloudfront_endpoint {
                    cloudfront = cloudfront.endpoint_url(endpoint);
                }
                aws_sdk_cloudfront::Client::from_conf(cloudfront.build())
            }))
            .counted_in(store.clone()),
            regional_certificates: Certificates::new(
                on_first_use(sdk, |sdk| crate::adapters::acm::client(sdk, None)),
                config.stack_name.clone(),
            )
            .counted_in(store.clone(), Quota::AcmIssuedCertificates),
            api_domains: ApiDomains::new(on_first_use(sdk, crate::adapters::apigateway::client))
                .counted_in(store.clone()),
            events: Events::new(
                on_first_use(sdk, aws_sdk_eventbridge::Client::new),
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

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn the_aws_trust_store_holds_mozillas_roots_amazons_included() {
        let pem = super::mozilla_roots_pem();
        let certs: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(certs.len() > 100);
        let amazon = certs.iter().any(|c| {
            x509_parser::parse_x509_certificate(c.as_ref())
                .is_ok_and(|(_, c)| c.subject().to_string().contains("Amazon Root CA 1"))
        });
        assert!(amazon, "Amazon Root CA 1 is not among the roots");
        // Each parses as a trust anchor (the SDK's TLS stack panics on one
        // that does not, at its first connection).
        for cert in &certs {
            webpki::anchor_from_trusted_cert(cert).unwrap();
        }
        assert!(super::aws_http_client().is_ok());
    }

    /// The configured timeouts reach every client the application builds.
    #[tokio::test]
    async fn every_client_gets_the_aws_timeouts() {
        let lookup = |k: &str| match k {
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "DYNAMODB_TABLE" => Some("t".to_owned()),
            "KMS_KEY_ID" => Some("k".to_owned()),
            "AWS_ATTEMPT_TIMEOUT_MS" => Some("300".to_owned()),
            "AWS_OPERATION_TIMEOUT_MS" => Some("1000".to_owned()),
            _ => None,
        };
        let config = crate::config::Config::from_lookup(lookup).unwrap();
        let sdk = aws_config::SdkConfig::builder().build();
        let timeouts = super::with_timeouts(&config, &sdk);
        let cf = aws_sdk_cloudfront::config::Builder::from(&timeouts).build();
        let t = cf.timeout_config().unwrap();
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(std::time::Duration::from_millis(300))
        );
        assert_eq!(
            t.operation_timeout(),
            Some(std::time::Duration::from_secs(1))
        );
    }
}
