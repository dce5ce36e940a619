//! EventBridge: what the product tells the platform, so it can e-mail its
//! tenant or act itself. Events go to `EVENT_BUS_NAME` with source
//! `custom-domains`; every detail carries the hostname's standing
//! (`flows::hostname::announce::standing`: `domain`, `tenant_id`, `path`,
//! `edge`, `state`, `next_action`, `custom_metadata`), and those told
//! through the outbox an `event_id` and `occurred_at` too. The events, what
//! each says and its JSON Schema: `events/eventbridge/`, and the README's
//! table (checked against the schemas by a test).

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use serde_json::{Map, Value};

use crate::domain::announce::EventKind;
use crate::domain::{AcmeOrder, DriftCheck, Pointing, ServedCertificate, Timestamp};
use crate::error::{Error, Service};

pub const SOURCE: &str = "custom-domains";

/// `standing` with `facts` added.
fn detail(mut standing: Map<String, Value>, facts: Value) -> Value {
    if let Value::Object(facts) = facts {
        standing.extend(facts);
    }
    Value::Object(standing)
}

#[derive(Clone, Debug)]
pub struct Events {
    client: super::lazy::Lazy<aws_sdk_eventbridge::Client>,
    bus: String,
}

impl Events {
    pub fn new(
        client: impl Into<super::lazy::Lazy<aws_sdk_eventbridge::Client>>,
        bus: String,
    ) -> Self {
        Self {
            client: client.into(),
            bus,
        }
    }

    /// A renewal waits for the tenant to publish `order`'s TXT record.
    pub async fn renewal_needs_dns(
        &self,
        standing: Map<String, Value>,
        served: &ServedCertificate,
        order: &AcmeOrder,
    ) -> Result<(), Error> {
        let facts = serde_json::json!({
            "domain": served.domain,
            "tenant_id": served.org_id,
            "txt_record_name": order.challenge.txt_name,
            "txt_record_value": order.challenge.txt_value,
            "records": order.needed_records(),
            "not_after": served.certificate.not_after,
        });
        self.put(EventKind::RenewalNeedsDns, detail(standing, facts))
            .await
    }

    /// A hostname's renewal escalated, or still fails as expiry nears.
    pub async fn renewal_failing(
        &self,
        standing: Map<String, Value>,
        served: &ServedCertificate,
    ) -> Result<(), Error> {
        let facts = serde_json::json!({
            "domain": served.domain,
            "tenant_id": served.org_id,
            "failures": served.renewal.failures,
            "last_error": served.renewal.last_error,
            "not_after": served.certificate.not_after,
        });
        self.put(EventKind::RenewalFailing, detail(standing, facts))
            .await
    }

    /// A live hostname's DNS changed state.
    pub async fn dns_changed(
        &self,
        standing: Map<String, Value>,
        health: &DriftCheck,
        from: Pointing,
        detach_at: Option<Timestamp>,
    ) -> Result<(), Error> {
        let facts = serde_json::json!({
            "domain": health.domain,
            "tenant_id": health.tenant_id,
            "from": from.as_str(),
            "to": health.state.as_str(),
            "expected": health.expected,
            "found": health.found,
            "detach_at": detach_at,
            "delegation_missing_since": health.delegation_missing_since,
        });
        self.put(EventKind::DnsChanged, detail(standing, facts))
            .await
    }

    /// A hostname that pointed elsewhere for too long was detached.
    pub async fn detached(
        &self,
        standing: Map<String, Value>,
        health: &DriftCheck,
    ) -> Result<(), Error> {
        let facts = serde_json::json!({
            "domain": health.domain,
            "tenant_id": health.tenant_id,
            "expected": health.expected,
            "found": health.found,
            "misconfigured_since": health.misconfigured_since,
        });
        self.put(EventKind::HostnameDetached, detail(standing, facts))
            .await
    }

    async fn put(&self, kind: EventKind, detail: Value) -> Result<(), Error> {
        self.send(kind.detail_type(), &detail).await
    }

    /// Sends one event of `detail_type` with `detail`, given an
    /// `event_id` (from the detail itself: a repeat of the same event has
    /// the same one) and `occurred_at` if it has none.
    pub async fn send(&self, detail_type: &str, detail: &Value) -> Result<(), Error> {
        self.send_all(&[(detail_type, detail)]).await
    }

    /// Sends several events in one request (at most 10, PutEvents' limit).
    pub async fn send_all(&self, events: &[(&str, &Value)]) -> Result<(), Error> {
        let mut entries = Vec::with_capacity(events.len());
        for (detail_type, detail) in events {
            entries.push(self.entry(detail_type, detail));
        }
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                Error::upstream(Service::EventBridge, aws_sdk_eventbridge::Error::from(e))
            })?;
        if out.failed_entry_count > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::upstream(
                Service::EventBridge,
                format!("PutEvents refused the event: {why}"),
            ));
        }
        Ok(())
    }

    fn entry(&self, detail_type: &str, detail: &Value) -> PutEventsRequestEntry {
        let mut detail = detail.clone();
        if let Value::Object(map) = &mut detail {
            if !map.contains_key("event_id") {
                let digest = aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    format!("{detail_type}\0{}", Value::Object(map.clone())).as_bytes(),
                );
                let id: String = digest.as_ref()[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                map.insert("event_id".into(), Value::String(id));
            }
            if !map.contains_key("occurred_at") {
                map.insert("occurred_at".into(), serde_json::json!(Timestamp::now()));
            }
        }
        PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .event_bus_name(&self.bus)
            .build()
    }
}
