//! The last step: the order's certificate becomes the hostname's served
//! certificate, with its renewal scheduled, in one transaction that ends
//! the order.

use crate::adapters::acme::certificate_id;
use crate::app::App;
use crate::domain::certificate::inspect;
use crate::domain::renewal::Window;
use crate::domain::{
    AcmeOrder, DomainMapping, DomainName, Purpose, RenewalState, ServedCertificate, Timestamp,
};
use crate::error::Error;
use crate::random::random_unit;

/// The order's certificate becomes the served one, with its renewal
/// scheduled, the names just attached get their `mappings`, and the order
/// ends (one transaction).
pub(super) async fn promote(
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
    let superseded = previous.as_ref().map(|p| p.certificate.chain_pem.clone());
    let names = order.certificate_names();
    let mut shared: Vec<DomainName> = match names.len() {
        1 => Vec::new(),
        _ => names.clone(),
    };
    shared.sort();
    let mut served = match previous {
        Some(mut s) => {
            s.certificate = cert;
            s.ari_id = ari_id;
            s.profile = order.profile.clone().or(s.profile);
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
            certificate: cert,
            profile: order.profile.clone(),
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
                copy.certificate = served.certificate.clone();
                copy.ari_id = served.ari_id.clone();
                copy.profile = served.profile.clone();
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
            record.renewal.due_now(now);
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
        serial = %served.certificate.serial,
        renew_after = %served.renewal.renew_after,
        "certificate served"
    );
    Ok(served)
}

/// A certificate replaced by one for fewer names (a name released from a
/// certificate it shared) is revoked: it names a hostname the organisation
/// no longer holds. A failure is logged; the certificate is served nowhere.
async fn revoke_if_it_names_more(app: &App, old_chain: &str, served: &ServedCertificate) {
    let (Ok(old), Ok(new)) = (inspect(old_chain), inspect(&served.certificate.chain_pem)) else {
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
fn schedule(
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
        escalated: false,
        reminded_at_days: None,
        in_flight_since: None,
    }
}

/// RFC 9773: re-check no sooner than the CA's Retry-After; a CA answering 0
/// is asked again no sooner than a second later.
pub(crate) const MIN_ARI_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);
