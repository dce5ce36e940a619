//! AwaitingDns → Validating: the challenge's TXT record published (by the
//! tenant, or by the product in the delegation zone) and answered by every
//! authoritative server, CAA and the CA's limits checked, then the CA told.

use tokio::time::Instant;

use super::step::Step;
use crate::adapters::delegation::Published;
use crate::adapters::dns::{presence, Presence, TxtObservation};
use crate::app::App;
use crate::domain::{AcmeOrder, ChallengeRecord, ClaimProof, DomainName, Stage};
use crate::error::Code;
use crate::error::Error;
use crate::flows::hostname::claim::claim_record;

/// AwaitingDns → Validating. Where the tenant's `_acme-challenge` is
/// delegated (a CNAME to this claim's name in the delegation zone), the
/// product writes the TXT record there itself and waits until the zone's
/// authoritative servers answer it. Otherwise it checks the tenant's TXT
/// record, and that of every other name of the order that needs one. Then
/// it tells the CA. A missing record changes nothing and costs no CA
/// validation attempt.
pub(super) async fn publish_challenge(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
) -> Result<Step, Error> {
    // The claimant's own proof first, where a challenge record could be
    // someone else's (`ClaimProof`): nothing below may let it in.
    for c in order.all_challenges() {
        if let Some(why) = c.claim_proof {
            check_claim_record(app, order, &c.domain, why, precheck_deadline(deadline)).await?;
        }
    }
    for other in order.challenges.iter().filter(|c| c.required) {
        check_record(app, &other.challenge, "", precheck_deadline(deadline)).await?;
    }
    if !order.challenge_required {
        return validate(app, order, deadline).await;
    }
    if let Some(target) = delegation_target(app, order).await {
        if let Some(zone) = &app.delegation {
            let value = order.challenge.txt_value.clone();
            let published = match &order.delegation_change {
                Some(id) => Published::Change(id.clone()),
                None => {
                    let published = zone.publish_txt(&target, &value).await?;
                    if let Some(id) = published.change_id() {
                        order.delegation_change = Some(id.to_owned());
                        app.store.save_order(order).await?;
                    }
                    published
                }
            };
            let wait_until = deadline.min(Instant::now() + zone.wait());
            if !zone
                .wait_published(&published, &target, &value, wait_until)
                .await?
            {
                // Not answered yet: the next call publishes (idempotently)
                // and waits again.
                return Ok(Step::Waiting);
            }
            order.delegated = true;
            tracing::info!(domain = %order.domain, %target, "validating through the delegation zone");
            return validate(app, order, deadline).await;
        }
    }
    let hint = delegation_hint(order);
    check_record(app, &order.challenge, &hint, precheck_deadline(deadline)).await?;
    validate(app, order, deadline).await
}

/// The records are in place: CAA and the CA's limits checked, every name
/// marked proven for its tenant, and the CA told.
async fn validate(app: &App, order: &mut AcmeOrder, deadline: Instant) -> Result<Step, Error> {
    let deadline = precheck_deadline(deadline);
    let names = order.certificate_names();
    for name in &names {
        check_caa(app, name, deadline).await?;
    }
    crate::flows::acme::limits::before_validation(app, &order.domain).await?;
    for name in &names {
        app.store.mark_proven(name, &order.org_id).await?;
    }
    app.acme.answer_challenge(&order.order_url).await?;
    order.advance(Stage::Validating)?;
    app.store.save_order(order).await?;
    Ok(Step::Advanced)
}

/// Whether every authoritative server answers the challenge's TXT record:
/// the CA may ask any of them.
async fn check_record(
    app: &App,
    challenge: &ChallengeRecord,
    hint: &str,
    deadline: Instant,
) -> Result<(), Error> {
    let seen = app.dns.observe(&challenge.txt_name, deadline).await;
    match presence(&seen, &challenge.txt_value) {
        Presence::Present => Ok(()),
        Presence::Lagging(servers) => Err(not_everywhere(challenge, &servers, &seen)),
        Presence::Missing => Err(precheck_failed(challenge, hint, &seen)),
    }
}

/// Whether every authoritative server answers the tenant's claim record
/// for `name`.
async fn check_claim_record(
    app: &App,
    order: &AcmeOrder,
    name: &DomainName,
    why: ClaimProof,
    deadline: Instant,
) -> Result<(), Error> {
    claim_record_answers(app, name, &order.org_id, why, deadline).await
}

/// Whether every authoritative server answers `tenant`'s claim record for
/// `name` (asked for `why`): `422 dns_record_missing` naming it when
/// none does, `422 dns_not_propagated` when some do not yet.
pub(crate) async fn claim_record_answers(
    app: &App,
    name: &DomainName,
    tenant: &crate::domain::TenantId,
    why: ClaimProof,
    deadline: Instant,
) -> Result<(), Error> {
    let (txt_name, txt_value) = claim_record(name, tenant);
    let record = ChallengeRecord {
        authorization_url: String::new(),
        challenge_url: String::new(),
        txt_name,
        txt_value,
    };
    let seen = app.dns.observe(&record.txt_name, deadline).await;
    match presence(&seen, &record.txt_value) {
        Presence::Present => Ok(()),
        Presence::Lagging(servers) => Err(not_everywhere(&record, &servers, &seen)),
        Presence::Missing => {
            let mut refused = precheck_failed(&record, "", &seen);
            if let Error::Precondition { message, .. } = &mut refused {
                *message = format!(
                    "{} ({}), so the challenge record alone does not prove that you control it: {message}",
                    name,
                    why.reason()
                );
            }
            Err(refused)
        }
    }
}

/// The precheck is this call's first step when it runs, and a call always
/// makes one step: it gets the call's deadline, or a few seconds if that is
/// nearer (still far inside API Gateway's 30 s).
fn precheck_deadline(deadline: Instant) -> Instant {
    deadline.max(Instant::now() + std::time::Duration::from_secs(3))
}

/// The delegation-zone name this order's `_acme-challenge` CNAME points at,
/// if the product has a delegation zone and the tenant published the CNAME.
async fn delegation_target(app: &App, order: &AcmeOrder) -> Option<String> {
    let zone = app.delegation.as_ref()?;
    let target = zone.target(order.delegation_label.as_deref()?);
    let seen = app.dns.observe_cname(&order.challenge.txt_name).await;
    seen.iter()
        .any(|o| o.targets.contains(&target))
        .then_some(target)
}

fn precheck_failed(challenge: &ChallengeRecord, hint: &str, seen: &[TxtObservation]) -> Error {
    let found: Vec<String> = seen
        .iter()
        .map(|o| match (&o.error, o.values.is_empty()) {
            (Some(e), _) => format!("{}: no answer ({e})", o.source),
            (None, true) => format!("{}: no TXT record", o.source),
            (None, false) => format!("{}: {}", o.source, o.values.join(", ")),
        })
        .collect();
    Error::Precondition {
        code: Code::DnsRecordMissing,
        message: format!(
            "the TXT record {} with value {} was not found ({}); publish it{hint} and call again",
            challenge.txt_name,
            challenge.txt_value,
            found.join("; "),
        ),
        details: Some(serde_json::json!({
            "expected": { "name": challenge.txt_name, "type": "TXT", "value": challenge.txt_value },
            "found": seen,
        })),
    }
}

/// Some of the zone's authoritative servers answer the record and others
/// do not yet: the CA may ask any of them, so it is not asked yet.
fn not_everywhere(
    challenge: &ChallengeRecord,
    lagging: &[String],
    seen: &[TxtObservation],
) -> Error {
    Error::Precondition {
        code: Code::DnsNotPropagated,
        message: format!(
            "the TXT record {} is answered by some of its zone's authoritative servers but not yet by {}; the CA may ask any of them, so wait until they all answer it (or fix the zone's transfers) and call again",
            challenge.txt_name,
            lagging.join(", ")
        ),
        details: Some(serde_json::json!({
            "expected": { "name": challenge.txt_name, "type": "TXT", "value": challenge.txt_value },
            "lagging": lagging,
            "found": seen,
        })),
    }
}

/// Refuses before the CA is asked when the hostname's CAA records forbid
/// the CA (the CA would refuse, and count it against the name).
async fn check_caa(app: &App, domain: &DomainName, deadline: Instant) -> Result<(), Error> {
    let identities = &app.config.acme_caa_identities;
    let Some(forbids) = app
        .dns
        .caa_forbids(domain.as_str(), identities, deadline)
        .await
    else {
        return Ok(());
    };
    Err(Error::Precondition {
        code: Code::CaaForbids,
        message: format!(
            "the CAA records at {} ({}) do not allow {} to issue certificates for {}; add a record `0 issue \"{}\"` there (or remove the CAA records) and call again",
            forbids.name,
            forbids.records.join(", "),
            identities.join(" or "),
            domain,
            identities.first().map(String::as_str).unwrap_or("letsencrypt.org"),
        ),
        details: Some(serde_json::json!({ "caa": forbids, "ca_identities": identities })),
    })
}

/// How the tenant could delegate instead, when the product can say.
fn delegation_hint(order: &AcmeOrder) -> String {
    match &order.delegation_label {
        Some(_) => " (or the CNAME start-certificate named, once, for every renewal too)".into(),
        None => String::new(),
    }
}
