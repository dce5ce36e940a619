//! CloudFront: putting a hostname and its certificate on a distribution, and
//! taking it off again; or, on the shared edge, giving it a distribution
//! tenant of its own on a multi-tenant distribution (CloudFront SaaS
//! Manager), whose certificate customization is the hostname's certificate.
//!
//! A distribution has one viewer certificate, which must cover every alias
//! on it. Attaching is a read-modify-write of the whole distribution config,
//! guarded by its ETag (`IfMatch`); a concurrent writer makes CloudFront
//! answer `PreconditionFailed`, and the attach starts over from a fresh read.

use aws_sdk_cloudfront::types::{
    Aliases, DistributionConfig, MinimumProtocolVersion, SslSupportMethod, ViewerCertificate,
};

use std::time::Duration;

use crate::domain::DomainName;
use crate::error::{Code, Error, Service};

const ATTEMPTS: usize = 5;

/// How long a change CloudFront cannot take yet is waited for inside one
/// call (before jitter, ×0.5–1.5; about 8 s in all, and never past the
/// call's time budget) before the caller is told [`Outcome::NotYet`].
const NOT_YET_WAITS: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(2),
    Duration::from_secs(2),
];

/// A change CloudFront cannot take yet, though it will: the caller keeps
/// its progress and a later call makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotYet {
    /// The distribution's previous viewer-certificate change is still
    /// deploying: CloudFront takes one at a time (`IllegalUpdate`).
    CertificateChangeDeploying,
    /// The certificate was imported moments ago and CloudFront does not
    /// see it yet (`InvalidViewerCertificate`, eventual consistency between
    /// ACM and CloudFront).
    CertificateNotVisible,
}

impl NotYet {
    pub fn reason(self) -> &'static str {
        match self {
            NotYet::CertificateChangeDeploying => {
                "CloudFront is still deploying the distribution's previous certificate change"
            }
            NotYet::CertificateNotVisible => {
                "CloudFront does not see the certificate imported moments ago yet"
            }
        }
    }
}

/// What a change to CloudFront came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    NotYet(NotYet),
}

/// Where a distribution's or tenant's last change stands: CloudFront
/// serves it everywhere only once `Deployed` (within minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deployment {
    Deploying,
    Deployed,
}

impl Deployment {
    fn of(status: Option<&str>) -> Self {
        match status {
            Some("Deployed") | None => Deployment::Deployed,
            Some(_) => Deployment::Deploying,
        }
    }
}

/// Waits for the next of `waits` (jittered); `None` when none is left, or
/// when it would end past `until` (the caller's time budget).
async fn wait_next(
    waits: &mut std::slice::Iter<'_, Duration>,
    until: tokio::time::Instant,
) -> Option<()> {
    let wait = waits.next()?.mul_f64(0.5 + crate::random::random_unit());
    if tokio::time::Instant::now() + wait > until {
        return None;
    }
    tokio::time::sleep(wait).await;
    Some(())
}

#[derive(Clone, Debug)]
pub struct Distributions {
    client: super::lazy::Lazy<aws_sdk_cloudfront::Client>,
    /// The quota ledger the distribution tenants count in (`counted_in`).
    ledger: super::store::Counted,
    /// The account's default connection group's routing endpoint, once
    /// read (it does not change while a container lives; until CloudFront
    /// has made the group, with the account's first tenant, it is asked
    /// again).
    default_endpoint: std::sync::Arc<std::sync::OnceLock<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    /// The distribution changed.
    Updated,
    /// Nothing to change (already attached, or already detached).
    AlreadyInPlace,
}

/// What a tenant write changes: the certificate it serves, or a new
/// managed-certificate request (its certificate left as it is).
#[derive(Clone, Copy, Debug)]
enum TenantChange<'a> {
    Certificate(&'a str),
    ManagedCertificate(&'a str),
}

/// A managed certificate as CloudFront reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedDetails {
    /// `pending-validation`, `issued`, `validation-timed-out`, `failed`,
    /// `revoked`, `expired` or `inactive`.
    pub status: String,
    pub certificate_arn: Option<String>,
}

/// A distribution tenant serving a hostname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantAttached {
    pub tenant_id: String,
    /// The connection group's routing endpoint: the hostname's DNS target.
    pub routing_endpoint: Option<String>,
}

fn distribution_missing(distribution_id: &str) -> Error {
    Error::conflict(
        Code::DistributionNotFound,
        format!("the CloudFront distribution {distribution_id} configured for this organisation does not exist"),
    )
}

/// The longest distribution tenant `Name` CloudFront takes: its pattern is
/// `[a-zA-Z0-9][a-zA-Z0-9-.]{1,126}[a-zA-Z0-9]` (the API's model of
/// `CreateDistributionTenant`).
pub const TENANT_NAME_MAX: usize = 128;

/// The distribution tenant's name for `domain`: the hostname itself when
/// CloudFront's pattern takes it; otherwise (longer than 128 characters,
/// or a wildcard) a deterministic name: what the pattern allows of the
/// hostname's start, then `-` and 16 hex digits of its SHA-256, so that two
/// long hostnames sharing a start never share a name.
pub fn tenant_name(domain: &DomainName) -> String {
    let name = domain.as_str();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let fits = name.len() <= TENANT_NAME_MAX
        && name.len() >= 3
        && name.chars().all(allowed)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if fits {
        return name.to_owned();
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let hash: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let keep = TENANT_NAME_MAX - 1 - hash.len();
    let start: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { 'x' })
        .take(keep)
        .collect();
    let start = start
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    match start.is_empty() {
        true => format!("t-{hash}"),
        false => format!("{start}-{hash}"),
    }
}

fn cname_taken(domain: &DomainName) -> Error {
    Error::conflict(
        Code::CnameAlreadyExists,
        format!("{domain} is already served by another CloudFront distribution or distribution tenant; it must be removed there first"),
    )
}

fn upstream(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::upstream(Service::CloudFront, e)
}

impl Distributions {
    pub fn new(client: impl Into<super::lazy::Lazy<aws_sdk_cloudfront::Client>>) -> Self {
        Self {
            client: client.into(),
            ledger: Default::default(),
            default_endpoint: Default::default(),
        }
    }

    /// Counts the distribution tenants made and deleted in the quota ledger.
    pub fn counted_in(mut self, store: super::store::Store) -> Self {
        let quota = crate::domain::quota::Quota::DistributionTenants;
        self.ledger = super::store::Counted::new(store, quota);
        self
    }

    /// Adds `domain` to the distribution's aliases and makes `certificate_arn`
    /// (covering `certificate_names`) its viewer certificate, keeping the
    /// rest of the configuration. Refuses, changing nothing, when another
    /// alias on the distribution would be left without a valid certificate.
    ///
    /// `settling`: the certificate was imported moments ago, so CloudFront
    /// refusing it (`InvalidViewerCertificate`) is waited out as
    /// [`NotYet::CertificateNotVisible`]; later, the refusal is final
    /// (`409 certificate_not_accepted`). Answers the distribution's domain
    /// name when it changed.
    pub async fn attach(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        certificate_arn: &str,
        certificate_names: &[String],
        settling: bool,
        until: tokio::time::Instant,
    ) -> Result<Outcome<Option<String>>, Error> {
        let modified = self.modify(distribution_id, settling, until, |config| {
            let mut aliases = aliases_of(config);
            let current_arn = config
                .viewer_certificate
                .as_ref()
                .and_then(|v| v.acm_certificate_arn.clone());
            if aliases.iter().any(|a| a == domain.as_str())
                && current_arn.as_deref() == Some(certificate_arn)
            {
                return Ok(false);
            }
            let uncovered: Vec<&String> = aliases
                .iter()
                .filter(|a| a.as_str() != domain.as_str() && !covers(certificate_names, a))
                .collect();
            if !uncovered.is_empty() {
                return Err(Error::conflict(
                    Code::DistributionHasOtherHostnames,
                    format!(
                        "distribution {distribution_id} also serves {}, which the new certificate for {domain} does not cover; \
                         a distribution has one certificate, so give this organisation its own distribution",
                        uncovered.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if !aliases.iter().any(|a| a == domain.as_str()) {
                aliases.push(domain.to_string());
            }
            set_aliases(config, aliases)?;
            config.viewer_certificate = Some(
                ViewerCertificate::builder()
                    .acm_certificate_arn(certificate_arn)
                    .ssl_support_method(SslSupportMethod::SniOnly)
                    .minimum_protocol_version(MinimumProtocolVersion::TlSv122021)
                    .cloud_front_default_certificate(false)
                    .build(),
            );
            Ok(true)
        })
        .await?;
        Ok(match modified {
            Outcome::Done((_, domain_name)) => Outcome::Done(domain_name),
            Outcome::NotYet(why) => Outcome::NotYet(why),
        })
    }

    /// Takes `domain` off the distribution's aliases, keeping the others and
    /// the rest of the configuration. When `certificate_arn` is the viewer
    /// certificate and no alias is left, the distribution goes back to
    /// CloudFront's default certificate, so the ACM certificate is no
    /// longer in use and can be deleted. A distribution that is gone has
    /// nothing to detach.
    pub async fn detach(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        certificate_arn: &str,
        until: tokio::time::Instant,
    ) -> Result<Outcome<Attached>, Error> {
        let result = self
            .modify(distribution_id, false, until, |config| {
                let aliases = aliases_of(config);
                let uses_certificate = config
                    .viewer_certificate
                    .as_ref()
                    .and_then(|v| v.acm_certificate_arn.as_deref())
                    == Some(certificate_arn);
                let kept: Vec<String> = aliases
                    .iter()
                    .filter(|a| a.as_str() != domain.as_str())
                    .cloned()
                    .collect();
                if kept.len() == aliases.len() && !(uses_certificate && kept.is_empty()) {
                    return Ok(false);
                }
                if uses_certificate && kept.is_empty() {
                    config.viewer_certificate = Some(
                        ViewerCertificate::builder()
                            .cloud_front_default_certificate(true)
                            .build(),
                    );
                }
                set_aliases(config, kept)?;
                Ok(true)
            })
            .await;
        match result {
            Err(Error::Conflict {
                code: Code::DistributionNotFound,
                ..
            }) => Ok(Outcome::Done(Attached::AlreadyInPlace)),
            Ok(Outcome::Done((attached, _))) => Ok(Outcome::Done(attached)),
            Ok(Outcome::NotYet(why)) => Ok(Outcome::NotYet(why)),
            Err(e) => Err(e),
        }
    }

    /// Serves `domain` with `certificate_arn` as a distribution tenant of the
    /// multi-tenant distribution `distribution_id` (CloudFront SaaS
    /// Manager): creates the tenant, or brings an existing one of this
    /// distribution to that certificate, enabled (ETag-guarded). Answers the
    /// tenant's ID and the routing endpoint of its connection group, where
    /// the hostname must point. Safe to repeat: the tenant is found by its
    /// domain first.
    pub async fn attach_tenant(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        certificate_arn: &str,
        connection_group: Option<&str>,
    ) -> Result<TenantAttached, Error> {
        let change = TenantChange::Certificate(certificate_arn);
        self.put_tenant(distribution_id, domain, connection_group, change)
            .await
    }

    /// Asks CloudFront for a managed certificate for `domain` on its
    /// distribution tenant of `distribution_id` (`ManagedCertificateRequest`,
    /// its HTTP validation token served by `token_host`): creates the
    /// tenant with the request, or sends the request to the existing
    /// tenant keeping everything else, its certificate customization
    /// included (a hand-off's imported certificate serves on until the
    /// managed one is attached, `attach_tenant`). Answers the tenant's ID
    /// and the routing endpoint. Each call is a new request.
    pub async fn request_managed(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        connection_group: Option<&str>,
        token_host: &str,
    ) -> Result<TenantAttached, Error> {
        let change = TenantChange::ManagedCertificate(token_host);
        self.put_tenant(distribution_id, domain, connection_group, change)
            .await
    }

    /// Creates `domain`'s tenant with `change`, or makes `change` to the
    /// existing one (ETag-guarded, read again after a concurrent writer).
    async fn put_tenant(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        connection_group: Option<&str>,
        change: TenantChange<'_>,
    ) -> Result<TenantAttached, Error> {
        use aws_sdk_cloudfront::types::{
            Certificate, Customizations, DomainItem, ManagedCertificateRequest, ValidationTokenHost,
        };
        let built = |e: aws_sdk_cloudfront::error::BuildError| Error::Internal(e.to_string());
        let (customizations, request) = match change {
            TenantChange::Certificate(arn) => (
                Some(
                    Customizations::builder()
                        .certificate(Certificate::builder().arn(arn).build().map_err(built)?)
                        .build(),
                ),
                None,
            ),
            TenantChange::ManagedCertificate(token_host) => (
                None,
                Some(
                    ManagedCertificateRequest::builder()
                        .validation_token_host(ValidationTokenHost::from(token_host))
                        .primary_domain_name(domain.as_str())
                        .build()
                        .map_err(built)?,
                ),
            ),
        };
        let item = DomainItem::builder()
            .domain(domain.as_str())
            .build()
            .map_err(built)?;
        for attempt in 1..=ATTEMPTS {
            let tenant = match self.tenant_by_domain(domain).await? {
                None => {
                    let created = self
                        .client
                        .create_distribution_tenant()
                        .distribution_id(distribution_id)
                        .name(tenant_name(domain))
                        .domains(item.clone())
                        .set_customizations(customizations.clone())
                        .set_managed_certificate_request(request.clone())
                        .set_connection_group_id(connection_group.map(str::to_owned))
                        .enabled(true)
                        .send()
                        .await;
                    match created {
                        Ok(out) => {
                            self.ledger.count(1).await;
                            out.distribution_tenant
                        }
                        Err(e) => match e.as_service_error() {
                            Some(se) if se.is_cname_already_exists() => {
                                return Err(cname_taken(domain))
                            }
                            // Created by a call whose answer was lost, or
                            // a concurrent one: found by domain next time.
                            Some(se) if se.is_entity_already_exists() => continue,
                            Some(se) if se.is_entity_limit_exceeded() => {
                                return Err(Error::conflict(
                                    Code::EdgeFull,
                                    format!("the multi-tenant distribution {distribution_id} has as many distribution tenants as CloudFront allows; the platform must raise the quota or add a distribution"),
                                ))
                            }
                            _ => return Err(upstream(aws_sdk_cloudfront::Error::from(e))),
                        },
                    }
                }
                Some((tenant, etag)) => {
                    if tenant.distribution_id() != Some(distribution_id) {
                        return Err(cname_taken(domain));
                    }
                    let current = tenant
                        .customizations()
                        .and_then(|c| c.certificate())
                        .map(|c| c.arn());
                    let in_place = match change {
                        TenantChange::Certificate(arn) => {
                            current == Some(arn) && tenant.enabled() == Some(true)
                        }
                        // Each request is a new one.
                        TenantChange::ManagedCertificate(_) => false,
                    };
                    if in_place {
                        Some(tenant)
                    } else {
                        let updated = self
                            .client
                            .update_distribution_tenant()
                            .id(tenant.id().unwrap_or_default())
                            .set_if_match(etag)
                            .distribution_id(distribution_id)
                            .domains(item.clone())
                            // A managed request keeps the tenant's own.
                            .set_customizations(
                                customizations
                                    .clone()
                                    .or_else(|| tenant.customizations().cloned()),
                            )
                            .set_managed_certificate_request(request.clone())
                            .set_connection_group_id(
                                tenant.connection_group_id().map(str::to_owned),
                            )
                            .enabled(true)
                            .send()
                            .await;
                        match updated {
                            Ok(out) => out.distribution_tenant,
                            Err(e)
                                if e.as_service_error().is_some_and(|se| {
                                    se.is_precondition_failed() || se.is_invalid_if_match_version()
                                }) =>
                            {
                                tracing::info!(attempt, %domain, "distribution tenant changed under us; reading it again");
                                continue;
                            }
                            Err(e) => return Err(upstream(aws_sdk_cloudfront::Error::from(e))),
                        }
                    }
                }
            };
            let tenant = tenant.ok_or_else(|| {
                Error::upstream(Service::CloudFront, "no distribution tenant in the answer")
            })?;
            let routing_endpoint = match tenant.connection_group_id() {
                Some(group) => self.routing_endpoint(group).await?,
                None => None,
            };
            return Ok(TenantAttached {
                tenant_id: tenant.id().unwrap_or_default().to_owned(),
                routing_endpoint,
            });
        }
        Err(Error::conflict(
            Code::DistributionBusy,
            format!("the distribution tenant for {domain} kept changing; try again"),
        ))
    }

    /// The managed certificate of the distribution tenant `tenant_id`
    /// (`GetManagedCertificateDetails`): CloudFront's `CertificateStatus`
    /// and the certificate's ARN; `None` when the tenant has none (or is
    /// gone).
    pub async fn managed_certificate(
        &self,
        tenant_id: &str,
    ) -> Result<Option<ManagedDetails>, Error> {
        match self
            .client
            .get_managed_certificate_details()
            .identifier(tenant_id)
            .send()
            .await
        {
            Ok(out) => Ok(out.managed_certificate_details.and_then(|d| {
                let status = d.certificate_status()?.as_str().to_owned();
                Some(ManagedDetails {
                    status,
                    certificate_arn: d.certificate_arn().map(str::to_owned),
                })
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_entity_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(upstream(aws_sdk_cloudfront::Error::from(e))),
        }
    }

    /// Takes `domain`'s distribution tenant off CloudFront: disabled first
    /// (ETag-guarded), deleted once CloudFront reports it deployed. Answers
    /// `false` while it still has to wait (call again); `true` once gone.
    /// A tenant for the name on another distribution is not this
    /// hostname's, and is left alone.
    pub async fn detach_tenant(
        &self,
        distribution_id: &str,
        domain: &DomainName,
    ) -> Result<bool, Error> {
        for _ in 1..=ATTEMPTS {
            let Some((tenant, etag)) = self.tenant_by_domain(domain).await? else {
                return Ok(true);
            };
            if tenant.distribution_id() != Some(distribution_id) {
                return Ok(true);
            }
            let id = tenant.id().unwrap_or_default().to_owned();
            if tenant.enabled() != Some(false) {
                let disabled = self
                    .client
                    .update_distribution_tenant()
                    .id(&id)
                    .set_if_match(etag)
                    .set_distribution_id(tenant.distribution_id().map(str::to_owned))
                    .set_domains(Some(
                        tenant
                            .domains()
                            .iter()
                            .filter_map(|d| {
                                aws_sdk_cloudfront::types::DomainItem::builder()
                                    .domain(d.domain())
                                    .build()
                                    .ok()
                            })
                            .collect(),
                    ))
                    .set_customizations(tenant.customizations().cloned())
                    .set_connection_group_id(tenant.connection_group_id().map(str::to_owned))
                    .enabled(false)
                    .send()
                    .await;
                match disabled {
                    Ok(_) => continue,
                    Err(e)
                        if e.as_service_error().is_some_and(|se| {
                            se.is_precondition_failed() || se.is_invalid_if_match_version()
                        }) =>
                    {
                        continue
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|se| se.is_entity_not_found()) =>
                    {
                        return Ok(true)
                    }
                    Err(e) => return Err(upstream(aws_sdk_cloudfront::Error::from(e))),
                }
            }
            if tenant.status().is_some_and(|s| s != "Deployed") {
                return Ok(false);
            }
            let deleted = self
                .client
                .delete_distribution_tenant()
                .id(&id)
                .set_if_match(etag)
                .send()
                .await;
            match deleted {
                Ok(_) => {
                    self.ledger.count(-1).await;
                    return Ok(true);
                }
                Err(e) => match e.as_service_error() {
                    Some(se) if se.is_entity_not_found() => return Ok(true),
                    Some(se) if se.is_precondition_failed() || se.is_invalid_if_match_version() => {
                        continue
                    }
                    // Disabling not deployed yet.
                    Some(se) if se.is_resource_not_disabled() => return Ok(false),
                    _ => return Err(upstream(aws_sdk_cloudfront::Error::from(e))),
                },
            }
        }
        Ok(false)
    }

    /// The distribution tenant whose domain is `domain`, with its ETag.
    async fn tenant_by_domain(
        &self,
        domain: &DomainName,
    ) -> Result<
        Option<(
            aws_sdk_cloudfront::types::DistributionTenant,
            Option<String>,
        )>,
        Error,
    > {
        match self
            .client
            .get_distribution_tenant_by_domain()
            .domain(domain.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(out.distribution_tenant.map(|t| (t, out.e_tag))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_entity_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(upstream(aws_sdk_cloudfront::Error::from(e))),
        }
    }

    /// Where a tenant's hostname must point: the routing endpoint of
    /// `connection_group`, or of the account's default connection group
    /// (`ListConnectionGroups`, `IsDefault`) when none is configured.
    pub async fn dns_target(
        &self,
        connection_group: Option<&str>,
    ) -> Result<Option<String>, Error> {
        if let Some(group) = connection_group {
            return self.routing_endpoint(group).await;
        }
        if let Some(known) = self.default_endpoint.get() {
            return Ok(Some(known.clone()));
        }
        let found = self.default_routing_endpoint().await?;
        if let Some(endpoint) = &found {
            let _ = self.default_endpoint.set(endpoint.clone());
        }
        Ok(found)
    }

    /// The default connection group's routing endpoint
    /// (`ListConnectionGroups`, `IsDefault`), if the account has one yet.
    async fn default_routing_endpoint(&self) -> Result<Option<String>, Error> {
        let mut marker = None;
        loop {
            let out = self
                .client
                .list_connection_groups()
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| upstream(aws_sdk_cloudfront::Error::from(e)))?;
            if let Some(default) = out
                .connection_groups()
                .iter()
                .find(|g| g.is_default() == Some(true))
            {
                let endpoint = default.routing_endpoint().trim_end_matches('.');
                return Ok(Some(endpoint.to_ascii_lowercase()).filter(|e| !e.is_empty()));
            }
            match out.next_marker {
                Some(m) if !m.is_empty() => marker = Some(m),
                _ => return Ok(None),
            }
        }
    }

    /// Where hostnames of a connection group's tenants point.
    async fn routing_endpoint(&self, connection_group: &str) -> Result<Option<String>, Error> {
        let out = self
            .client
            .get_connection_group()
            .identifier(connection_group)
            .send()
            .await
            .map_err(|e| upstream(aws_sdk_cloudfront::Error::from(e)))?;
        Ok(out
            .connection_group
            .and_then(|g| g.routing_endpoint)
            .map(|e| e.trim_end_matches('.').to_ascii_lowercase()))
    }

    /// Whether `domain` can be served on `distribution_id` (`tenant_edge`:
    /// as a distribution tenant of that multi-tenant distribution), asked
    /// before anything is ordered: the distribution exists; a classic one
    /// has no other alias (its one certificate would have to cover it); no
    /// other distribution or distribution tenant, in any account, serves the
    /// name (`ListDomainConflicts`). A refusal is the error the attach would
    /// meet later, after an issuance was spent.
    pub async fn check_servable(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        tenant_edge: bool,
        covered: &[DomainName],
        known_aliases: Option<&[String]>,
    ) -> Result<(), Error> {
        use aws_sdk_cloudfront::types::{DistributionResourceId, DistributionResourceType};
        if !tenant_edge {
            let aliases = match known_aliases {
                Some(known) => known.to_vec(),
                None => self.aliases(distribution_id).await?,
            };
            let others: Vec<String> = aliases
                .into_iter()
                .filter(|a| a != domain.as_str() && !covered.iter().any(|c| c.as_str() == a))
                .collect();
            if !others.is_empty() {
                return Err(Error::conflict(
                    Code::DistributionHasOtherHostnames,
                    format!(
                        "distribution {distribution_id} also serves {}, which a certificate for {domain} would not cover; \
                         a distribution has one certificate, so give this organisation its own distribution (or use the shared edge)",
                        others.join(", ")
                    ),
                ));
            }
        }
        let conflicts = self
            .client
            .list_domain_conflicts()
            .domain(domain.as_str())
            .domain_control_validation_resource(
                DistributionResourceId::builder()
                    .distribution_id(distribution_id)
                    .build(),
            )
            .send()
            .await;
        let conflicts = match conflicts {
            Ok(found) => found,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_entity_not_found()) =>
            {
                return Err(distribution_missing(distribution_id))
            }
            // CloudFront may decline to list conflicts for a resource with
            // no certificate covering the name yet: not knowable here, so
            // the attach's own CNAMEAlreadyExists remains the guard.
            Err(e) => {
                tracing::warn!(%domain, error = %aws_sdk_cloudfront::Error::from(e), "could not list domain conflicts; going on");
                return Ok(());
            }
        };
        for conflict in conflicts.domain_conflicts() {
            if conflict.domain() != domain.as_str() {
                continue; // a wildcard's overlap: CloudFront serves the exact name first
            }
            let ours = match conflict.resource_type() {
                DistributionResourceType::Distribution => conflict.resource_id() == distribution_id,
                // A tenant of this same distribution (an interrupted attach,
                // or release) is reused by the attach.
                DistributionResourceType::DistributionTenant => {
                    tenant_edge
                        && self
                            .tenant_by_domain(domain)
                            .await?
                            .is_some_and(|(t, _)| t.distribution_id() == Some(distribution_id))
                }
                _ => false,
            };
            if !ours {
                return Err(cname_taken(domain));
            }
        }
        Ok(())
    }

    /// The distribution's aliases (alternate domain names).
    pub async fn aliases(&self, distribution_id: &str) -> Result<Vec<String>, Error> {
        let config = self.read_config(distribution_id).await?;
        Ok(config
            .distribution_config
            .as_ref()
            .map(aliases_of)
            .unwrap_or_default())
    }

    /// The distribution's own domain name (`dxxxx.cloudfront.net`), the
    /// target its hostnames point at; `None` when it does not exist.
    pub async fn domain_name(&self, distribution_id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .distribution(distribution_id)
            .await?
            .map(|d| normalised(&d.domain_name)))
    }

    /// A distribution as `GetDistribution` reads it; `None` when it does not
    /// exist.
    async fn distribution(
        &self,
        distribution_id: &str,
    ) -> Result<Option<aws_sdk_cloudfront::types::Distribution>, Error> {
        match self
            .client
            .get_distribution()
            .id(distribution_id)
            .send()
            .await
        {
            Ok(out) => Ok(out.distribution),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_no_such_distribution()) =>
            {
                Ok(None)
            }
            Err(e) => Err(upstream(aws_sdk_cloudfront::Error::from(e))),
        }
    }

    /// A distribution's configuration and ETag; a missing distribution is
    /// `409 distribution_not_found`.
    async fn read_config(
        &self,
        distribution_id: &str,
    ) -> Result<
        aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput,
        Error,
    > {
        self.client
            .get_distribution_config()
            .id(distribution_id)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_no_such_distribution() => distribution_missing(distribution_id),
                _ => upstream(aws_sdk_cloudfront::Error::from(e)),
            })
    }

    /// One ETag-guarded read-modify-write of a distribution's configuration:
    /// `change` edits it and says whether anything changed; a concurrent
    /// writer (`PreconditionFailed`) makes it start over from a fresh read.
    /// An update answers the distribution, and with it its domain name.
    /// What CloudFront cannot take yet (see [`NotYet`]) is waited for a few
    /// seconds, then answered as such.
    async fn modify(
        &self,
        distribution_id: &str,
        settling: bool,
        until: tokio::time::Instant,
        mut change: impl FnMut(&mut DistributionConfig) -> Result<bool, Error>,
    ) -> Result<Outcome<(Attached, Option<String>)>, Error> {
        let mut waits = NOT_YET_WAITS.iter();
        let mut attempt = 0;
        while attempt < ATTEMPTS {
            attempt += 1;
            let current = self.read_config(distribution_id).await?;
            let etag = current.e_tag.clone();
            let mut config = current.distribution_config.ok_or_else(|| {
                Error::upstream(
                    Service::CloudFront,
                    "GetDistributionConfig returned no config",
                )
            })?;
            if !change(&mut config)? {
                return Ok(Outcome::Done((Attached::AlreadyInPlace, None)));
            }
            let update = self
                .client
                .update_distribution()
                .id(distribution_id)
                .set_if_match(etag)
                .distribution_config(config)
                .send()
                .await;
            let not_yet = match update {
                Ok(out) => {
                    let domain_name = out.distribution.map(|d| normalised(&d.domain_name));
                    return Ok(Outcome::Done((Attached::Updated, domain_name)));
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_precondition_failed()) =>
                {
                    tracing::info!(
                        attempt,
                        distribution_id,
                        "distribution changed under us; reading it again"
                    );
                    continue;
                }
                // Another distribution (in any AWS account) already serves
                // a name being added: retrying cannot help.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_cname_already_exists()) =>
                {
                    return Err(Error::conflict(
                        Code::CnameAlreadyExists,
                        format!("another CloudFront distribution already serves a hostname being added to {distribution_id}; it must be removed there first (or release this hostname)"),
                    ))
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_illegal_update()) =>
                {
                    NotYet::CertificateChangeDeploying
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_invalid_viewer_certificate()) =>
                {
                    if !settling {
                        return Err(Error::conflict(
                            Code::CertificateNotAccepted,
                            format!("CloudFront does not accept the certificate for distribution {distribution_id}: {}", aws_sdk_cloudfront::Error::from(e)),
                        ));
                    }
                    NotYet::CertificateNotVisible
                }
                Err(e) => return Err(upstream(aws_sdk_cloudfront::Error::from(e))),
            };
            tracing::info!(
                distribution_id,
                reason = not_yet.reason(),
                "CloudFront cannot take the change yet; waiting"
            );
            if wait_next(&mut waits, until).await.is_none() {
                return Ok(Outcome::NotYet(not_yet));
            }
            // A wait is not a lost race.
            attempt -= 1;
        }
        Err(Error::conflict(
            Code::DistributionBusy,
            format!("distribution {distribution_id} kept changing during {ATTEMPTS} attempts; repeat the request"),
        ))
    }

    /// Where the last change of `domain`'s edge stands: its distribution
    /// tenant's, found by the domain (`tenant`), or the distribution
    /// `distribution_id`'s. A tenant or distribution that is gone reads
    /// `None`.
    pub async fn deployment(
        &self,
        distribution_id: &str,
        domain: &DomainName,
        tenant: bool,
    ) -> Result<Option<Deployment>, Error> {
        if tenant {
            return Ok(self
                .tenant_by_domain(domain)
                .await?
                .map(|(t, _)| Deployment::of(t.status())));
        }
        Ok(self
            .distribution(distribution_id)
            .await?
            .map(|d| Deployment::of(Some(&d.status))))
    }
}

fn aliases_of(config: &DistributionConfig) -> Vec<String> {
    config
        .aliases
        .as_ref()
        .and_then(|a| a.items.clone())
        .unwrap_or_default()
}

fn set_aliases(config: &mut DistributionConfig, aliases: Vec<String>) -> Result<(), Error> {
    config.aliases = Some(
        Aliases::builder()
            .quantity(aliases.len() as i32)
            .set_items(Some(aliases))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(())
}

/// Whether a certificate for `names` is valid for `host` (exact or one-label wildcard).
fn covers(names: &[String], host: &str) -> bool {
    names.iter().any(|n| {
        n.eq_ignore_ascii_case(host)
            || n.strip_prefix("*.").is_some_and(|base| {
                host.split_once('.')
                    .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(base))
            })
    })
}

/// A distribution's domain name as the product keeps it: lower case, no
/// trailing dot.
fn normalised(domain_name: &str) -> String {
    domain_name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn coverage() {
        let names = vec!["a.example.com".to_string(), "*.w.example.com".to_string()];
        assert!(super::covers(&names, "a.example.com"));
        assert!(super::covers(&names, "x.w.example.com"));
        assert!(!super::covers(&names, "y.x.w.example.com"));
        assert!(!super::covers(&names, "b.example.com"));
    }

    /// CloudFront's pattern for a tenant's name, as its API model gives it.
    fn takes(name: &str) -> bool {
        let b = name.as_bytes();
        let edge = |c: &u8| c.is_ascii_alphanumeric();
        (3..=super::TENANT_NAME_MAX).contains(&b.len())
            && edge(&b[0])
            && edge(&b[b.len() - 1])
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    }

    #[test]
    fn a_tenant_name_is_the_hostname_or_a_deterministic_shorter_one() {
        use crate::domain::DomainName;
        let short = DomainName::parse("shop.example.com").unwrap();
        assert_eq!(super::tenant_name(&short), "shop.example.com");
        let long = |last: &str| {
            DomainName::parse(&format!(
                "{}.{}.{last}.example.com",
                "a".repeat(60),
                "b".repeat(60)
            ))
            .unwrap()
        };
        let (one, two) = (long("one"), long("two"));
        assert!(one.as_str().len() > super::TENANT_NAME_MAX);
        let name = super::tenant_name(&one);
        assert!(takes(&name), "{name}");
        assert_eq!(name, super::tenant_name(&one), "deterministic");
        assert_ne!(
            name,
            super::tenant_name(&two),
            "distinct for names sharing a start"
        );
    }
}
