//! Whether a live hostname still points at its edge (drift).
//!
//! ```text
//!            seen pointing                     seen elsewhere
//!  awaiting_dns ────────────► pointed ◄──────────────────► misconfigured ──(grace passed)──► detach
//!  (certificate first,          │        seen pointing again        (since: first seen
//!   then the tenant moves DNS)  │                                    elsewhere)
//! ```
//!
//! The product's flow is certificate first, then the tenant moves the
//! name's DNS (no downtime), so a live hostname that has never pointed at
//! its edge is `awaiting_dns`, not drift. Only one once seen pointing can
//! drift: it is `misconfigured` from the first check that sees it elsewhere,
//! and after the grace period it is detached as a release would, so that a
//! name whose DNS now belongs to someone else (a dangling record) cannot be
//! served a certificate by whoever holds it. Nothing here does I/O.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DomainName, Edge, TenantId, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pointing {
    /// Never seen pointing at its edge yet.
    AwaitingDns,
    /// Pointing at its edge when last checked.
    Pointed,
    /// Seen pointing once, elsewhere now.
    Misconfigured,
}

impl Pointing {
    pub fn as_str(self) -> &'static str {
        match self {
            Pointing::AwaitingDns => "awaiting_dns",
            Pointing::Pointed => "pointed",
            Pointing::Misconfigured => "misconfigured",
        }
    }
}

/// One live hostname's DNS, as `drift-check` last saw it (`sk=DNS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftCheck {
    pub domain: DomainName,
    pub tenant_id: TenantId,
    pub edge: Edge,
    /// The distribution ID or the API Gateway domain target.
    pub edge_id: String,
    /// The name the hostname must resolve to (a CNAME target, or the same
    /// addresses): the API Gateway domain target, or the distribution's
    /// `dxxxx.cloudfront.net` once read.
    #[serde(default)]
    pub expected: Option<String>,
    pub state: Pointing,
    /// What the hostname resolved to at the last check (CNAME chain or
    /// addresses).
    #[serde(default)]
    pub found: Vec<String>,
    /// When it was first seen pointing at its edge.
    #[serde(default)]
    pub pointed_at: Option<Timestamp>,
    /// When it was first seen elsewhere, after having pointed.
    #[serde(default)]
    pub misconfigured_since: Option<Timestamp>,
    /// For a delegated hostname: when its `_acme-challenge` CNAME was first
    /// seen missing (renewals then need the tenant's TXT record again).
    #[serde(default)]
    pub delegation_missing_since: Option<Timestamp>,
    #[serde(default)]
    pub checked_at: Option<Timestamp>,
    /// When `drift-check` should next look (the `DriftCheck` index).
    pub check_at: Timestamp,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub pointed: bool,
    /// The verdict rests on a CNAME chain (that reaches the target, or ends
    /// elsewhere and shares no address with it), not on addresses alone:
    /// only a certain "elsewhere" can lead to a detach.
    pub certain: bool,
    pub found: Vec<String>,
}

/// What a check means for the hostname.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The state is the same as before.
    Unchanged,
    /// The state changed from this one.
    Changed(Pointing),
    /// Misconfigured for longer than the grace period: detach it.
    Detach,
}

impl DriftCheck {
    /// A hostname just made live: checked at once.
    pub fn new(
        domain: DomainName,
        tenant_id: TenantId,
        edge: Edge,
        edge_id: String,
        expected: Option<String>,
        now: Timestamp,
    ) -> Self {
        Self {
            domain,
            tenant_id,
            edge,
            edge_id,
            expected,
            state: Pointing::AwaitingDns,
            found: Vec::new(),
            pointed_at: None,
            misconfigured_since: None,
            delegation_missing_since: None,
            checked_at: None,
            check_at: now,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies one check's observation at `now`; schedules the next check
    /// after `interval` (an hour at most while the hostname is not
    /// pointing, so a tenant who just moved DNS sees it soon).
    pub fn observe(
        &mut self,
        seen: Observation,
        now: Timestamp,
        interval: Duration,
        grace: Duration,
    ) -> Verdict {
        let before = self.state;
        let certain = seen.certain;
        self.found = seen.found;
        self.checked_at = Some(now);
        if seen.pointed {
            self.state = Pointing::Pointed;
            self.pointed_at.get_or_insert(now);
            self.misconfigured_since = None;
        } else if self.pointed_at.is_some() {
            self.state = Pointing::Misconfigured;
            self.misconfigured_since.get_or_insert(now);
        } else {
            self.state = Pointing::AwaitingDns;
        }
        let next = match self.state {
            Pointing::Pointed => interval,
            _ => interval.min(Duration::from_secs(3600)),
        };
        self.check_at = now.plus(next);
        if let Some(since) = self.misconfigured_since {
            let detach_at = since.plus(grace);
            if detach_at <= now && certain {
                return Verdict::Detach;
            }
            // Checked again when the grace ends, if not before.
            self.check_at = self.check_at.min(detach_at);
        }
        if self.state == before {
            Verdict::Unchanged
        } else {
            Verdict::Changed(before)
        }
    }

    /// When the hostname will be detached if it stays misconfigured.
    pub fn detach_at(&self, grace: Duration) -> Option<Timestamp> {
        self.misconfigured_since.map(|s| s.plus(grace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86400);

    fn health(now: Timestamp) -> DriftCheck {
        DriftCheck::new(
            DomainName::parse("shop.example.com").unwrap(),
            TenantId::parse("org", "org-1").unwrap(),
            Edge::ApiGateway,
            "d-1.execute-api.eu-west-1.amazonaws.com".into(),
            Some("d-1.execute-api.eu-west-1.amazonaws.com".into()),
            now,
        )
    }

    fn seen(pointed: bool) -> Observation {
        Observation {
            pointed,
            certain: true,
            found: vec![],
        }
    }

    #[test]
    fn a_hostname_never_pointed_is_awaiting_not_drifting() {
        let t0 = Timestamp::now();
        let mut h = health(t0);
        for day in 0..30 {
            let v = h.observe(seen(false), t0.plus(DAY * day), DAY, DAY * 7);
            assert_eq!(v, Verdict::Unchanged);
            assert_eq!(h.state, Pointing::AwaitingDns);
        }
    }

    #[test]
    fn drift_is_counted_from_the_first_miss_and_detaches_after_the_grace() {
        let t0 = Timestamp::now();
        let mut h = health(t0);
        assert_eq!(
            h.observe(seen(true), t0, DAY, DAY * 7),
            Verdict::Changed(Pointing::AwaitingDns)
        );
        let t1 = t0.plus(DAY);
        assert_eq!(
            h.observe(seen(false), t1, DAY, DAY * 7),
            Verdict::Changed(Pointing::Pointed)
        );
        assert_eq!(h.misconfigured_since, Some(t1));
        assert!(h.check_at <= t1.plus(Duration::from_secs(3600)));
        // Back in place: the clock starts over.
        assert_eq!(
            h.observe(seen(true), t1.plus(DAY), DAY, DAY * 7),
            Verdict::Changed(Pointing::Misconfigured)
        );
        assert_eq!(h.misconfigured_since, None);
        let t2 = t1.plus(DAY * 2);
        h.observe(seen(false), t2, DAY, DAY * 7);
        assert_eq!(
            h.observe(seen(false), t2.plus(DAY * 6), DAY, DAY * 7),
            Verdict::Unchanged
        );
        assert_eq!(
            h.observe(seen(false), t2.plus(DAY * 7), DAY, DAY * 7),
            Verdict::Detach
        );
    }
}
