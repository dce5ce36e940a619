//! The order driver: takes a hostname's ACME order in flight, first issuance
//! or renewal, from a published TXT record to a served certificate. Both
//! complete-certificate and the renewals (the sweep and renew-now) run
//! [`drive`].
//!
//! It runs the order's stages one after another (see `domain::acme_order`),
//! saving after each. It always makes at least one step of progress, then
//! stops when `deadline` passes and answers [`Driven::InProgress`]: the next
//! call resumes from the saved stage, so no call approaches API Gateway's
//! 30 s limit and a crash loses at most the step under way. Every step is
//! safe to repeat.
//!
//! The last step, *promote*, makes the order's certificate the hostname's
//! served certificate and ends the order in one transaction. A first
//! issuance imports into a new ACM certificate and attaches the hostname to
//! its distribution first; a renewal re-imports into the served
//! certificate's ARN, which leaves the distribution untouched.

use base64::prelude::{Engine, BASE64_STANDARD};
use tokio::time::Instant;

use crate::adapters::acme::{certificate_id, OrderStatus};
use crate::adapters::delegation::Published;
use crate::adapters::dns::{presence, Presence, TxtObservation};
use crate::app::App;
use crate::domain::certificate::{csr_matches, inspect, new_key_and_csr, split_chain};
use crate::domain::renewal::Window;
use crate::domain::{
    AcmeOrder, ChallengeRecord, DomainMapping, DomainName, Edge, HostnameRecords,
    IssuedCertificate, PendingKey, Purpose, RenewalState, ServedCertificate, Stage, Timestamp,
};
use crate::error::Error;

const KEY_PURPOSE: &str = "certificate-key";

pub enum Driven {
    /// The order's certificate is served; the order is over.
    Done(Box<ServedCertificate>),
    /// The deadline came at this stage; drive again to continue.
    InProgress(Box<AcmeOrder>),
    /// The CA declared the order invalid (saved as such).
    Invalid(Box<AcmeOrder>),
}

/// What one step did.
enum Step {
    Advanced,
    Waiting,
}

/// Drives `order` as far as it goes before `deadline`. `served` is the
/// hostname's served certificate (a renewal's, which it replaces). A CA
/// request still unanswered [`CA_GRACE`] after the deadline is abandoned.
pub async fn drive(
    app: &App,
    order: AcmeOrder,
    served: Option<ServedCertificate>,
    deadline: Instant,
) -> Result<Driven, Error> {
    crate::adapters::acme::within(
        deadline + CA_GRACE,
        drive_steps(app, order, served, deadline),
    )
    .await
}

/// How long past a call's deadline a CA request started before it may run:
/// a step begun just before the deadline gets a few seconds (the default
/// budget of 20 s plus this stays under API Gateway's 30 s).
pub(crate) const CA_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

async fn drive_steps(
    app: &App,
    mut order: AcmeOrder,
    served: Option<ServedCertificate>,
    deadline: Instant,
) -> Result<Driven, Error> {
    if order.purpose != Purpose::Issue && served.is_none() {
        return Err(Error::Internal(format!(
            "a {:?} order for {} without a served certificate",
            order.purpose, order.domain
        )));
    }
    // The certificate's key as made by this call, while it lasts: the
    // import then needs no KMS call to open the sealed copy.
    let mut key_in_hand: Option<String> = None;
    loop {
        let step = match order.stage {
            Stage::Invalid => return Ok(Driven::Invalid(Box::new(order))),
            Stage::AwaitingDns => publish_challenge(app, &mut order, deadline).await?,
            Stage::Validating => {
                await_validation(app, &mut order, deadline, &mut key_in_hand).await?
            }
            Stage::Finalizing => obtain_certificate(app, &mut order, deadline).await?,
            Stage::Issued => import(app, &mut order, served.as_ref(), key_in_hand.take()).await?,
            Stage::Imported if order.purpose != Purpose::Renew => {
                let mappings = attach(app, &mut order, served.as_ref()).await?;
                // Promotion follows the attach in the same step, and writes
                // the new names' mappings in its transaction: the attach is
                // not saved on its own (a crash in between attaches again,
                // which finds everything in place).
                let done = promote(app, &order, served, &mappings).await?;
                return Ok(Driven::Done(Box::new(done)));
            }
            Stage::Imported | Stage::Attached => {
                let done = promote(app, &order, served, &[]).await?;
                return Ok(Driven::Done(Box::new(done)));
            }
        };
        if order.stage == Stage::Invalid {
            continue;
        }
        if matches!(step, Step::Waiting) || Instant::now() >= deadline {
            return Ok(Driven::InProgress(Box::new(order)));
        }
    }
}

/// AwaitingDns → Validating. Where the tenant's `_acme-challenge` is
/// delegated (a CNAME to this claim's name in the delegation zone), the
/// product writes the TXT record there itself and waits until the zone's
/// authoritative servers answer it. Otherwise it checks the tenant's TXT
/// record, and that of every other name of the order that needs one. Then
/// it tells the CA. A missing record changes nothing and costs no CA
/// validation attempt.
async fn publish_challenge(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
) -> Result<Step, Error> {
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

/// Removes a delegated order's TXT record once the CA no longer needs it
/// (a failure is logged: the record is harmless and replaced next time).
async fn remove_delegated_record(app: &App, order: &AcmeOrder) {
    let (Some(zone), Some(label)) = (&app.delegation, order.delegation_label.as_deref()) else {
        return;
    };
    if !order.delegated {
        return;
    }
    let target = zone.target(label);
    if let Err(e) = zone.remove_txt(&target, &order.challenge.txt_value).await {
        tracing::warn!(domain = %order.domain, error = %e, "could not remove the delegated TXT record");
    }
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
        code: "dns_record_missing",
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
        code: "dns_not_propagated",
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
        code: "caa_forbids",
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

/// Validating → Finalizing: wait for the CA's verdict; once the order is
/// ready, make a fresh EC P-256 key and CSR and save them (sealed) before
/// finalising, so a retried finalise uses the same key. Renewals get a new
/// key of the same type: ACM refuses a re-import that changes key type.
async fn await_validation(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
    key_in_hand: &mut Option<String>,
) -> Result<Step, Error> {
    let (status, problem) = app
        .acme
        .poll_order(&order.order_url, app.config.acme_poll_interval, deadline)
        .await?;
    match status {
        OrderStatus::Pending => Ok(Step::Waiting),
        OrderStatus::Invalid => fail(app, order, problem).await,
        OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => {
            // Validated: the delegated record has done its job.
            remove_delegated_record(app, order).await;
            if order.pending_key.is_none() {
                let (key_pem, csr) = new_key_and_csr(&order.certificate_names())?;
                let sealed_key = app
                    .sealer
                    .seal(KEY_PURPOSE, order.domain.as_str(), key_pem.as_bytes())
                    .await?;
                order.pending_key = Some(PendingKey {
                    sealed_key,
                    csr: BASE64_STANDARD.encode(csr),
                });
                *key_in_hand = Some(key_pem);
            }
            order.advance(Stage::Finalizing)?;
            app.store.save_order(order).await?;
            Ok(Step::Advanced)
        }
    }
}

/// Finalizing → Issued: send the CSR, wait for the certificate, save chain
/// and sealed key. Nothing after this point can lose the certificate.
async fn obtain_certificate(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
) -> Result<Step, Error> {
    let pending = order
        .pending_key
        .clone()
        .ok_or_else(|| Error::Internal("finalizing without a saved key".into()))?;
    let csr = BASE64_STANDARD
        .decode(&pending.csr)
        .map_err(|_| Error::Internal("stored CSR is not base64".into()))?;
    app.acme.finalize(&order.order_url, &csr).await?;
    let (status, problem) = app
        .acme
        .poll_order(&order.order_url, app.config.acme_poll_interval, deadline)
        .await?;
    match status {
        OrderStatus::Invalid => return fail(app, order, problem).await,
        OrderStatus::Valid => {}
        _ => return Ok(Step::Waiting),
    }
    let chain = app
        .acme
        .download_certificate(&order.order_url)
        .await?
        .ok_or_else(|| Error::Internal("order valid but no certificate".into()))?;
    let facts = inspect(&chain)?;
    // The certificate is for the saved key if it is for the CSR's key (no
    // need to open the sealed key for that).
    if !csr_matches(&csr, &facts)? {
        return Err(Error::Internal(
            "the issued certificate does not match the saved key".into(),
        ));
    }
    order.certificate = Some(IssuedCertificate {
        chain_pem: chain,
        sealed_key: pending.sealed_key,
        serial: facts.serial,
        not_before: facts.not_before,
        not_after: facts.not_after,
    });
    order.pending_key = None;
    order.advance(Stage::Issued)?;
    // The import comes next, and may take effect before its answer is
    // seen: marked in this same save (one write less per issuance).
    order.import_started = true;
    app.store.save_order(order).await?;
    tracing::info!(domain = %order.domain, purpose = ?order.purpose, "certificate issued and saved");
    // Counted against the CA's per-domain and duplicate limits (a failure
    // to count is logged: the certificate is safe, the ledger a guard).
    if let Err(e) =
        crate::flows::acme::limits::issued(app, &order.domain, order.replaces.is_some()).await
    {
        tracing::warn!(domain = %order.domain, error = %e, "could not count the issued certificate");
    }
    Ok(Step::Advanced)
}

async fn open_key(app: &App, order: &AcmeOrder, sealed: &str) -> Result<String, Error> {
    let key_pem = app
        .sealer
        .open(KEY_PURPOSE, order.domain.as_str(), sealed)
        .await?;
    String::from_utf8(key_pem).map_err(|_| Error::Internal("stored key is not UTF-8".into()))
}

/// Issued → Imported: into ACM in us-east-1. A first issuance imports a new
/// certificate; a retry after a lost answer finds the one the earlier
/// attempt imported instead of importing a second copy. A renewal
/// re-imports into the served certificate's ARN (repeating that is
/// harmless: the same certificate replaces itself).
async fn import(
    app: &App,
    order: &mut AcmeOrder,
    served: Option<&ServedCertificate>,
    key_in_hand: Option<String>,
) -> Result<Step, Error> {
    let cert = order
        .certificate
        .clone()
        .ok_or_else(|| Error::Internal("issued without a certificate".into()))?;
    let chain = split_chain(&cert.chain_pem)?;
    let mut arn = served.map(|s| s.certificate_arn.clone());
    if arn.is_none() {
        // A key in hand: this call saved the certificate, nothing was
        // imported yet. Otherwise an earlier call may have imported it
        // (`import_started` is set with the certificate; orders saved
        // before that set it here).
        if order.import_started && key_in_hand.is_none() {
            arn = app
                .edge_certificates
                .find_imported(&order.domain, chain.leaf_pem)
                .await?;
        } else if !order.import_started {
            order.import_started = true;
            app.store.save_order(order).await?;
        }
    }
    let reimport = served.is_some();
    let arn = match arn {
        Some(existing) if !reimport => existing,
        into => {
            let key_pem = match key_in_hand {
                Some(key) => key,
                None => open_key(app, order, &cert.sealed_key).await?,
            };
            app.edge_certificates
                .import(
                    &order.domain,
                    chain.leaf_pem,
                    chain.intermediates_pem,
                    &key_pem,
                    into.as_deref(),
                )
                .await?
        }
    };
    order.certificate_arn = Some(arn);
    order.advance(Stage::Imported)?;
    if order.purpose != Purpose::Renew {
        // Where the organisation's hostnames go now (the platform may have
        // recorded a distribution for it since the order was placed).
        retarget(app, order).await;
        // The attach comes next, and may take effect before its answer is
        // seen: marked in this same save (one write less per issuance).
        // Only a refused attach clears it, making the order movable.
        order.attach_started = true;
    }
    app.store.save_order(order).await?;
    Ok(Step::Advanced)
}

/// Moves a single hostname's first issuance to where the organisation's
/// hostnames go now, if that changed (changes the order; saved by the
/// caller).
async fn retarget(app: &App, order: &mut AcmeOrder) {
    if order.attach_started || order.purpose != Purpose::Issue || order.names.len() > 1 {
        return;
    }
    let Ok(to) = crate::flows::acme::start::edge_for(app, &order.org_id).await else {
        return;
    };
    if (to.edge, Some(&to.distribution_id)) != (order.edge, order.distribution_id.as_ref()) {
        tracing::info!(domain = %order.domain, from = ?order.distribution_id, to = %to.distribution_id, edge = ?to.edge, "re-targeting the order to the organisation's current edge");
        order.edge = to.edge;
        order.distribution_id = Some(to.distribution_id);
    }
}

/// Imported → Attached (a first issuance, or names added to a served
/// certificate): each new name onto the distribution (or its distribution
/// tenant). Answers each attached name's live domain → organisation
/// mapping, which the promotion writes. `served` is the certificate whose
/// names are already attached.
async fn attach(
    app: &App,
    order: &mut AcmeOrder,
    served: Option<&ServedCertificate>,
) -> Result<Vec<DomainMapping>, Error> {
    // Re-targeted after a refused attach (which cleared `attach_started`).
    if !order.attach_started {
        let before = (order.edge, order.distribution_id.clone());
        retarget(app, order).await;
        if (order.edge, order.distribution_id.clone()) != before {
            app.store.save_order(order).await?;
        }
    }
    let arn = order
        .certificate_arn
        .clone()
        .ok_or_else(|| Error::Internal("imported without an ARN".into()))?;
    let distribution = order
        .distribution_id
        .clone()
        .ok_or_else(|| Error::Internal("order without a distribution".into()))?;
    let names = match &order.certificate {
        Some(c) => inspect(&c.chain_pem)?.dns_names,
        None => return Err(Error::Internal("imported without a certificate".into())),
    };
    if !order.attach_started {
        order.attach_started = true;
        order.failure = None;
        app.store.save_order(order).await?;
    }
    let attached_before = served
        .map(ServedCertificate::certificate_names)
        .unwrap_or_default();
    let mut mappings = Vec::new();
    for name in order.certificate_names() {
        if attached_before.contains(&name) {
            continue;
        }
        // A name its tenant released (or is releasing) since the order was
        // placed is not put back. (The promotion's transaction checks the
        // claim again, so no mapping is written for a name released after
        // this read.)
        let claim = HostnameRecords {
            owner: app.store.load_owner(&name).await?,
            ..HostnameRecords::default()
        };
        if !claim.is_owned_by(&order.org_id) || claim.is_releasing() {
            tracing::info!(domain = %name, "not attaching a name released since the order");
            continue;
        }
        // The classic distribution: the hostname becomes one of its
        // aliases. The shared edge: a distribution tenant of its own on the
        // multi-tenant distribution. Either way, where the hostname must
        // point is kept.
        let target = match attach_to_edge(app, order, &name, &distribution, &arn, &names).await {
            Ok(target) => target,
            // Refused, nothing changed at CloudFront: the order may be
            // re-targeted by a later call.
            Err(e @ Error::Conflict { .. }) => {
                order.attach_started = false;
                // Why, for the status route (`domain::lifecycle`'s
                // attach-refused state).
                order.failure = Some(e.public_message());
                app.store.save_order(order).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        mappings.push(DomainMapping {
            domain: name.clone(),
            tenant_id: order.org_id.clone(),
            edge: match order.edge {
                Edge::CloudfrontTenant => Edge::CloudfrontTenant,
                _ => Edge::Cloudfront,
            },
            target,
            certificate_arn: arn.clone(),
            configured_at: Timestamp::now(),
            dns_target: order.dns_target.clone(),
        });
        tracing::info!(domain = %name, distribution, "hostname attached");
    }
    // Not saved: promotion follows in the same step (`drive_steps`).
    order.advance(Stage::Attached)?;
    Ok(mappings)
}

/// Puts `name` on its edge; answers the mapping's target.
async fn attach_to_edge(
    app: &App,
    order: &mut AcmeOrder,
    name: &DomainName,
    distribution: &str,
    arn: &str,
    names: &[String],
) -> Result<String, Error> {
    Ok(match order.edge {
        Edge::CloudfrontTenant => {
            let tenant = app
                .distributions
                .attach_tenant(
                    distribution,
                    name,
                    arn,
                    app.config.connection_group_id.as_deref(),
                )
                .await?;
            order.dns_target = tenant.routing_endpoint;
            tenant.tenant_id
        }
        _ => {
            // The update's answer names the distribution's domain; when
            // nothing needed changing, it is read.
            order.dns_target = match app
                .distributions
                .attach(distribution, name, arn, names)
                .await?
            {
                Some(domain_name) => Some(domain_name),
                None => app.distributions.domain_name(distribution).await?,
            };
            distribution.to_owned()
        }
    })
}

/// The order's certificate becomes the served one, with its renewal
/// scheduled, the names just attached get their `mappings`, and the order
/// ends (one transaction).
async fn promote(
    app: &App,
    order: &AcmeOrder,
    previous: Option<ServedCertificate>,
    mappings: &[DomainMapping],
) -> Result<ServedCertificate, Error> {
    let cert = order
        .certificate
        .clone()
        .ok_or_else(|| Error::Internal("promoting an order without a certificate".into()))?;
    let arn = order
        .certificate_arn
        .clone()
        .ok_or_else(|| Error::Internal("promoting an order without an ARN".into()))?;
    let now = Timestamp::now();
    let ari_id = certificate_id(&cert.chain_pem);
    let (window, ask_again) = match app.acme.renewal_window(&cert.chain_pem).await {
        Ok(w) => (w, false),
        Err(e) => {
            tracing::warn!(domain = %order.domain, error = %e, "could not read the renewal window; scheduling by lifetime and asking again in an hour");
            (None, true)
        }
    };
    let mut renewal = schedule(
        app,
        cert.not_before,
        cert.not_after,
        window.as_ref(),
        order.delegated,
        now,
    );
    if ask_again {
        renewal.window_recheck_at = Some(now.plus(std::time::Duration::from_secs(3600)));
    }
    let first = previous.is_none();
    let superseded = previous.as_ref().map(|p| p.chain_pem.clone());
    let names = order.certificate_names();
    let mut shared: Vec<DomainName> = match names.len() {
        1 => Vec::new(),
        _ => names.clone(),
    };
    shared.sort();
    let mut served = match previous {
        Some(mut s) => {
            s.chain_pem = cert.chain_pem;
            s.sealed_key = cert.sealed_key;
            s.serial = cert.serial;
            s.not_before = cert.not_before;
            s.not_after = cert.not_after;
            s.ari_id = ari_id;
            s.order_url = Some(order.order_url.clone());
            s.renewal = renewal;
            s.delegated = order.delegated;
            s.dns_target = s.dns_target.or_else(|| order.dns_target.clone());
            s
        }
        None => ServedCertificate {
            domain: order.domain.clone(),
            org_id: order.org_id.clone(),
            certificate_arn: arn,
            distribution_id: order.distribution_id.clone().unwrap_or_default(),
            edge: order.edge,
            dns_target: order.dns_target.clone(),
            names: Vec::new(),
            chain_pem: cert.chain_pem,
            sealed_key: cert.sealed_key,
            serial: cert.serial,
            not_before: cert.not_before,
            not_after: cert.not_after,
            ari_id,
            order_url: Some(order.order_url.clone()),
            renewal,
            delegated: order.delegated,
            issued_recently: Vec::new(),
            version: 0,
            served_since: now,
            updated_at: now,
        },
    };
    served.names = shared.clone();
    let mut issued = served.recent_issuances(now);
    issued.push(now);
    served.issued_recently = issued;
    // A certificate of several names: every other name's copy changes with
    // it (a name added gets its first).
    let mut records = vec![(served.clone(), first)];
    let mut dropped = Vec::new();
    for name in names.iter().filter(|n| **n != order.domain) {
        let stored = app.store.load_hostname(name).await?;
        let kept = stored.is_owned_by(&order.org_id) && !stored.is_releasing();
        let copy = match stored.served.filter(|_| kept) {
            Some(mut copy) => {
                copy.certificate_arn = served.certificate_arn.clone();
                copy.chain_pem = served.chain_pem.clone();
                copy.sealed_key = served.sealed_key.clone();
                copy.serial = served.serial.clone();
                copy.not_before = served.not_before;
                copy.not_after = served.not_after;
                copy.ari_id = served.ari_id.clone();
                copy.order_url = served.order_url.clone();
                copy.renewal = served.renewal.clone();
                copy.issued_recently = served.issued_recently.clone();
                (copy, false)
            }
            // Released while its certificate was being issued.
            None if !kept || order.purpose == Purpose::Renew => {
                dropped.push(name.clone());
                continue;
            }
            None => {
                let mut copy = served.clone();
                copy.domain = name.clone();
                copy.delegated = false;
                copy.version = 0;
                copy.served_since = now;
                (copy, true)
            }
        };
        records.push(copy);
    }
    if !dropped.is_empty() {
        // The renewed certificate still names them: it is issued again,
        // without them, at once.
        shared.retain(|n| !dropped.contains(n));
        if shared.len() == 1 {
            shared.clear();
        }
        for (record, _) in &mut records {
            record.renewal.renew_after = now;
        }
    }
    for (record, _) in &mut records {
        record.names = shared.clone();
    }
    app.store.promote(order, &mut records, mappings).await?;
    let served = records.swap_remove(0).0;
    if let Some(old) = superseded {
        revoke_if_it_names_more(app, &old, &served).await;
    }
    tracing::info!(
        domain = %served.domain,
        names = served.names.len(),
        serial = %served.serial,
        renew_after = %served.renewal.renew_after,
        "certificate served"
    );
    Ok(served)
}

/// A certificate replaced by one for fewer names (a name released from a
/// certificate it shared) is revoked: it names a hostname the organisation
/// no longer holds. A failure is logged; the certificate is served nowhere.
async fn revoke_if_it_names_more(app: &App, old_chain: &str, served: &ServedCertificate) {
    let (Ok(old), Ok(new)) = (inspect(old_chain), inspect(&served.chain_pem)) else {
        return;
    };
    let dropped: Vec<&String> = old
        .dns_names
        .iter()
        .filter(|n| !new.dns_names.contains(n))
        .collect();
    if dropped.is_empty() {
        return;
    }
    match app.acme.revoke(old_chain).await {
        Ok(()) => {
            tracing::info!(domain = %served.domain, ?dropped, serial = %old.serial, "revoked the certificate that still named released hostnames")
        }
        Err(e) => {
            tracing::warn!(domain = %served.domain, ?dropped, error = %e, "could not revoke the certificate that still names released hostnames")
        }
    }
}

/// A fresh renewal schedule for a certificate (no failures, ARI window if
/// the CA gave one).
pub(crate) fn schedule(
    app: &App,
    not_before: Timestamp,
    not_after: Timestamp,
    window: Option<&crate::adapters::acme::RenewalWindow>,
    delegated: bool,
    now: Timestamp,
) -> RenewalState {
    let stored = window.map(|w| Window {
        start: w.start,
        end: w.end,
    });
    // A hostname that is not delegated needs its tenant for a renewal, and
    // is scheduled with the DNS lead.
    let (renew_after, basis) = app.config.renewal.renew_time(
        not_before,
        not_after,
        stored.as_ref(),
        delegated,
        random_unit(),
    );
    RenewalState {
        renew_after,
        basis,
        window: stored,
        window_recheck_at: window.map(|w| now.plus(w.retry_after.max(MIN_ARI_RECHECK))),
        failures: 0,
        last_error: None,
        not_before: None,
        gave_up: false,
        in_flight_since: None,
    }
}

/// RFC 9773: re-check no sooner than the CA's Retry-After; a CA answering 0
/// is asked again no sooner than a second later.
pub(crate) const MIN_ARI_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A uniformly random number in `[0, 1)`.
pub(crate) fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

async fn fail(app: &App, order: &mut AcmeOrder, problem: Option<String>) -> Result<Step, Error> {
    remove_delegated_record(app, order).await;
    if let Err(e) = crate::flows::acme::limits::validation_failed(app, &order.domain).await {
        tracing::warn!(domain = %order.domain, error = %e, "could not count the failed validation");
    }
    order.failure = Some(problem.unwrap_or_else(|| "the order became invalid".into()));
    order.advance(Stage::Invalid)?;
    app.store.save_order(order).await?;
    tracing::warn!(domain = %order.domain, failure = ?order.failure, "order invalid");
    Ok(Step::Advanced)
}
