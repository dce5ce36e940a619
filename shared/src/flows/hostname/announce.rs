//! Tells the platform of every change of a hostname's life, once: one
//! EventBridge event per change (`domain::announce::EventKind`), each
//! carrying the hostname's standing (`standing`): domain, tenant, path,
//! edge, the state reached, who must act next, and the platform's
//! `custom_metadata`.
//!
//! The changes are read from the hostname's records after a call
//! (`HostnameRecords::milestones`), not told by the code path that made
//! them: a change a call made and died before telling is told by the next
//! call that looks, and a repeated call tells nothing twice. Each event is
//! written to the hostname's outbox before it is sent (one caller wins it:
//! `Store::hold_event`) and noted on the claim after (`Owner::told`, the
//! claim's list of what was told); one a call wrote and died before
//! sending is sent again, with the same `event_id`, by a call that finds
//! it not noted `LEASE_GRACE_MS` later (a call that dies is known dead by
//! then: its lease ran out). Delivery is therefore at least
//! once, and `event_id` is the consumer's key to drop a repeat.
//!
//! A failure here never fails the caller's call: the event stays to be
//! told by the next look.

use serde_json::{json, Map, Value};

use crate::adapters::cloudfront::Deployment;
use crate::app::App;
use crate::domain::announce::{EventKind, CERTIFICATE_KEY};
use crate::domain::census::CountedState;
use crate::domain::{DomainName, Edge, HostnameRecords, Timestamp};
use crate::error::Error;

/// The hostname's standing, carried by every event.
pub fn standing(domain: &DomainName, records: &HostnameRecords) -> Map<String, Value> {
    let (state, next_action) = records.status(domain);
    let owner = records.owner.as_ref();
    let value = json!({
        "domain": domain,
        "tenant_id": owner.map(|o| o.tenant_id.as_str()),
        "path": records.path(),
        "edge": records.edge().map(edge_name),
        "state": state,
        "next_action": next_action,
        "custom_metadata": owner.and_then(|o| o.custom_metadata.as_ref()),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub fn edge_name(edge: Edge) -> &'static str {
    match edge {
        Edge::CloudfrontTenant => "cloudfront_tenant",
        Edge::Cloudfront => "cloudfront",
        Edge::ApiGateway => "api_gateway",
    }
}

/// Counts the hostname in the state its records put it in
/// (`domain::census`: the counts move where the changes are told). A
/// failure is logged: the next look counts it.
async fn count(app: &App, domain: &DomainName, records: &HostnameRecords) {
    let (Some(owner), Some(state)) = (&records.owner, CountedState::of(records)) else {
        return;
    };
    if let Err(e) = app.store.count_state(domain, owner, state).await {
        tracing::warn!(%domain, error = %e, "could not count the hostname's state; the next look does");
    }
}

/// The hostname's standing, read now (for an event told where it
/// happens: a renewal's trouble), and the hostname counted where it now is.
pub async fn standing_now(app: &App, domain: &DomainName) -> Map<String, Value> {
    match load(app, domain).await {
        Ok(records) => {
            count(app, domain, &records).await;
            standing(domain, &records)
        }
        Err(e) => {
            tracing::warn!(%domain, error = %e, "could not read the hostname's standing for its event");
            let mut m = Map::new();
            m.insert("domain".into(), json!(domain));
            m
        }
    }
}

async fn load(app: &App, domain: &DomainName) -> Result<HostnameRecords, Error> {
    let mut records = app.store.load_hostname(domain).await?;
    super::status::joining_order(app, domain, &mut records).await?;
    Ok(records)
}

/// Tells what changed for `domain` and was not told yet. `deployed` is
/// whether its edge serves its last change everywhere, when the caller
/// asked CloudFront (`Hostname active` waits for it).
pub async fn announce(app: &App, domain: &DomainName, deployed: Option<Deployment>) {
    if let Err(e) = tell_changes(app, domain, Deployed::Seen(deployed)).await {
        tracing::warn!(%domain, error = %e, "could not tell the hostname's changes; the next look tells them");
    }
}

/// As [`announce`], with the hostname's records as the caller just read
/// them (the ACME status route, a drift check): no read of its own when
/// nothing is new.
pub async fn announce_seen(
    app: &App,
    domain: &DomainName,
    records: &HostnameRecords,
    deployed: Deployed,
) {
    if let Err(e) = tell_from(app, domain, records, deployed).await {
        tracing::warn!(%domain, error = %e, "could not tell the hostname's changes; the next look tells them");
    }
}

/// Whether `records` (an ACM request and its claim, as the ACM status
/// route reads them) show a change not told yet, by the claim's list of
/// what was told (`Owner::told`): the poll reads nothing more when there
/// is none.
pub fn has_news(records: &HostnameRecords) -> bool {
    let Some(owner) = &records.owner else {
        return false;
    };
    records.milestones().iter().any(|m| {
        !owner
            .told
            .contains(&format!("{}#{}", owner.claimed_at, m.key))
    })
}

/// What the caller knows of the edge's deployment (`Hostname active`
/// waits for CloudFront to have deployed the hostname).
pub enum Deployed {
    /// What the caller read (`None`: not asked, or CloudFront did not say).
    Seen(Option<Deployment>),
    /// Ask CloudFront if that is still to tell (`drift-check`: a hostname
    /// becomes active even if nobody polls its status).
    Ask,
}

async fn tell_changes(app: &App, domain: &DomainName, deployed: Deployed) -> Result<(), Error> {
    let records = load(app, domain).await?;
    tell_from(app, domain, &records, deployed).await
}

async fn tell_from(
    app: &App,
    domain: &DomainName,
    records: &HostnameRecords,
    deployed: Deployed,
) -> Result<(), Error> {
    let Some(owner) = &records.owner else {
        return Ok(());
    };
    count(app, domain, records).await;
    resend_unsent(app, domain, records).await?;
    let claim = &owner.claimed_at;
    let told = |key: &str| owner.told.iter().any(|k| k == key);
    let certificate_prefix = format!("{claim}#{CERTIFICATE_KEY}");
    let mut certificate_told = owner
        .told
        .iter()
        .any(|k| k.starts_with(&certificate_prefix));
    let standing = standing(domain, records);
    let mut news: Vec<(String, EventKind, Map<String, Value>)> = Vec::new();
    for m in records.milestones() {
        let key = format!("{claim}#{}", m.key);
        if told(&key) {
            continue;
        }
        if m.needs_deployed {
            let seen = match &deployed {
                Deployed::Seen(seen) => *seen,
                Deployed::Ask => super::status::edge_status(app, records.served.as_ref()).await,
            };
            if seen != Some(Deployment::Deployed) {
                continue;
            }
        }
        let kind = match m.kind {
            EventKind::CertificateIssued
                if certificate_told && m.key.starts_with(CERTIFICATE_KEY) =>
            {
                EventKind::CertificateRenewed
            }
            kind => kind,
        };
        let mut detail = standing.clone();
        detail.extend(m.facts);
        news.push((key, kind, detail));
        if kind == EventKind::CertificateIssued || kind == EventKind::CertificateRenewed {
            certificate_told = true;
        }
    }
    tell_all(app, domain, news).await
}

/// Tells several changes at once: one transaction writes them all to the
/// outbox, one PutEvents sends them, one update notes them (a call that
/// finds one of them held by another caller tells each on its own).
async fn tell_all(
    app: &App,
    domain: &DomainName,
    news: Vec<(String, EventKind, Map<String, Value>)>,
) -> Result<(), Error> {
    match news.len() {
        0 => return Ok(()),
        1 => {
            let (key, kind, detail) = news.into_iter().next().unwrap_or_else(|| unreachable!());
            return tell_once(app, domain, &key, kind, detail).await;
        }
        _ => {}
    }
    let now = Timestamp::now();
    let events: Vec<(String, &str, Value)> = news
        .iter()
        .map(|(key, kind, detail)| {
            let mut detail = detail.clone();
            detail.insert("event_id".into(), json!(event_id(domain, key)));
            detail.insert("occurred_at".into(), json!(now));
            (key.clone(), kind.detail_type(), Value::Object(detail))
        })
        .collect();
    if !app.store.hold_events(domain, &events).await? {
        for (key, kind, detail) in news {
            tell_once(app, domain, &key, kind, detail).await?;
        }
        return Ok(());
    }
    let sent: Vec<(&str, &Value)> = events.iter().map(|(_, t, d)| (*t, d)).collect();
    app.events.send_all(&sent).await?;
    let keys: Vec<String> = events.into_iter().map(|(k, _, _)| k).collect();
    app.store.note_all_told(domain, &keys).await
}

/// Tells `kind` with `detail` once under `key` (unique for the hostname):
/// written to the outbox (the caller that writes it sends it), sent, and
/// noted on the claim (`Owner::told`: what was told).
pub async fn tell_once(
    app: &App,
    domain: &DomainName,
    key: &str,
    kind: EventKind,
    mut detail: Map<String, Value>,
) -> Result<(), Error> {
    detail.insert("event_id".into(), json!(event_id(domain, key)));
    detail.insert("occurred_at".into(), json!(Timestamp::now()));
    let detail = Value::Object(detail);
    if app
        .store
        .hold_event(domain, key, kind.detail_type(), &detail)
        .await?
    {
        app.events.send(kind.detail_type(), &detail).await?;
        app.store.note_told(domain, key).await?;
    }
    Ok(())
}

/// Tells that `domain` is released, once per claim, before its last
/// records (the claim, and its list of what was told) are deleted. A
/// repeat of the release's last step sends it if an earlier one wrote it
/// and failed to send it.
pub async fn tell_released(
    app: &App,
    domain: &DomainName,
    records: &HostnameRecords,
) -> Result<(), Error> {
    let Some(owner) = &records.owner else {
        return Ok(());
    };
    let key = format!("{}#released", owner.claimed_at);
    if owner.told.contains(&key) {
        return Ok(());
    }
    if let Some(held) = records.told.iter().find(|t| t.key == key) {
        app.events.send(&held.detail_type, &held.detail).await?;
        return app.store.note_told(domain, &key).await;
    }
    let mut detail = standing(domain, records);
    detail.insert("state".into(), json!("released"));
    detail.insert("next_action".into(), Value::Null);
    tell_once(app, domain, &key, EventKind::HostnameReleased, detail).await
}

/// Sends again what a call wrote to the outbox and died before sending
/// (not noted on the claim `LEASE_GRACE_MS` after it was written).
async fn resend_unsent(
    app: &App,
    domain: &DomainName,
    records: &HostnameRecords,
) -> Result<(), Error> {
    let Some(owner) = &records.owner else {
        return Ok(());
    };
    let now = Timestamp::now();
    let mine = format!("{}#", owner.claimed_at);
    for t in records.told.iter().filter(|t| {
        t.key.starts_with(&mine)
            && !owner.told.contains(&t.key)
            && t.created_at.plus(app.config.lease_grace) < now
    }) {
        tracing::info!(%domain, key = %t.key, "sending an event a call left unsent");
        app.events.send(&t.detail_type, &t.detail).await?;
        app.store.note_told(domain, &t.key).await?;
    }
    Ok(())
}

/// The event's stable identity: the same for a repeat of it.
fn event_id(domain: &DomainName, key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{domain}\0{key}").as_bytes(),
    );
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
