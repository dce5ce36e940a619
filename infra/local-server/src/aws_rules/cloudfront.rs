//! CloudFront's rules: a change is `InProgress` for a while before it is
//! `Deployed`; one viewer-certificate change at a time per distribution
//! (`IllegalUpdate`); a certificate imported seconds ago is not yet
//! accepted (`InvalidViewerCertificate`); an alternate domain name is
//! served by one distribution or tenant only (`CNAMEAlreadyExists`); and a
//! tenant's `Name` pattern.
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
    flight.on_answer(move |status, answer| {
        if !(200..300).contains(&status) {
            return;
        }
        let Some(id) = id.or_else(|| xml_text(answer, "Id").map(str::to_owned)) else {
            return;
        };
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
