//! Typed configuration, read once from the environment at start-up.
//!
//! Every variable is named here and nowhere else; a missing or malformed one
//! fails start-up with a message that names it, so a misconfigured deployment
//! never gets as far as serving a request.

use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::renewal::RenewalPolicy;

/// The deployment's name when `STACK_NAME` is unset: samconfig.toml's
/// stack name (the local stack's, too).
pub const DEFAULT_STACK_NAME: &str = "custom-domains";

/// Let's Encrypt's production directory, the default ACME server.
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Variables the configuration reads that the SAM template does not set:
/// `AWS_REGION` is set by the Lambda runtime itself, `ACME_CA_BUNDLE`
/// exists for a local ACME server only (production trusts the public roots),
/// and `RFC2136_TSIG_SECRET` (the secret itself in a variable) is for a local
/// stack: the template reads it from Secrets Manager
/// (`RFC2136_TSIG_SECRET_ARN`).
pub const NOT_SET_BY_TEMPLATE: &[&str] = &[
    "AWS_REGION",
    "ACME_CA_BUNDLE",
    "DNS_PRECHECK_ALLOW_ADDRESSES",
    "AWS_ENDPOINT_URL_CLOUDFRONT",
    // The CA's limits default to its published values (config::AcmeLimits).
    "ACME_LIMIT_NEW_ORDERS",
    "ACME_LIMIT_CERTIFICATES_PER_DOMAIN",
    "ACME_LIMIT_DUPLICATES",
    "ACME_LIMIT_FAILED_VALIDATIONS",
    "RFC2136_TSIG_SECRET",
];

/// The limits one ACME account meets at its CA, kept by the product from
/// its own records so that a call that would pass one is refused before the
/// CA is asked (`None`: no limit). Defaults: Let's Encrypt's published
/// values for a Let's Encrypt directory, none for any other (a local
/// Pebble); each can be set with `ACME_LIMIT_NEW_ORDERS` (per account per
/// 3 h), `ACME_LIMIT_CERTIFICATES_PER_DOMAIN` (per registered domain per 7
/// days), `ACME_LIMIT_DUPLICATES` (per exact set of names per 7 days),
/// `ACME_LIMIT_FAILED_VALIDATIONS` (per name per hour): a number, or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcmeLimits {
    pub new_orders: Option<u32>,
    pub certificates_per_domain: Option<u32>,
    pub duplicates: Option<u32>,
    pub failed_validations: Option<u32>,
}

impl AcmeLimits {
    /// Let's Encrypt's published limits.
    pub const LETS_ENCRYPT: AcmeLimits = AcmeLimits {
        new_orders: Some(300),
        certificates_per_domain: Some(50),
        duplicates: Some(5),
        failed_validations: Some(5),
    };
    pub const NONE: AcmeLimits = AcmeLimits {
        new_orders: None,
        certificates_per_domain: None,
        duplicates: None,
        failed_validations: None,
    };
}

/// Which certificate serves a hostname on the shared edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// Let's Encrypt over DNS-01, imported into ACM, renewed by the product.
    Acme,
    /// CloudFront-managed (CloudFront SaaS Manager): validated over HTTP
    /// once the hostname points at the edge, renewed by ACM.
    Managed,
}

/// The platform's `_acme-challenge` delegation zone: a tenant points
/// `_acme-challenge.<host>` at a name in it (CNAME), once, and the product
/// writes every validation's TXT record there itself.
#[derive(Clone, Debug)]
pub struct Delegation {
    /// `DELEGATION_ZONE`, e.g. `acme-delegation.platform.example`.
    pub zone: String,
    pub provider: DelegationProvider,
    /// `DELEGATION_WAIT_MS`: how long one call waits for the zone's
    /// authoritative servers to answer a new record (default 10 s); a call
    /// that runs out answers 202 and the next one waits again.
    pub wait: Duration,
}

/// Who serves the delegation zone (`DELEGATION_PROVIDER`).
#[derive(Clone)]
pub enum DelegationProvider {
    /// `route53`: the hosted zone `ROUTE53_HOSTED_ZONE_ID`.
    Route53 { hosted_zone_id: String },
    /// `rfc2136`: dynamic updates signed with TSIG (HMAC-SHA256) to
    /// `RFC2136_SERVER` (`ip:port`) with key `RFC2136_TSIG_KEY_NAME`, as
    /// cert-manager, lego and certbot offer.
    Rfc2136 {
        server: SocketAddr,
        key_name: String,
        secret: TsigSecret,
    },
}

/// Where the RFC 2136 key's secret (base64, as `tsig-keygen` or
/// `keymgr -t` print it) is read from.
#[derive(Clone, PartialEq, Eq)]
pub enum TsigSecret {
    /// `RFC2136_TSIG_SECRET_ARN`: a Secrets Manager secret whose
    /// `SecretString` is the base64 secret. Read on the first update a
    /// container sends, so only the functions that write records need
    /// `secretsmanager:GetSecretValue`, and a rotated secret is picked up
    /// by new containers without a deployment. Secrets Manager rather than
    /// an SSM `SecureString`: it is where AWS keeps credentials that
    /// rotate, and one SDK is enough.
    SecretsManager { secret_id: String },
    /// `RFC2136_TSIG_SECRET`: the decoded secret itself, from the
    /// environment (the local stack; a deployment should not put a
    /// credential in a function's plain configuration).
    Inline(Vec<u8>),
}

impl std::fmt::Debug for TsigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecretsManager { secret_id } => write!(f, "SecretsManager({secret_id})"),
            Self::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// A base64 TSIG secret, decoded.
pub fn decode_tsig_secret(text: &str) -> Option<Vec<u8>> {
    use base64::prelude::{Engine, BASE64_STANDARD};
    BASE64_STANDARD
        .decode(text.trim().as_bytes())
        .ok()
        .filter(|s| !s.is_empty())
}

impl std::fmt::Debug for DelegationProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Route53 { hosted_zone_id } => write!(f, "Route53({hosted_zone_id})"),
            Self::Rfc2136 {
                server, key_name, ..
            } => write!(f, "Rfc2136({server}, {key_name})"),
        }
    }
}

/// Who is one of the platform's operators (the operator routes): a verified
/// token whose claim `claim` (`OPERATOR_CLAIM`, default
/// `custom_domains_role`) is `value` (`OPERATOR_CLAIM_VALUE`, default
/// `operator`), or lists it (a groups claim, as Cognito's
/// `cognito:groups`, reaches a function as `[a b]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorClaim {
    pub claim: String,
    pub value: String,
}

/// Everything the functions need to know about their deployment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `AWS_REGION`: the region of the table, the HTTP API and its certificates.
    pub aws_region: String,
    /// `DYNAMODB_TABLE`: the single table holding orders, claims and settings.
    pub table_name: String,
    /// `STACK_NAME`: the deployment's name (its CloudFormation stack; the
    /// template sets it from `AWS::StackName`), tagged on every certificate
    /// it makes (`adapters::acm::STACK_TAG`): its policies let it re-import
    /// and delete only certificates carrying it. Default
    /// [`DEFAULT_STACK_NAME`].
    pub stack_name: String,
    /// `CLOUDFRONT_DISTRIBUTION_ID`: the distribution used for an organisation
    /// that has no distribution of its own recorded (see `OrgSettings`).
    pub default_distribution_id: Option<String>,
    /// `CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID`: the shared edge. An
    /// organisation without a distribution of its own gets, per hostname, a
    /// distribution tenant on this multi-tenant distribution (CloudFront
    /// SaaS Manager). Preferred over `CLOUDFRONT_DISTRIBUTION_ID`, whose one
    /// viewer certificate can serve one hostname only.
    pub multi_tenant_distribution_id: Option<String>,
    /// `DEFAULT_CERTIFICATE`: the certificate a hostname on the shared edge
    /// gets when its start names none, `acme` (default) or `managed`.
    pub default_certificate: CertificateKind,
    /// `MANAGED_VALIDATION_TOKEN_HOST`: who serves a managed certificate's
    /// HTTP validation token, `cloudfront` (default: once the hostname
    /// points at the edge) or `self-hosted` (the platform's origin serves
    /// it before the tenant changes DNS; CloudFront reads it only for the
    /// first certificate).
    pub managed_validation_token_host: String,
    /// `HANDOFF_TO_MANAGED`: an ACME hostname on the shared edge is handed
    /// off to a managed certificate once it points at the edge. Default:
    /// on when `DEFAULT_CERTIFICATE` is `managed`.
    pub handoff_to_managed: bool,
    /// `HANDOFF_DELEGATED`: a hostname whose `_acme-challenge` is
    /// delegated is handed off too (default `true`); `false` keeps those on
    /// ACME (a platform that wants their renewals by DNS-01).
    pub handoff_delegated: bool,
    /// `QUOTA_*`: the AWS quotas the ledger keeps under (AWS's defaults;
    /// raise them with the account's own).
    pub quota_limits: crate::domain::quota::QuotaLimits,
    /// `ACME_PROFILE`: the ACME profile new orders ask for (`classic`,
    /// `tlsserver`, `shortlived`; none: the CA's default). A renewal asks
    /// for its certificate's own.
    pub acme_profile: Option<String>,
    /// `CLOUDFRONT_CONNECTION_GROUP_ID`: the connection group the
    /// distribution tenants use (default: the account's default one).
    pub connection_group_id: Option<String>,
    /// `AWS_ENDPOINT_URL_CLOUDFRONT`: a CloudFront endpoint of its own (the
    /// local stack's ministack); unset in AWS.
    pub cloudfront_endpoint: Option<String>,
    /// `ACME_DIRECTORY_URL`: the ACME server (default: Let's Encrypt production).
    pub acme_directory_url: String,
    /// The CA's rate limits the product keeps itself (`flows::acme::limits`).
    pub acme_limits: AcmeLimits,
    /// `ACME_CONTACT_EMAIL`: contact registered with the ACME account.
    pub acme_contact_email: Option<String>,
    /// `ACME_CA_BUNDLE`: path to a PEM file with an extra root the ACME client
    /// trusts (for a local Pebble). Trusted by the ACME client only.
    pub acme_ca_bundle: Option<String>,
    /// `DNS_PRECHECK_RESOLVERS`: comma-separated `ip:port` list.
    pub dns_precheck_resolvers: Vec<SocketAddr>,
    /// `DNS_PRECHECK_ALLOW_ADDRESSES`: comma-separated `ip:port` list of
    /// nameservers outside the public internet the precheck may ask (a
    /// local stack's authoritative servers), each on the port given. Every
    /// other loopback, private or link-local address learned from a
    /// tenant's NS records is never asked (default: none).
    pub dns_precheck_allow: Vec<SocketAddr>,
    /// `ACME_CAA_IDENTITIES`: the CA's CAA issuer domains, comma-separated
    /// (default `letsencrypt.org`). A CAA record set whose `issue`
    /// properties name none of them is refused with 422 `caa_forbids`
    /// before the CA is asked to validate.
    pub acme_caa_identities: Vec<String>,
    /// `KMS_KEY_ID`: the KMS key that seals private keys and ACME account
    /// credentials before they are written to DynamoDB.
    pub kms_key_id: String,
    /// `COMPLETE_TIME_BUDGET_MS`: how long one call of a multi-step route may
    /// work before it answers 202 with the state reached (default 20 s, well
    /// under API Gateway's 30 s cut-off).
    pub time_budget: Duration,
    /// `AWS_ATTEMPT_TIMEOUT_MS`: how long one attempt of an AWS request may
    /// take (default 4 s), and `AWS_OPERATION_TIMEOUT_MS`: the request with
    /// its retries (default 10 s). The SDK sets neither by itself, so a
    /// stalled AWS call would hold an invocation until Lambda's timeout and
    /// API Gateway answered 503 at 30 s; with them it ends inside the
    /// call's budget (`COMPLETE_TIME_BUDGET_MS`, 20 s), its progress saved.
    pub aws_attempt_timeout: Duration,
    pub aws_operation_timeout: Duration,
    /// `LEASE_GRACE_MS`: how long past its time budget a call holds a
    /// hostname's lease (default 60 s): a call that dies holding it (a
    /// crashed or timed-out container) blocks the hostname's next
    /// complete, renewal or release for budget + grace at most. Keep it
    /// above the 3 s a call's CA requests may run past its budget (the
    /// crash tests set 0 to restart quickly).
    pub lease_grace: Duration,
    /// `ACME_POLL_INTERVAL_MS`: delay between polls of the ACME order (default 250 ms).
    pub acme_poll_interval: Duration,
    /// `API_GATEWAY_ID`: the HTTP API tenant domains are mapped to (ACM path).
    pub api_gateway_id: Option<String>,
    /// `API_GATEWAY_STAGE`: the stage mapped (default `$default`).
    pub api_gateway_stage: String,
    /// `TENANT_CLAIM`: the verified token claim that names the caller's
    /// tenant (default `tenant_id`).
    pub tenant_claim: String,
    /// `OPERATOR_CLAIM`, `OPERATOR_CLAIM_VALUE`: the operator routes' caller.
    pub operator: OperatorClaim,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the product's
    /// metrics (`crate::metrics`; default `CustomDomains`).
    pub metrics_namespace: String,
    /// `PLATFORM_DOMAINS`: the platform's own domains (comma-separated); no
    /// tenant may claim them or any name under them.
    pub platform_domains: Vec<String>,
    /// `ACM_RECORDS_WAIT_MS`: how long a request waits for ACM to publish the
    /// validation records (default 5000 ms).
    pub acm_records_wait: Duration,
    /// When certificates renew and how failed renewals back off (see
    /// `domain::renewal`): `RENEWAL_FRACTION` (default 0.667),
    /// `RENEWAL_EMERGENCY_MARGIN_HOURS` (168), `RENEWAL_DNS_LEAD_DAYS` (30),
    /// `RENEWAL_RETRY_BASE_SECONDS` (3600), `RENEWAL_RETRY_CAP_SECONDS`
    /// (86400), `RENEWAL_MAX_ATTEMPTS` (12), `RENEWAL_DNS_RECHECK_SECONDS`
    /// (3600). Durations in seconds may have a fraction.
    pub renewal: RenewalPolicy,
    /// `SWEEP_TIME_BUDGET_MS`: how long one run of the renewal sweep works
    /// before it stops and leaves the rest to the next run (default 240 s,
    /// under the function's 300 s timeout).
    pub sweep_budget: Duration,
    /// `SWEEP_CONCURRENCY`: renewals one sweep drives at once (default 8).
    pub sweep_concurrency: usize,
    /// `SWEEP_MAX_HOSTNAMES`: due hostnames one sweep takes on (default 500).
    pub sweep_max_hostnames: usize,
    /// `_acme-challenge` delegation, when `DELEGATION_ZONE` is set.
    pub delegation: Option<Delegation>,
    /// `EVENT_BUS_NAME`: the EventBridge bus the product's events go to
    /// (default `default`; see `adapters::events`).
    pub event_bus: String,
    /// `TENANT_NEW_ORDERS_PER_HOUR`: ACME orders (every one placed for the
    /// tenant, a name's order again after a failed one included; not
    /// renewals) or ACM requests one tenant may start in any hour (default 30; 0 for no
    /// limit). One ACME account and one ACM quota serve every tenant: this
    /// keeps one tenant from spending Let's Encrypt's 300 new orders per
    /// 3 hours, or the ACM quota, for all the others.
    pub tenant_new_orders_per_hour: u32,
    /// `TENANT_PENDING_HOSTNAMES`: hostnames one tenant may have awaiting
    /// validation at a time (first orders and ACM requests not yet served;
    /// default 50, 0 for no limit). Each holds pending authorizations on the
    /// shared ACME account, or a certificate of the shared ACM quota.
    pub tenant_pending_hostnames: u32,
    /// `CERTIFICATE_MAX_NAMES`: names one certificate on an organisation's
    /// own distribution may cover (default 10, ACM's default quota for an
    /// imported certificate's names; at most 50: a promotion writes every
    /// name's record and ends its reference in one DynamoDB transaction, of
    /// at most 100 items; Let's Encrypt allows 100 names).
    pub certificate_max_names: usize,
    /// `DRIFT_CHECK_INTERVAL_HOURS`: how often `drift-check` resolves a
    /// live hostname that points at its edge (default 24; one that does not
    /// is checked hourly).
    pub drift_check_interval: Duration,
    /// `DRIFT_GRACE_HOURS`: how long a hostname that pointed at its edge
    /// may point elsewhere before it is detached (default 168: 7 days).
    pub drift_grace: Duration,
    /// `UNPROVEN_CLAIM_EXPIRY_HOURS`: how long a claim whose tenant never
    /// proved control by DNS blocks other tenants (default 168: 7 days).
    pub unproven_claim_expiry: Duration,
}

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| {
            get(name).ok_or(ConfigError {
                variable: name,
                problem: "is not set".into(),
            })
        };
        let millis = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| ConfigError {
                        variable: name,
                        problem: format!("expected a whole number of milliseconds, got {v:?}"),
                    }),
            }
        };
        let resolvers = match get("DNS_PRECHECK_RESOLVERS") {
            None => vec![
                SocketAddr::from(([1, 1, 1, 1], 53)),
                SocketAddr::from(([8, 8, 8, 8], 53)),
            ],
            Some(list) => parse_resolvers(&list).map_err(|problem| ConfigError {
                variable: "DNS_PRECHECK_RESOLVERS",
                problem,
            })?,
        };
        let allowed = match get("DNS_PRECHECK_ALLOW_ADDRESSES") {
            None => Vec::new(),
            Some(list) => parse_resolvers(&list).map_err(|problem| ConfigError {
                variable: "DNS_PRECHECK_ALLOW_ADDRESSES",
                problem,
            })?,
        };
        let caa_identities: Vec<String> = get("ACME_CAA_IDENTITIES")
            .unwrap_or_else(|| "letsencrypt.org".to_owned())
            .split(',')
            .map(|i| i.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|i| !i.is_empty())
            .collect();
        let number =
            |name: &'static str, default: f64, min: f64, max: f64| -> Result<f64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => v
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n >= min && *n <= max)
                        .ok_or(ConfigError {
                            variable: name,
                            problem: format!("expected a number from {min} to {max}, got {v:?}"),
                        }),
                }
            };
        let seconds = |name: &'static str, default: f64| {
            number(name, default, 0.0, 1e9).map(Duration::from_secs_f64)
        };
        let renewal = RenewalPolicy {
            fraction: number("RENEWAL_FRACTION", 2.0 / 3.0, 0.01, 1.0)?,
            emergency_margin: seconds("RENEWAL_EMERGENCY_MARGIN_HOURS", 168.0)? * 3600,
            dns_lead: seconds("RENEWAL_DNS_LEAD_DAYS", 30.0)? * 86400,
            retry_base: seconds("RENEWAL_RETRY_BASE_SECONDS", 3600.0)?,
            retry_cap: seconds("RENEWAL_RETRY_CAP_SECONDS", 86400.0)?,
            max_attempts: number("RENEWAL_MAX_ATTEMPTS", 12.0, 1.0, 1000.0)? as u32,
            dns_recheck: seconds("RENEWAL_DNS_RECHECK_SECONDS", 3600.0)?,
        };
        let delegation = match get("DELEGATION_ZONE") {
            None => None,
            Some(zone) => {
                let zone = zone.trim_end_matches('.').to_ascii_lowercase();
                let provider = match get("DELEGATION_PROVIDER").as_deref() {
                    Some("route53") | None => DelegationProvider::Route53 {
                        hosted_zone_id: required("ROUTE53_HOSTED_ZONE_ID")?,
                    },
                    Some("rfc2136") => {
                        let server = required("RFC2136_SERVER")?;
                        let secret = match get("RFC2136_TSIG_SECRET_ARN") {
                            Some(secret_id) => TsigSecret::SecretsManager { secret_id },
                            None => {
                                let text = get("RFC2136_TSIG_SECRET").ok_or(ConfigError {
                                    variable: "RFC2136_TSIG_SECRET_ARN",
                                    problem: "is required by rfc2136 (or, locally, \
                                              RFC2136_TSIG_SECRET)"
                                        .into(),
                                })?;
                                TsigSecret::Inline(decode_tsig_secret(&text).ok_or(
                                    ConfigError {
                                        variable: "RFC2136_TSIG_SECRET",
                                        problem: "is not base64".into(),
                                    },
                                )?)
                            }
                        };
                        DelegationProvider::Rfc2136 {
                            server: server.parse().map_err(|_| ConfigError {
                                variable: "RFC2136_SERVER",
                                problem: format!("{server:?} is not an ip:port"),
                            })?,
                            key_name: required("RFC2136_TSIG_KEY_NAME")?,
                            secret,
                        }
                    }
                    Some(other) => {
                        return Err(ConfigError {
                            variable: "DELEGATION_PROVIDER",
                            problem: format!("expected route53 or rfc2136, got {other:?}"),
                        })
                    }
                };
                Some(Delegation {
                    zone,
                    provider,
                    wait: millis("DELEGATION_WAIT_MS", 10_000)?,
                })
            }
        };
        let directory =
            get("ACME_DIRECTORY_URL").unwrap_or_else(|| LETS_ENCRYPT_PRODUCTION.to_owned());
        let defaults = if directory.contains(".api.letsencrypt.org/") {
            AcmeLimits::LETS_ENCRYPT
        } else {
            AcmeLimits::NONE
        };
        let limit =
            |name: &'static str, default: Option<u32>| -> Result<Option<u32>, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) if v.eq_ignore_ascii_case("none") => Ok(None),
                    Some(v) => v.parse::<u32>().map(Some).map_err(|_| ConfigError {
                        variable: name,
                        problem: format!("expected a whole number or `none`, got {v:?}"),
                    }),
                }
            };
        let acme_limits = AcmeLimits {
            new_orders: limit("ACME_LIMIT_NEW_ORDERS", defaults.new_orders)?,
            certificates_per_domain: limit(
                "ACME_LIMIT_CERTIFICATES_PER_DOMAIN",
                defaults.certificates_per_domain,
            )?,
            duplicates: limit("ACME_LIMIT_DUPLICATES", defaults.duplicates)?,
            failed_validations: limit(
                "ACME_LIMIT_FAILED_VALIDATIONS",
                defaults.failed_validations,
            )?,
        };
        let default_certificate = match get("DEFAULT_CERTIFICATE").as_deref() {
            None | Some("acme") => CertificateKind::Acme,
            Some("managed") => CertificateKind::Managed,
            Some(other) => {
                return Err(ConfigError {
                    variable: "DEFAULT_CERTIFICATE",
                    problem: format!("expected acme or managed, got {other:?}"),
                })
            }
        };
        let managed_validation_token_host = match get("MANAGED_VALIDATION_TOKEN_HOST").as_deref() {
            None | Some("cloudfront") => "cloudfront".to_owned(),
            Some("self-hosted") => "self-hosted".to_owned(),
            Some(other) => {
                return Err(ConfigError {
                    variable: "MANAGED_VALIDATION_TOKEN_HOST",
                    problem: format!("expected cloudfront or self-hosted, got {other:?}"),
                })
            }
        };
        let handoff_to_managed = match get("HANDOFF_TO_MANAGED").as_deref() {
            None => default_certificate == CertificateKind::Managed,
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => {
                return Err(ConfigError {
                    variable: "HANDOFF_TO_MANAGED",
                    problem: format!("expected true or false, got {other:?}"),
                })
            }
        };
        let defaults = crate::domain::quota::QuotaLimits::AWS_DEFAULTS;
        let quota = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            number(name, default as f64, 0.0, 1e9).map(|n| n as u64)
        };
        let quota_limits = crate::domain::quota::QuotaLimits {
            acm_imported_certificates: quota(
                "QUOTA_ACM_IMPORTED_CERTIFICATES",
                defaults.acm_imported_certificates,
            )?,
            acm_imports_365d: quota("QUOTA_ACM_IMPORTS_365D", defaults.acm_imports_365d)?,
            acm_issued_certificates: quota(
                "QUOTA_ACM_ISSUED_CERTIFICATES",
                defaults.acm_issued_certificates,
            )?,
            distribution_tenants: quota(
                "QUOTA_DISTRIBUTION_TENANTS",
                defaults.distribution_tenants,
            )?,
            api_gateway_custom_domains: quota(
                "QUOTA_API_GATEWAY_CUSTOM_DOMAINS",
                defaults.api_gateway_custom_domains,
            )?,
            count_reimports: match get("QUOTA_COUNT_REIMPORTS").as_deref() {
                None | Some("true" | "1") => true,
                Some("false" | "0") => false,
                Some(other) => {
                    return Err(ConfigError {
                        variable: "QUOTA_COUNT_REIMPORTS",
                        problem: format!("expected true or false, got {other:?}"),
                    })
                }
            },
        };
        let acme_profile = match get("ACME_PROFILE").as_deref() {
            None => None,
            Some(p @ ("classic" | "tlsserver" | "shortlived")) => Some(p.to_owned()),
            Some(other) => {
                return Err(ConfigError {
                    variable: "ACME_PROFILE",
                    problem: format!("expected classic, tlsserver or shortlived, got {other:?}"),
                })
            }
        };
        let handoff_delegated = match get("HANDOFF_DELEGATED").as_deref() {
            None | Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => {
                return Err(ConfigError {
                    variable: "HANDOFF_DELEGATED",
                    problem: format!("expected true or false, got {other:?}"),
                })
            }
        };
        Ok(Self {
            handoff_delegated,
            quota_limits,
            acme_profile,
            default_certificate,
            managed_validation_token_host,
            handoff_to_managed,
            acme_limits,
            dns_precheck_allow: allowed,
            acme_caa_identities: caa_identities,
            unproven_claim_expiry: seconds("UNPROVEN_CLAIM_EXPIRY_HOURS", 168.0)? * 3600,
            drift_check_interval: seconds("DRIFT_CHECK_INTERVAL_HOURS", 24.0)? * 3600,
            drift_grace: seconds("DRIFT_GRACE_HOURS", 168.0)? * 3600,
            tenant_pending_hostnames: number("TENANT_PENDING_HOSTNAMES", 50.0, 0.0, 1e6)? as u32,
            certificate_max_names: number("CERTIFICATE_MAX_NAMES", 10.0, 1.0, 50.0)? as usize,
            tenant_new_orders_per_hour: number("TENANT_NEW_ORDERS_PER_HOUR", 30.0, 0.0, 1e6)?
                as u32,
            event_bus: get("EVENT_BUS_NAME").unwrap_or_else(|| "default".to_owned()),
            delegation,
            renewal,
            sweep_budget: millis("SWEEP_TIME_BUDGET_MS", 240_000)?,
            sweep_concurrency: number("SWEEP_CONCURRENCY", 8.0, 1.0, 64.0)? as usize,
            sweep_max_hostnames: number("SWEEP_MAX_HOSTNAMES", 500.0, 1.0, 100_000.0)? as usize,
            aws_region: required("AWS_REGION")?,
            table_name: required("DYNAMODB_TABLE")?,
            stack_name: get("STACK_NAME").unwrap_or_else(|| DEFAULT_STACK_NAME.to_owned()),
            default_distribution_id: get("CLOUDFRONT_DISTRIBUTION_ID"),
            multi_tenant_distribution_id: get("CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID")
                .filter(|v| !v.is_empty()),
            connection_group_id: get("CLOUDFRONT_CONNECTION_GROUP_ID").filter(|v| !v.is_empty()),
            cloudfront_endpoint: get("AWS_ENDPOINT_URL_CLOUDFRONT").filter(|v| !v.is_empty()),
            acme_directory_url: get("ACME_DIRECTORY_URL")
                .unwrap_or_else(|| LETS_ENCRYPT_PRODUCTION.to_owned()),
            acme_contact_email: get("ACME_CONTACT_EMAIL"),
            acme_ca_bundle: get("ACME_CA_BUNDLE"),
            dns_precheck_resolvers: resolvers,
            kms_key_id: required("KMS_KEY_ID")?,
            time_budget: millis("COMPLETE_TIME_BUDGET_MS", 20_000)?,
            aws_attempt_timeout: millis("AWS_ATTEMPT_TIMEOUT_MS", 4_000)?,
            aws_operation_timeout: millis("AWS_OPERATION_TIMEOUT_MS", 10_000)?,
            lease_grace: millis("LEASE_GRACE_MS", 60_000)?,
            acme_poll_interval: millis("ACME_POLL_INTERVAL_MS", 250)?,
            api_gateway_id: get("API_GATEWAY_ID"),
            api_gateway_stage: get("API_GATEWAY_STAGE").unwrap_or_else(|| "$default".to_owned()),
            acm_records_wait: millis("ACM_RECORDS_WAIT_MS", 5_000)?,
            tenant_claim: get("TENANT_CLAIM").unwrap_or_else(|| "tenant_id".to_owned()),
            operator: OperatorClaim {
                claim: get("OPERATOR_CLAIM").unwrap_or_else(|| "custom_domains_role".to_owned()),
                value: get("OPERATOR_CLAIM_VALUE").unwrap_or_else(|| "operator".to_owned()),
            },
            metrics_namespace: get("METRICS_NAMESPACE")
                .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned()),
            platform_domains: get("PLATFORM_DOMAINS")
                .map(|list| {
                    list.split(',')
                        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                        .filter(|d| !d.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

fn parse_resolvers(list: &str) -> Result<Vec<SocketAddr>, String> {
    let parsed: Result<Vec<SocketAddr>, String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| format!("{s:?} is not an ip:port"))
        })
        .collect();
    match parsed {
        Ok(v) if v.is_empty() => Err("lists no resolver".into()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("AWS_REGION", "eu-west-1"),
        ("DYNAMODB_TABLE", "t"),
        ("KMS_KEY_ID", "k"),
    ];

    #[test]
    fn defaults_apply() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.acme_directory_url, LETS_ENCRYPT_PRODUCTION);
        assert_eq!(c.dns_precheck_resolvers.len(), 2);
        assert_eq!(c.time_budget, Duration::from_secs(20));
    }

    #[test]
    fn the_cas_limits_default_to_its_published_values() {
        assert_eq!(config(&BASE).unwrap().acme_limits, AcmeLimits::LETS_ENCRYPT);
        let mut local = BASE.to_vec();
        local.push(("ACME_DIRECTORY_URL", "https://127.0.0.1:14000/dir"));
        assert_eq!(config(&local).unwrap().acme_limits, AcmeLimits::NONE);
        local.push(("ACME_LIMIT_NEW_ORDERS", "3"));
        assert_eq!(config(&local).unwrap().acme_limits.new_orders, Some(3));
        let mut off = BASE.to_vec();
        off.push(("ACME_LIMIT_DUPLICATES", "none"));
        assert_eq!(config(&off).unwrap().acme_limits.duplicates, None);
        off.push(("ACME_LIMIT_FAILED_VALIDATIONS", "many"));
        assert_eq!(
            config(&off).unwrap_err().variable,
            "ACME_LIMIT_FAILED_VALIDATIONS"
        );
    }

    #[test]
    fn missing_variable_is_named() {
        let err = config(&BASE[..1]).unwrap_err();
        assert_eq!(err.variable, "DYNAMODB_TABLE");
    }

    #[test]
    fn resolvers_parse_with_and_without_port() {
        let mut vars = BASE.to_vec();
        vars.push(("DNS_PRECHECK_RESOLVERS", "127.0.0.1:8053, 9.9.9.9"));
        let c = config(&vars).unwrap();
        assert_eq!(c.dns_precheck_resolvers[0].port(), 8053);
        assert_eq!(c.dns_precheck_resolvers[1].port(), 53);
        vars.push(("DNS_PRECHECK_RESOLVERS", "nonsense"));
        let err = config(&vars).unwrap_err();
        assert_eq!(err.variable, "DNS_PRECHECK_RESOLVERS");
    }
}
