//! AWS as the tests see it: SDK configuration for the local stack (moto,
//! and ministack for CloudFront), distributions made and read back, and ACM
//! look-ups.

use aws_sdk_cloudfront::types::{
    Aliases, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin,
    OriginProtocolPolicy, Origins, ViewerProtocolPolicy,
};

use super::{aws_calls, stack, unique};

pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    sdk_config_with(endpoint, &[]).await
}

/// As [`sdk_config`], for an application whose configuration `overrides`
/// changes (its own table, a hosted zone): the policies its requests are
/// checked against are resolved with the same values.
pub async fn sdk_config_with(
    endpoint: Option<&str>,
    overrides: &[(String, String)],
) -> aws_config::SdkConfig {
    let s = stack();
    let mut vars = s.vars.clone();
    vars.extend(overrides.iter().cloned());
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(s.var("AWS_REGION")))
        .endpoint_url(
            endpoint
                .map(str::to_owned)
                .unwrap_or_else(|| s.var("AWS_ENDPOINT_URL")),
        )
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        // Attributes every AWS call to the function that made it, and
        // answers one its policy does not allow as AWS would.
        .http_client(aws_calls::Recording::new(&vars))
        .load()
        .await
}

/// A CloudFront client for the stack's CloudFront (ministack), through
/// `sdk`'s HTTP client (so its calls are recorded).
pub fn cloudfront_client(sdk: &aws_config::SdkConfig) -> aws_sdk_cloudfront::Client {
    cloudfront_via(sdk, &stack().var("AWS_ENDPOINT_URL_CLOUDFRONT"))
}

/// A CloudFront client whose requests go to `endpoint` (a fault proxy).
pub fn cloudfront_via(sdk: &aws_config::SdkConfig, endpoint: &str) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A distribution's ETag: changes with every write of its configuration.
pub async fn distribution_etag(id: &str) -> String {
    let sdk = sdk_config(None).await;
    cloudfront_client(&sdk)
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap()
}

pub async fn create_distribution(sdk: &aws_config::SdkConfig, aliases: &[String]) -> String {
    let cloudfront = cloudfront_client(sdk);
    let mut config = DistributionConfig::builder()
        .caller_reference(unique("ref-"))
        .comment("test distribution")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("platform")
                        .domain_name("app.platform.example")
                        .custom_origin_config(
                            CustomOriginConfig::builder()
                                .http_port(80)
                                .https_port(443)
                                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("platform")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        );
    if !aliases.is_empty() {
        config = config.aliases(
            Aliases::builder()
                .quantity(aliases.len() as i32)
                .set_items(Some(aliases.to_vec()))
                .build()
                .unwrap(),
        );
    }
    let out = cloudfront
        .create_distribution()
        .distribution_config(config.build().unwrap())
        .send()
        .await
        .unwrap();
    out.distribution.unwrap().id
}

/// ACM in us-east-1, where CloudFront's certificates are imported.
pub async fn acm_us_east_1() -> aws_sdk_acm::Client {
    let sdk = sdk_config(None).await;
    aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(&sdk)
            .region(aws_config::Region::new("us-east-1"))
            .build(),
    )
}

/// Asserts that ACM (through `acm`) holds the certificate `arn` for `domain`.
pub async fn assert_acm_certificate(acm: &aws_sdk_acm::Client, arn: &str, domain: &str) {
    let described = acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.certificate().unwrap().domain_name(), Some(domain));
}
