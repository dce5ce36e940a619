//! The `dns` object of the status routes: whether a live hostname points at
//! its edge, as `drift-check` last saw it (`domain::drift`).

use serde::Serialize;

use crate::domain::{DriftCheck, HostnameRecords};

#[derive(Serialize)]
pub struct DnsView {
    /// `not_checked` (live, not resolved yet), `awaiting_dns`, `pointed` or
    /// `misconfigured`.
    pub state: &'static str,
    /// The record the tenant keeps at the hostname (once the target is
    /// known).
    pub expected: Option<ExpectedRecord>,
    /// What the hostname resolved to at the last check.
    pub found: Vec<String>,
    pub checked_at: Option<String>,
    pub misconfigured_since: Option<String>,
    /// When a misconfigured hostname will be detached.
    pub detach_at: Option<String>,
    /// A delegated hostname whose `_acme-challenge` CNAME is gone.
    pub delegation_missing_since: Option<String>,
}

#[derive(Serialize)]
pub struct ExpectedRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub value: String,
}

/// The view of a live hostname's DNS; `None` when it is not live.
pub fn dns_view(records: &HostnameRecords, grace: std::time::Duration) -> Option<DnsView> {
    let health: &DriftCheck = records.dns.as_ref()?;
    Some(DnsView {
        state: match health.checked_at {
            None => "not_checked",
            Some(_) => health.state.as_str(),
        },
        expected: health.expected.as_ref().map(|target| ExpectedRecord {
            name: health.domain.to_string(),
            record_type: "CNAME",
            value: target.clone(),
        }),
        found: health.found.clone(),
        checked_at: health.checked_at.map(|t| t.to_string()),
        misconfigured_since: health.misconfigured_since.map(|t| t.to_string()),
        detach_at: health.detach_at(grace).map(|t| t.to_string()),
        delegation_missing_since: health.delegation_missing_since.map(|t| t.to_string()),
    })
}
