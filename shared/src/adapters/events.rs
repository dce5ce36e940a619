//! EventBridge: what the product tells the platform, so it can e-mail its
//! tenant. Events go to `EVENT_BUS_NAME` with source `custom-domains`.
//!
//! | detail-type | when | detail |
//! |---|---|---|
//! | `Renewal needs DNS action` | a renewal of a hostname that is not delegated waits for its tenant's new TXT record | `domain`, `tenant_id`, `txt_record_name`, `txt_record_value`, `records` (every TXT record the renewal waits for: one per name of a certificate of several), `not_after` (the current certificate's expiry: act before it) |
//! | `Renewal failing` | a renewal escalated (`RENEWAL_MAX_ATTEMPTS` counted failures; the sweep keeps retrying daily), and again 14, 7, 3 and 1 day(s) before `not_after` while it still fails: the platform must act before `not_after` | `domain`, `tenant_id`, `failures`, `last_error`, `not_after` |
//! | `Hostname DNS changed` | `drift-check` saw a live hostname's DNS change state (`awaiting_dns`, `pointed`, `misconfigured`) | `domain`, `tenant_id`, `from`, `to`, `expected`, `found`, `detach_at` (when a misconfigured hostname will be detached), `delegation_missing_since` (a delegated hostname whose `_acme-challenge` CNAME is gone; also sent when only that changes) |
//! | `Hostname detached` | a hostname misconfigured for longer than `DRIFT_GRACE_HOURS` was released by `drift-check` | `domain`, `tenant_id`, `expected`, `found`, `misconfigured_since` |

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::{AcmeOrder, DriftCheck, Pointing, ServedCertificate, Timestamp};
use crate::error::{Error, Service};

pub const SOURCE: &str = "custom-domains";
pub const RENEWAL_NEEDS_DNS: &str = "Renewal needs DNS action";
pub const RENEWAL_FAILING: &str = "Renewal failing";
pub const DNS_CHANGED: &str = "Hostname DNS changed";
pub const DETACHED: &str = "Hostname detached";

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
        served: &ServedCertificate,
        order: &AcmeOrder,
    ) -> Result<(), Error> {
        let detail = serde_json::json!({
            "domain": served.domain,
            "tenant_id": served.org_id,
            "txt_record_name": order.challenge.txt_name,
            "txt_record_value": order.challenge.txt_value,
            "records": order.needed_records(),
            "not_after": served.certificate.not_after,
        });
        self.put(RENEWAL_NEEDS_DNS, detail).await
    }

    /// A hostname's renewal escalated, or still fails as expiry nears.
    pub async fn renewal_failing(&self, served: &ServedCertificate) -> Result<(), Error> {
        let detail = serde_json::json!({
            "domain": served.domain,
            "tenant_id": served.org_id,
            "failures": served.renewal.failures,
            "last_error": served.renewal.last_error,
            "not_after": served.certificate.not_after,
        });
        self.put(RENEWAL_FAILING, detail).await
    }

    /// A live hostname's DNS changed state.
    pub async fn dns_changed(
        &self,
        health: &DriftCheck,
        from: Pointing,
        detach_at: Option<Timestamp>,
    ) -> Result<(), Error> {
        let detail = serde_json::json!({
            "domain": health.domain,
            "tenant_id": health.tenant_id,
            "from": from.as_str(),
            "to": health.state.as_str(),
            "expected": health.expected,
            "found": health.found,
            "detach_at": detach_at,
            "delegation_missing_since": health.delegation_missing_since,
        });
        self.put(DNS_CHANGED, detail).await
    }

    /// A hostname that pointed elsewhere for too long was detached.
    pub async fn detached(&self, health: &DriftCheck) -> Result<(), Error> {
        let detail = serde_json::json!({
            "domain": health.domain,
            "tenant_id": health.tenant_id,
            "expected": health.expected,
            "found": health.found,
            "misconfigured_since": health.misconfigured_since,
        });
        self.put(DETACHED, detail).await
    }

    async fn put(&self, detail_type: &str, detail: serde_json::Value) -> Result<(), Error> {
        let entry = PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .event_bus_name(&self.bus)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
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
}
