//! CloudFront's rules: a change is `InProgress` for a while before it is
//! `Deployed`; one viewer-certificate change at a time per distribution
//! (`IllegalUpdate`); a certificate imported seconds ago is not yet
//! accepted (`InvalidViewerCertificate`); an alternate domain name is
//! served by one distribution or tenant only (`CNAMEAlreadyExists`); and a
//! tenant's `Name` pattern; a CloudFront-managed certificate is issued
//! only once its hostname points at the edge (ministack issues it at once),
//! and times out after 72 hours without.
//!
//! The state is what this process has seen go through it: the changes,
//! certificates and names set by requests made with the local AWS client
//! (the product's, and the tests' own), keyed by distribution or tenant ID.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{scaled, xml_text, InFlight, Refusal};
use crate::iam::request::Sent;

/// How long a change reads `InProgress`: AWS says changes deploy "reliably
/// within 5 minutes" (AWS networking blog, 2020, "Slashing CloudFront
/// change propagation times"); the model takes that bound.
const DEPLOY: Duration = Duration::from_secs(300);

/// How long after its import CloudFront still refuses a certificate with
/// `InvalidViewerCertificate`. AWS documents no figure (it is eventual
/// consistency between ACM and CloudFront; hashicorp/terraform-provider-aws
/// #4698, whose fix retries for about a minute); the model takes 10 s.
const IMPORT_SETTLE: Duration = Duration::from_secs(10);

/// What is known of one distribution or distribution tenant.
#[derive(Clone, Debug, Default)]
struct Resource {
    /// The last change: `InProgress` until `DEPLOY` after it.
    changed: Option<Instant>,
    /// The viewer certificate's ARN (`None`: CloudFront's default) and when
    /// it last changed.
    certificate: Option<String>,
    certificate_changed: Option<Instant>,
    /// Its alternate domain names (a tenant's domains).
    names: Vec<String>,
}

static RESOURCES: Mutex<Option<HashMap<String, Resource>>> = Mutex::new(None);

/// How long CloudFront tries to validate a managed certificate before it
/// reads `validation-timed-out`. AWS publishes no figure for managed
/// certificates; ACM's own validation gives up after 72 hours ("Requests
/// for ACM certificates time out if they are not validated within 72
/// hours", ACM User Guide, Troubleshooting), which the model takes.
const MANAGED_TIMEOUT: Duration = Duration::from_secs(72 * 3600);

/// A managed-certificate request sent to a tenant: when, and whether this
/// process has reported it issued (issued stays issued). `self_hosted`: the
/// platform's origin serves the token, which this model cannot see, so
/// ministack's answer stands.
#[derive(Clone, Copy, Debug)]
struct ManagedRequest {
    requested: Instant,
    issued: bool,
    self_hosted: bool,
}

/// Managed-certificate requests by tenant ID, and each tenant's connection
/// group; the routing endpoint of each connection group seen.
#[derive(Default)]
struct Managed {
    requests: HashMap<String, ManagedRequest>,
    tenant_group: HashMap<String, String>,
    endpoints: HashMap<String, String>,
}

static MANAGED: Mutex<Option<Managed>> = Mutex::new(None);

fn with_managed<T>(f: impl FnOnce(&mut Managed) -> T) -> T {
    let mut guard = MANAGED.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Managed::default))
}

/// Records the connection groups an answer describes (`GetConnectionGroup`,
/// `ListConnectionGroups`): their routing endpoints.
fn learn_endpoints(answer: &str) {
    let mut groups = xml_all(answer, "ConnectionGroupSummary");
    if groups.is_empty() {
        groups.push(answer);
    }
    with_managed(|m| {
        for group in groups {
            if let (Some(id), Some(endpoint)) =
                (xml_text(group, "Id"), xml_text(group, "RoutingEndpoint"))
            {
                m.endpoints
                    .insert(id.to_owned(), super::public_dns::bare(endpoint));
            }
        }
    });
}

/// CloudFront's verdict on tenant `id`'s managed certificate now: issued
/// once its first domain's CNAME reaches the tenant's routing endpoint (any
/// routing endpoint seen, when its group's is unknown), timed out 72 hours
/// (scaled) after the request without; `None`: not a request this process
/// saw, or one it does not model (ministack's answer stands).
async fn managed_verdict(id: &str) -> Option<&'static str> {
    let (request, endpoints) = with_managed(|m| {
        let request = m.requests.get(id).copied();
        let endpoints: Vec<String> = match m.tenant_group.get(id).and_then(|g| m.endpoints.get(g)) {
            Some(one) => vec![one.clone()],
            None => m.endpoints.values().cloned().collect(),
        };
        (request, endpoints)
    });
    let request = request.filter(|r| !r.self_hosted)?;
    if request.issued {
        return Some("issued");
    }
    if request.requested.elapsed() >= scaled(MANAGED_TIMEOUT) {
        return Some("validation-timed-out");
    }
    let domain = with_resources(|all| all.get(id).and_then(|r| r.names.first().cloned()))?;
    let pointed = match super::public_dns::cname(&domain).await {
        super::public_dns::Cname::Targets(targets) => targets.iter().any(|t| endpoints.contains(t)),
        super::public_dns::Cname::NoResolver => return None,
        super::public_dns::Cname::Failed(_) => false,
    };
    if !pointed {
        return Some("pending-validation");
    }
    with_managed(|m| {
        if let Some(r) = m.requests.get_mut(id) {
            r.issued = true;
        }
    });
    Some("issued")
}

/// A `GetManagedCertificateDetails` answer with the model's verdict.
async fn managed_answer(id: String, status: u16, answer: String) -> String {
    if status != 200 {
        return answer;
    }
    let Some(verdict) = managed_verdict(&id).await else {
        return answer;
    };
    // Only an issuance ministack gives too early is withheld: any other
    // status is CloudFront's (or a test's fault) to give.
    match xml_text(&answer, "CertificateStatus").filter(|s| *s == "issued") {
        Some(stated) => answer.replacen(
            &format!("<CertificateStatus>{stated}</CertificateStatus>"),
            &format!("<CertificateStatus>{verdict}</CertificateStatus>"),
            1,
        ),
        None => answer,
    }
}

fn with_resources<T>(f: impl FnOnce(&mut HashMap<String, Resource>) -> T) -> T {
    let mut guard = RESOURCES.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

fn in_progress(at: Option<Instant>) -> bool {
    at.is_some_and(|at| at.elapsed() < scaled(DEPLOY))
}

fn xml_all<'a>(body: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split(close.as_str()).next())
        .collect()
}

/// The viewer certificate a distribution config or tenant body names.
fn certificate_of(body: &str, tenant: bool) -> Option<String> {
    match tenant {
        true => xml_text(body, "Certificate").and_then(|c| xml_text(c, "Arn")),
        false => xml_text(body, "ACMCertificateArn"),
    }
    .map(str::to_owned)
}

/// The alternate domain names a distribution config (`CNAME`) or tenant
/// body (`Domain`) names, lower case.
fn names_of(body: &str, tenant: bool) -> Vec<String> {
    let tag = if tenant { "Domain" } else { "CNAME" };
    xml_all(body, tag)
        .into_iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect()
}

/// The first of `names` another distribution or tenant than `id` serves.
fn held_elsewhere(names: &[String], id: Option<&str>) -> Option<String> {
    with_resources(|all| {
        names
            .iter()
            .find(|n| {
                all.iter()
                    .any(|(other, r)| Some(other.as_str()) != id && r.names.contains(n))
            })
            .cloned()
    })
}

fn cname_already_exists(name: &str) -> Refusal {
    Refusal::new(
        409,
        "CNAMEAlreadyExists",
        format!("One or more of the CNAMEs you provided are already associated with a different resource. ({name})"),
    )
}

/// A certificate imported too recently for CloudFront to see it.
fn unsettled(certificate: Option<&str>) -> Option<Refusal> {
    let imported = super::acm::imported_at(certificate?)?;
    (imported.elapsed() < scaled(IMPORT_SETTLE)).then(|| {
        Refusal::new(
            400,
            "InvalidViewerCertificate",
            "The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, or doesn't include a valid certificate chain.",
        )
    })
}

/// Records a change made to `id` (or to the resource the answer names).
fn changed(flight: &mut InFlight, id: Option<String>, tenant: bool, body: &str) {
    let certificate = certificate_of(body, tenant);
    let names = names_of(body, tenant);
    // A tenant created or updated with a managed-certificate request: a
    // new request, pending until its hostname points at the edge.
    let managed = xml_text(body, "ManagedCertificateRequest").map(|r| ManagedRequest {
        requested: Instant::now(),
        issued: false,
        self_hosted: xml_text(r, "ValidationTokenHost") == Some("self-hosted"),
    });
    flight.on_answer(move |status, answer| {
        if !(200..300).contains(&status) {
            return;
        }
        let Some(id) = id.or_else(|| xml_text(answer, "Id").map(str::to_owned)) else {
            return;
        };
        if tenant {
            let group = xml_text(answer, "ConnectionGroupId").map(str::to_owned);
            with_managed(|m| {
                if let Some(request) = managed {
                    m.requests.insert(id.clone(), request);
                }
                if let Some(group) = group {
                    m.tenant_group.insert(id.clone(), group);
                }
            });
        }
        let now = Instant::now();
        with_resources(|all| {
            let r = all.entry(id).or_default();
            // A change of a certificate known before (a new resource's
            // first certificate, or one first seen here, is not counted).
            if r.changed.is_some() && r.certificate != certificate {
                r.certificate_changed = Some(now);
            }
            r.certificate = certificate;
            r.changed = Some(now);
            r.names = names;
        });
        mark_in_progress(answer);
    });
}

/// Rewrites the first `Status` of an answer about a resource changed
/// within `DEPLOY` to `InProgress`.
fn mark_in_progress(answer: &mut String) {
    let Some(id) = xml_text(answer, "Id").map(str::to_owned) else {
        return;
    };
    let recent = with_resources(|all| all.get(&id).is_some_and(|r| in_progress(r.changed)));
    if recent {
        *answer = answer.replacen(
            "<Status>Deployed</Status>",
            "<Status>InProgress</Status>",
            1,
        );
    }
}

pub(super) fn before(sent: &Sent, flight: &mut InFlight) -> Result<(), Refusal> {
    let path = sent.path.strip_prefix("/2020-05-31").unwrap_or(sent.path);
    let id_after = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.split('/').next())
            .map(str::to_owned)
    };
    match (sent.method, path) {
        // CreateDistribution.
        ("POST", "/distribution") => {
            if let Some(name) = held_elsewhere(&names_of(sent.body, false), None) {
                return Err(cname_already_exists(&name));
            }
            changed(flight, None, false, sent.body);
        }
        // UpdateDistribution.
        ("PUT", p) if p.starts_with("/distribution/") && p.ends_with("/config") => {
            let id = id_after("/distribution/");
            let certificate = certificate_of(sent.body, false);
            if let Some(name) = held_elsewhere(&names_of(sent.body, false), id.as_deref()) {
                return Err(cname_already_exists(&name));
            }
            // One viewer-certificate change at a time (Terraform meets it
            // as "IllegalUpdate: Only one viewer certificate change may be
            // in progress at a time", hashicorp/terraform-provider-aws#679).
            let busy = with_resources(|all| {
                id.as_ref().and_then(|id| all.get(id)).is_some_and(|r| {
                    r.certificate != certificate && in_progress(r.certificate_changed)
                })
            });
            if busy {
                return Err(Refusal::new(
                    400,
                    "IllegalUpdate",
                    "Only one viewer certificate change may be in progress at a time.",
                ));
            }
            if let Some(refusal) = unsettled(certificate.as_deref()) {
                return Err(refusal);
            }
            changed(flight, id, false, sent.body);
        }
        // CreateDistributionTenant, UpdateDistributionTenant.
        ("POST", "/distribution-tenant") | ("PUT", _)
            if path.starts_with("/distribution-tenant") =>
        {
            let id = id_after("/distribution-tenant/");
            if let Some(name) = held_elsewhere(&names_of(sent.body, true), id.as_deref()) {
                return Err(cname_already_exists(&name));
            }
            // (The refusal of a certificate imported seconds ago is known
            // for distributions only: `unsettled` is not applied here.)
            if sent.method == "POST" {
                tenant_name(sent.body)?;
            }
            changed(flight, id, true, sent.body);
        }
        // DeleteDistributionTenant, DeleteDistribution: a resource still
        // deploying its last change cannot be deleted (CloudFront requires
        // it disabled and deployed).
        ("DELETE", p)
            if p.starts_with("/distribution-tenant/") || p.starts_with("/distribution/") =>
        {
            let id = id_after("/distribution-tenant/").or_else(|| id_after("/distribution/"));
            let deploying = with_resources(|all| {
                id.as_ref()
                    .and_then(|id| all.get(id))
                    .is_some_and(|r| in_progress(r.changed))
            });
            if deploying {
                let (code, what) = match p.starts_with("/distribution-tenant/") {
                    true => ("ResourceNotDisabled", "distribution tenant"),
                    false => ("DistributionNotDisabled", "distribution"),
                };
                return Err(Refusal::new(
                    409,
                    code,
                    format!(
                        "The {what} you are trying to delete has not been disabled and deployed."
                    ),
                ));
            }
            flight.on_answer(move |status, _| {
                if (200..300).contains(&status) {
                    if let Some(id) = id {
                        with_resources(|all| all.remove(&id));
                    }
                }
            });
        }
        // GetManagedCertificateDetails: the model's verdict.
        ("GET", p) if p.starts_with("/managed-certificate/") => {
            let id = id_after("/managed-certificate/").unwrap_or_default();
            let id = id.replace("%3A", ":").replace("%2F", "/");
            flight
                .rewrite_answer(move |status, answer| Box::pin(managed_answer(id, status, answer)));
        }
        // GetConnectionGroup, ListConnectionGroups: routing endpoints.
        ("GET", p) if p.starts_with("/connection-group/") => {
            flight.on_answer(|status, answer| {
                if status == 200 {
                    learn_endpoints(answer)
                }
            });
        }
        ("POST", "/connection-groups") => {
            flight.on_answer(|status, answer| {
                if status == 200 {
                    learn_endpoints(answer)
                }
            });
        }
        // GetDistribution, GetDistributionTenant(ByDomain): the status as
        // the model has it.
        ("GET", p)
            if (p.starts_with("/distribution/") && !p.ends_with("/config"))
                || p.starts_with("/distribution-tenant") =>
        {
            flight.on_answer(|status, answer| {
                if status == 200 {
                    mark_in_progress(answer)
                }
            });
        }
        _ => {}
    }
    Ok(())
}

/// A distribution tenant's `Name` as CloudFront's pattern takes it.
fn tenant_name(body: &str) -> Result<(), Refusal> {
    let name = xml_text(body, "Name").unwrap_or_default();
    if tenant_name_ok(name) {
        return Ok(());
    }
    Err(Refusal::new(
        400,
        "InvalidArgument",
        format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][a-zA-Z0-9-.]{{1,126}}[a-zA-Z0-9]"
        ),
    ))
}

fn tenant_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    (3..=128).contains(&b.len())
        && edge(&b[0])
        && edge(&b[b.len() - 1])
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_name_past_128_characters_is_refused() {
        let create = |name: &str| {
            format!("<CreateDistributionTenantRequest><DistributionId>E1</DistributionId><Name>{name}</Name></CreateDistributionTenantRequest>")
        };
        let send = |body: &str| {
            before(
                &Sent::new(
                    "POST",
                    "http://h/2020-05-31/distribution-tenant",
                    "",
                    "",
                    body,
                ),
                &mut InFlight::default(),
            )
            .err()
        };
        assert_eq!(send(&create("shop.example.com")), None);
        let long = format!("{}.example.com", "a".repeat(120));
        assert_eq!(
            send(&create(&long)).map(|r| r.code),
            Some("InvalidArgument")
        );
        assert!(send(&create("*.example.com")).is_some());
    }
}
