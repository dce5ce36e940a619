//! What the platform is told of a hostname's life: one EventBridge event
//! per change (`EventKind`), each carrying the hostname's standing.
//!
//! The changes a hostname's records show it has been through
//! ([`HostnameRecords::milestones`]) are derived from its records, not
//! from the code path that made them: a change made by a call that died
//! before telling anyone, or by another call, is still seen (and told) by
//! the next call that looks (`flows::hostname::announce`). Each has a key,
//! unique within its claim, under which it is told once.

use serde_json::{json, Map, Value};

use super::{AcmStage, HostnameRecords, ManagedStage, Stage};

/// Every event the product sends (source `custom-domains`), by its
/// `detail-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    HostnameClaimed,
    DnsRecordNeeded,
    HostnameValidated,
    CertificateIssued,
    HostnameActive,
    CertificateRenewed,
    RenewalNeedsDns,
    RenewalFailing,
    CertificateFailed,
    QuotaNearlyUsed,
    DnsChanged,
    HostnameDetached,
    HostnameReleased,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::HostnameClaimed,
        EventKind::DnsRecordNeeded,
        EventKind::HostnameValidated,
        EventKind::CertificateIssued,
        EventKind::HostnameActive,
        EventKind::CertificateRenewed,
        EventKind::RenewalNeedsDns,
        EventKind::RenewalFailing,
        EventKind::CertificateFailed,
        EventKind::QuotaNearlyUsed,
        EventKind::DnsChanged,
        EventKind::HostnameDetached,
        EventKind::HostnameReleased,
    ];

    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            EventKind::HostnameClaimed => "Hostname claimed",
            EventKind::DnsRecordNeeded => "DNS record needed",
            EventKind::HostnameValidated => "Hostname validated",
            EventKind::CertificateIssued => "Certificate issued",
            EventKind::HostnameActive => "Hostname active",
            EventKind::CertificateRenewed => "Certificate renewed",
            EventKind::RenewalNeedsDns => "Renewal needs DNS action",
            EventKind::RenewalFailing => "Renewal failing",
            EventKind::CertificateFailed => "Certificate failed",
            EventKind::QuotaNearlyUsed => "Quota nearly used",
            EventKind::DnsChanged => "Hostname DNS changed",
            EventKind::HostnameDetached => "Hostname detached",
            EventKind::HostnameReleased => "Hostname released",
        }
    }

    /// The file name of its JSON Schema (`events/eventbridge/<slug>.schema.json`).
    pub fn slug(self) -> String {
        self.detail_type().to_ascii_lowercase().replace(' ', "-")
    }
}

/// One change the records show, to be told once under `key`.
#[derive(Clone, Debug, PartialEq)]
pub struct Milestone {
    pub kind: EventKind,
    /// Unique within the claim (the store prefixes the claim's start).
    pub key: String,
    /// What the event says besides the hostname's standing.
    pub facts: Map<String, Value>,
    /// Told only once the edge serves the change everywhere (CloudFront
    /// has deployed it): `Hostname active` on the ACME path.
    pub needs_deployed: bool,
}

fn milestone(kind: EventKind, key: String, facts: Value) -> Milestone {
    Milestone {
        kind,
        key,
        facts: match facts {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        needs_deployed: false,
    }
}

/// The key prefix of the certificates told (issued, then renewed).
pub const CERTIFICATE_KEY: &str = "certificate:";

impl HostnameRecords {
    /// The changes this hostname's records show, in the order they
    /// happen. `Certificate issued` is given for the certificate served;
    /// it is `Certificate renewed` when the claim told of another
    /// certificate before (`flows::hostname::announce` decides). Release,
    /// DNS drift and renewal trouble are told where they happen.
    pub fn milestones(&self) -> Vec<Milestone> {
        let Some(owner) = &self.owner else {
            return Vec::new();
        };
        let mut all = vec![milestone(
            EventKind::HostnameClaimed,
            "claimed".into(),
            json!({}),
        )];
        if owner.releasing_since.is_some() {
            return all;
        }
        // First issuance waiting for the tenant's DNS records.
        if let (None, Some(order)) = (&self.served, &self.order) {
            if order.stage == Stage::AwaitingDns {
                all.push(milestone(
                    EventKind::DnsRecordNeeded,
                    format!("dns:{}", order.order_url),
                    json!({ "records": order.needed_records() }),
                ));
            }
        }
        if let Some(r) = &self.acm_request {
            if r.stage == AcmStage::Requested && !r.validation_records.is_empty() {
                all.push(milestone(
                    EventKind::DnsRecordNeeded,
                    format!("dns:{}", r.request_id),
                    json!({ "records": r.records_to_publish() }),
                ));
            }
        }
        if let Some(m) = &self.managed {
            match m.stage {
                ManagedStage::Proving if owner.proven_at.is_none() => {
                    let (name, value) = super::claim_record(&m.domain, &m.org_id);
                    all.push(milestone(
                        EventKind::DnsRecordNeeded,
                        "dns:managed-claim".into(),
                        json!({ "records": [{ "name": name, "type": "TXT", "value": value }] }),
                    ));
                }
                ManagedStage::Requested if !m.handoff => all.push(milestone(
                    EventKind::DnsRecordNeeded,
                    format!("dns:managed:{}", m.requests),
                    json!({ "records": [{ "name": m.domain, "type": "CNAME", "value": m.dns_target }] }),
                )),
                _ => {}
            }
        }
        if owner.proven_at.is_some() {
            all.push(milestone(
                EventKind::HostnameValidated,
                "validated".into(),
                json!({}),
            ));
        }
        if let Some(s) = &self.served {
            all.push(milestone(
                EventKind::CertificateIssued,
                format!("{CERTIFICATE_KEY}{}", s.certificate.serial),
                json!({
                    "serial": s.certificate.serial,
                    "not_after": s.certificate.not_after,
                    "certificate_arn": s.certificate_arn,
                }),
            ));
            let mut active = milestone(
                EventKind::HostnameActive,
                "active".into(),
                json!({ "dns_target": s.dns_target, "certificate_arn": s.certificate_arn }),
            );
            active.needs_deployed = true;
            all.push(active);
        }
        if let Some(m) = &self.managed {
            if m.stage == ManagedStage::Failed {
                all.push(milestone(
                    EventKind::CertificateFailed,
                    format!("managed-failed:{}", m.requests),
                    json!({ "reason": m.failure, "dns_target": m.dns_target, "handoff": m.handoff }),
                ));
            }
            if let (true, Some(arn)) = (m.is_attached(), &m.certificate_arn) {
                // Its own key: a hand-off's managed certificate is issued,
                // not a renewal of the ACME one it replaces.
                all.push(milestone(
                    EventKind::CertificateIssued,
                    format!("managed-certificate:{arn}"),
                    json!({ "certificate_arn": arn }),
                ));
            }
            if m.stage == ManagedStage::Served {
                all.push(milestone(
                    EventKind::HostnameActive,
                    "active".into(),
                    json!({ "dns_target": m.dns_target, "certificate_arn": m.certificate_arn }),
                ));
            }
        }
        if let Some(r) = &self.acm_request {
            if !matches!(r.stage, AcmStage::Requested | AcmStage::Failed) {
                all.push(milestone(
                    EventKind::CertificateIssued,
                    format!("{CERTIFICATE_KEY}{}", r.certificate_arn),
                    json!({ "certificate_arn": r.certificate_arn }),
                ));
            }
            if r.stage == AcmStage::Configured {
                all.push(milestone(
                    EventKind::HostnameActive,
                    "active".into(),
                    json!({ "dns_target": r.api_gateway_domain, "certificate_arn": r.certificate_arn }),
                ));
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_detail_type_and_slug() {
        let types: std::collections::BTreeSet<_> =
            EventKind::ALL.iter().map(|k| k.detail_type()).collect();
        assert_eq!(types.len(), EventKind::ALL.len());
        assert_eq!(EventKind::DnsRecordNeeded.slug(), "dns-record-needed");
    }

    #[test]
    fn an_unclaimed_hostname_has_no_milestone() {
        assert!(HostnameRecords::default().milestones().is_empty());
    }
}
