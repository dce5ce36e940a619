//! The platform's usage, for its operators (`GET /operator/usage`): the
//! quotas the product has figures for (the CA's new orders, from the
//! rate-limit ledger; AWS's, from the quota ledger, `domain::quota`),
//! hostnames by state, certificates due soon, renewals failing and overdue
//! certificates. Every figure is read from a counter or an index, never by
//! reading every hostname: seven Queries and one read in all.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::adapters::store::CaCounter;
use crate::app::App;
use crate::domain::census::CountedState;
use crate::domain::Timestamp;
use crate::error::Error;

/// How far ahead `certificates_due` looks.
pub const DUE_WITHIN: Duration = Duration::from_secs(7 * 86400);

#[derive(Debug, Serialize)]
pub struct Usage {
    pub quotas: Vec<Quota>,
    pub hostnames_by_state: BTreeMap<&'static str, i64>,
    /// Certificates the renewal sweep looks at within the next 7 days
    /// (renewal due, a backoff over, or an ARI window re-checked).
    pub certificates_due_7d: u64,
    pub renewals_failing: i64,
    pub certificates_overdue: u64,
}

/// One quota: what is used of it, and its limit (`None`: none applies).
#[derive(Debug, Serialize)]
pub struct Quota {
    pub name: &'static str,
    pub used: u64,
    pub limit: Option<u64>,
    /// The window it is counted over, when it has one.
    pub window: Option<&'static str>,
    /// Kept for the renewals of the hostnames served (the yearly ACM
    /// imports): new hostnames are refused first.
    pub reserved: u64,
    pub source: &'static str,
}

pub async fn usage(app: &App) -> Result<Usage, Error> {
    let now = Timestamp::now();
    let new_orders_window = Duration::from_secs(3 * 3600);
    let (counts, due, overdue, orders, aws) = tokio::try_join!(
        app.store.hostname_counts(),
        app.store.due_by(now.plus(DUE_WITHIN)),
        app.store.overdue_certificates(now),
        app.store.ca_limit_used(
            &app.config.acme_directory_url,
            CaCounter::NewOrders,
            new_orders_window
        ),
        crate::flows::quota::usage(app),
    )?;
    let mut quotas = vec![
        Quota {
            name: "acme_new_orders",
            used: orders as u64,
            limit: app.config.acme_limits.new_orders.map(u64::from),
            window: Some("3h"),
            reserved: 0,
            source: "the CA's new orders per account (Let's Encrypt: 300 per 3 hours), from the product's rate-limit ledger",
        },
    ];
    quotas.extend(aws.into_iter().map(|s| Quota {
        name: s.quota.as_str(),
        used: s.used,
        limit: Some(s.limit),
        window: (s.quota == crate::domain::quota::Quota::AcmImports365d).then_some("365d"),
        reserved: s.reserved,
        source: s.quota.aws_name(),
    }));
    Ok(Usage {
        quotas,
        renewals_failing: counts
            .get(&CountedState::RenewalFailing)
            .copied()
            .unwrap_or(0),
        hostnames_by_state: counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
        certificates_due_7d: due,
        certificates_overdue: overdue.0,
    })
}
