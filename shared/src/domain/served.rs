//! The certificate a hostname is served with (ACME path), kept apart from
//! the order in flight: a renewal's order can fail, stall or be abandoned
//! and the served certificate stays exactly as it was until the renewed one
//! has been imported into the same ACM ARN.
//!
//! ```text
//!              first issuance: order ──(attached)──► promote ──► ServedCertificate
//!                                                                   │  ▲
//!   sweep / renew-now: renewal order ──(re-imported, same ARN)──► promote
//! ```
//!
//! Renewal bookkeeping lives here too: the chosen renewal time and where it
//! came from, the CA's ARI window and when to ask for it again, the failures
//! of the current cycle, and when each certificate of the name was issued
//! (for Let's Encrypt's duplicate-certificate limit).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::renewal::{RenewalBasis, RenewalPolicy, Window};
use super::{DomainName, IssuedCertificate, TenantId, Timestamp};

/// Let's Encrypt: at most 5 certificates for the same set of names per 7 days.
pub const DUPLICATE_LIMIT: usize = 5;
pub const DUPLICATE_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);
/// When an escalated renewal reminds the platform again, in days before
/// the certificate's `not_after`: two weeks (time to fix a cause such as
/// CAA or a changed DNS host), one, three days and the last day.
pub const REMINDER_LEAD_DAYS: [u32; 4] = [14, 7, 3, 1];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServedCertificate {
    pub domain: DomainName,
    pub org_id: TenantId,
    /// In ACM, us-east-1; renewals re-import into this same ARN.
    pub certificate_arn: String,
    /// The distribution serving the hostname (for the `CloudfrontTenant`
    /// edge, the multi-tenant distribution of its distribution tenant).
    pub distribution_id: String,
    #[serde(default)]
    pub edge: super::Edge,
    /// Where the hostname must point.
    #[serde(default)]
    pub dns_target: Option<String>,
    /// Every name on the certificate when it has several (an organisation's
    /// own distribution serving `example.com` and `www.example.com`),
    /// sorted; empty when the certificate is this hostname's alone. Each
    /// name keeps its own copy of this record (status, drift and release
    /// stay per hostname); the copies change together, in one transaction.
    /// Only the first name's copy, the *lead*, is in the renewal index, and
    /// the certificate's orders (renewals, a name added) are the lead's.
    #[serde(default)]
    pub names: Vec<DomainName>,
    /// The certificate itself (chain, sealed key, serial, validity), as the
    /// order obtained it; stored flattened, as the fields of this record.
    #[serde(flatten)]
    pub certificate: IssuedCertificate,
    /// The ACME profile it was issued under: its renewals ask for the same
    /// (another client losing it on renewal changes a tenant's lifetime
    /// silently). `None`: the CA's default.
    #[serde(default)]
    pub profile: Option<String>,
    /// The ACME order that issued the certificate: its authorizations are
    /// deactivated when the hostname is released.
    #[serde(default)]
    pub order_url: Option<String>,
    /// The certificate's ARI identifier (RFC 9773), when it has an AKI.
    #[serde(default)]
    pub ari_id: Option<String>,
    pub renewal: RenewalState,
    /// The hostname's `_acme-challenge` pointed at the delegation zone when
    /// this certificate was validated: its renewals need nobody.
    #[serde(default)]
    pub delegated: bool,
    /// When each certificate of this hostname was issued, within the last
    /// [`DUPLICATE_PERIOD`].
    #[serde(default)]
    pub issued_recently: Vec<Timestamp>,
    /// Optimistic-locking counter: every write requires the version it read.
    pub version: u64,
    pub served_since: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenewalState {
    /// The chosen renewal time.
    pub renew_after: Timestamp,
    pub basis: RenewalBasis,
    /// The CA's suggested window, when it offers ARI.
    #[serde(default)]
    pub window: Option<Window>,
    /// When to ask the CA for the window again (its `Retry-After`).
    #[serde(default)]
    pub window_recheck_at: Option<Timestamp>,
    /// Failed attempts in this renewal cycle.
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    /// No attempt before this (backoff after a failure, or the next look at
    /// a renewal waiting for the tenant's TXT record).
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// Past `max_attempts` counted failures in this cycle: the platform has
    /// been told and the status route names it, while the sweep keeps
    /// retrying at the capped interval (stored as `gave_up` before the
    /// sweep kept trying).
    #[serde(default, alias = "gave_up")]
    pub escalated: bool,
    /// The lead time (days before `not_after`, one of
    /// [`REMINDER_LEAD_DAYS`]) of the last "Renewal failing" reminder sent
    /// in this cycle.
    #[serde(default)]
    pub reminded_at_days: Option<u32>,
    /// Since when a renewal order is in flight (whoever started it): the
    /// sweep carries it on whatever `renew_after` says.
    #[serde(default)]
    pub in_flight_since: Option<Timestamp>,
}

/// The renewal's transitions: each a function of the state, so the flows
/// never set its fields by hand (and the tests below cover each).
impl RenewalState {
    /// A renewal order was placed at `now`: the sweep carries it on
    /// whatever `renew_after` says.
    pub fn started(&mut self, now: Timestamp) {
        self.in_flight_since = Some(now);
    }

    /// The renewal order in flight ended without a certificate.
    pub fn ended(&mut self) {
        self.in_flight_since = None;
    }

    /// An attempt failed for a reason of the hostname's (the CA refused, a
    /// validation failed): counted and backed off by the policy. Answers
    /// whether this failure escalated the renewal (`max_attempts` reached
    /// in this cycle): the platform is then told; the sweep goes on.
    pub fn failed(&mut self, reason: &str, policy: &RenewalPolicy, now: Timestamp) -> bool {
        self.failures += 1;
        self.last_error = Some(reason.to_owned());
        self.not_before = Some(now.plus(policy.retry_delay(self.failures)));
        let escalates = !self.escalated && self.failures >= policy.max_attempts;
        self.escalated |= escalates;
        escalates
    }

    /// An attempt was cut short by something passing (a throttle, the CA's
    /// or AWS's 5xx, a timeout): not counted, tried again after the backoff
    /// the failures so far call for (at least the policy's first delay).
    pub fn interrupted(&mut self, reason: &str, policy: &RenewalPolicy, now: Timestamp) {
        self.last_error = Some(reason.to_owned());
        self.not_before = Some(now.plus(policy.retry_delay(self.failures.max(1))));
    }

    /// The lead time of a "Renewal failing" reminder due at `now` for a
    /// certificate expiring at `not_after` (an escalated renewal, reminded
    /// once per lead time as expiry nears), recorded as sent.
    pub fn reminder_due(&mut self, not_after: Timestamp, now: Timestamp) -> Option<u32> {
        if !self.escalated {
            return None;
        }
        let left = now.until(not_after);
        let lead = REMINDER_LEAD_DAYS
            .iter()
            .copied()
            .filter(|d| left <= Duration::from_secs(u64::from(*d) * 86_400))
            .min()?;
        if self.reminded_at_days.is_some_and(|r| r <= lead) {
            return None;
        }
        self.reminded_at_days = Some(lead);
        Some(lead)
    }

    /// Not before `until`, without counting a failure: the CA's rate limit
    /// (no fault of the hostname's), or the next look at a renewal waiting
    /// for its TXT record.
    pub fn hold_until(&mut self, until: Timestamp) {
        self.not_before = Some(until);
    }

    /// Asked again (renew-now) after the renewal escalated: a new cycle of
    /// attempts.
    pub fn restart_cycle(&mut self) {
        self.escalated = false;
        self.reminded_at_days = None;
        self.failures = 0;
        self.not_before = None;
    }

    /// Due at once (a name left the certificate: it is issued again
    /// without it).
    pub fn due_now(&mut self, now: Timestamp) {
        self.renew_after = now;
    }

    /// The CA's ARI window, as read at `now`: a changed window re-picks the
    /// renewal time in it (`at`, `basis`); asked again at `recheck_at`.
    pub fn window_read(
        &mut self,
        window: Option<Window>,
        renew: Option<(Timestamp, RenewalBasis)>,
        recheck_at: Option<Timestamp>,
    ) {
        if let (Some(w), Some((at, basis))) = (window, renew) {
            self.renew_after = at;
            self.basis = basis;
            self.window = Some(w);
        }
        self.window_recheck_at = recheck_at;
    }

    /// When the sweep should next look at this certificate (always some
    /// time: a renewal that keeps failing is retried until it succeeds).
    pub fn due_at(&self) -> Option<Timestamp> {
        if let Some(since) = self.in_flight_since {
            return Some(self.not_before.unwrap_or(since));
        }
        let attempt = match self.not_before {
            Some(t) if t > self.renew_after => t,
            _ => self.renew_after,
        };
        Some(match self.window_recheck_at {
            Some(r) if r < attempt => r,
            _ => attempt,
        })
    }
}

impl ServedCertificate {
    pub fn belongs_to(&self, org: &TenantId) -> bool {
        &self.org_id == org
    }

    /// Every name the certificate covers.
    pub fn certificate_names(&self) -> Vec<DomainName> {
        match self.names.is_empty() {
            true => vec![self.domain.clone()],
            false => self.names.clone(),
        }
    }

    /// The hostname whose record carries the certificate's renewals and
    /// orders: the first of its names.
    pub fn lead(&self) -> &DomainName {
        self.names.first().unwrap_or(&self.domain)
    }

    /// Whether this copy is the lead's.
    pub fn is_lead(&self) -> bool {
        self.lead() == &self.domain
    }

    /// Whether the certificate covers other hostnames too.
    pub fn is_shared(&self) -> bool {
        self.names.len() > 1
    }

    /// When the certificate is *overdue*: past its renewal time by more
    /// than a grace of a sixth of its lifetime (never after `not_after`).
    /// Relative to the lifetime, as the renewal time is: a 90-day
    /// certificate renewing with 30 days left is overdue with 15 left, a
    /// 6-day one renewing with 2 days left is overdue with 1 left. (A fixed
    /// number of days would flag every short-lived certificate, or none.)
    pub fn overdue_at(&self) -> Timestamp {
        let c = &self.certificate;
        let lifetime = (c.not_after.unix() - c.not_before.unix()).max(0) as u64;
        self.renewal
            .renew_after
            .plus(std::time::Duration::from_secs(lifetime / 6))
            .min(c.not_after)
    }

    /// Whether a renewal is due at `now` (not merely an ARI re-check).
    pub fn renewal_due(&self, now: Timestamp) -> bool {
        (self.renewal.in_flight_since.is_some() || now >= self.renewal.renew_after)
            && self.renewal.not_before.is_none_or(|t| now >= t)
    }

    /// Issuances still counting against the duplicate limit at `now`.
    pub fn recent_issuances(&self, now: Timestamp) -> Vec<Timestamp> {
        let since = now.minus(DUPLICATE_PERIOD);
        let mut v: Vec<Timestamp> = self
            .issued_recently
            .iter()
            .copied()
            .filter(|t| *t > since)
            .collect();
        v.sort();
        v
    }

    /// When one more certificate of this name may be issued without passing
    /// the duplicate limit; `None` if it may be now.
    pub fn duplicate_limit_until(&self, now: Timestamp) -> Option<Timestamp> {
        let recent = self.recent_issuances(now);
        if recent.len() < DUPLICATE_LIMIT {
            return None;
        }
        // The oldest of the last LIMIT issuances must leave the period.
        let oldest = recent[recent.len() - DUPLICATE_LIMIT];
        Some(oldest.plus(DUPLICATE_PERIOD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_takes_backoff_and_recheck() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let mut r = RenewalState {
            renew_after: t("2026-03-01T00:00:00Z"),
            basis: RenewalBasis::Lifetime,
            window: None,
            window_recheck_at: Some(t("2026-02-01T00:00:00Z")),
            failures: 0,
            last_error: None,
            not_before: None,
            escalated: false,
            reminded_at_days: None,
            in_flight_since: None,
        };
        assert_eq!(r.due_at(), Some(t("2026-02-01T00:00:00Z")));
        r.window_recheck_at = None;
        r.not_before = Some(t("2026-03-02T00:00:00Z"));
        assert_eq!(r.due_at(), Some(t("2026-03-02T00:00:00Z")));
        r.escalated = true;
        assert_eq!(
            r.due_at(),
            Some(t("2026-03-02T00:00:00Z")),
            "escalated, and still retried"
        );
    }

    #[test]
    fn an_escalated_renewal_reminds_once_per_lead_time() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let not_after = t("2026-03-31T00:00:00Z");
        let mut r = RenewalState {
            renew_after: t("2026-03-01T00:00:00Z"),
            basis: RenewalBasis::Lifetime,
            window: None,
            window_recheck_at: None,
            failures: 12,
            last_error: None,
            not_before: None,
            escalated: false,
            reminded_at_days: None,
            in_flight_since: None,
        };
        assert_eq!(
            r.reminder_due(not_after, t("2026-03-30T00:00:00Z")),
            None,
            "not escalated"
        );
        r.escalated = true;
        assert_eq!(
            r.reminder_due(not_after, t("2026-03-01T00:00:00Z")),
            None,
            "30 days left"
        );
        assert_eq!(
            r.reminder_due(not_after, t("2026-03-17T00:00:00Z")),
            Some(14)
        );
        assert_eq!(
            r.reminder_due(not_after, t("2026-03-18T00:00:00Z")),
            None,
            "sent"
        );
        // Several lead times passed between two looks: one reminder.
        assert_eq!(
            r.reminder_due(not_after, t("2026-03-29T00:00:00Z")),
            Some(3)
        );
        assert_eq!(
            r.reminder_due(not_after, t("2026-03-30T12:00:00Z")),
            Some(1)
        );
        assert_eq!(r.reminder_due(not_after, t("2026-04-02T00:00:00Z")), None);
    }

    #[test]
    fn failures_back_off_escalate_and_a_new_cycle_starts_over() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let now = t("2026-03-01T00:00:00Z");
        let policy = RenewalPolicy {
            max_attempts: 3,
            ..RenewalPolicy::default()
        };
        let mut r = RenewalState {
            renew_after: now,
            basis: RenewalBasis::Lifetime,
            window: None,
            window_recheck_at: None,
            failures: 0,
            last_error: None,
            not_before: None,
            escalated: false,
            reminded_at_days: None,
            in_flight_since: None,
        };
        r.started(now);
        assert_eq!(r.due_at(), Some(now), "in flight: carried on at once");
        r.ended();
        assert!(!r.failed("refused", &policy, now));
        assert_eq!(r.not_before, Some(t("2026-03-01T01:00:00Z")));
        assert!(!r.failed("refused", &policy, now));
        assert_eq!(r.not_before, Some(t("2026-03-01T02:00:00Z")));
        assert!(
            r.failed("refused again", &policy, now),
            "the third escalates"
        );
        assert_eq!(
            (r.due_at(), r.last_error.as_deref()),
            (Some(t("2026-03-01T04:00:00Z")), Some("refused again")),
            "and is retried after the backoff"
        );
        assert!(!r.failed("still refused", &policy, now), "escalated once");
        // Backoff caps at a day, however many failures.
        for _ in 0..20 {
            r.failed("refused", &policy, now);
        }
        assert_eq!(r.not_before, Some(t("2026-03-02T00:00:00Z")));
        // A throttle or a 5xx is not counted.
        let failures = r.failures;
        r.interrupted("CA 503", &policy, now);
        assert_eq!(r.failures, failures);
        r.restart_cycle();
        assert_eq!((r.failures, r.escalated, r.not_before), (0, false, None));
        r.hold_until(t("2026-03-02T00:00:00Z"));
        assert_eq!(r.failures, 0, "a hold is no failure");
        assert_eq!(r.due_at(), Some(t("2026-03-02T00:00:00Z")));
        let w = Window {
            start: t("2026-03-05T00:00:00Z"),
            end: t("2026-03-06T00:00:00Z"),
        };
        r.window_read(
            Some(w),
            Some((t("2026-03-05T12:00:00Z"), RenewalBasis::Ari)),
            None,
        );
        assert_eq!(
            (r.renew_after, r.basis, r.window),
            (t("2026-03-05T12:00:00Z"), RenewalBasis::Ari, Some(w))
        );
    }

    /// The certificate is embedded, and stored flat as before: a record
    /// written before the change reads back, and writes the same fields.
    #[test]
    fn the_embedded_certificate_is_stored_flat() {
        let stored = serde_json::json!({
            "domain": "shop.example.com",
            "org_id": "org-1",
            "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
            "distribution_id": "E1",
            "chain_pem": "PEM",
            "sealed_key": "KEY",
            "serial": "0a",
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": "2026-04-01T00:00:00Z",
            "renewal": {"renew_after": "2026-03-01T00:00:00Z", "basis": "lifetime"},
            "version": 3,
            "served_since": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z"
        });
        let served: ServedCertificate = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(served.certificate.serial, "0a");
        let written = serde_json::to_value(&served).unwrap();
        for field in [
            "chain_pem",
            "sealed_key",
            "serial",
            "not_before",
            "not_after",
        ] {
            assert_eq!(written[field], stored[field], "{field}");
        }
        assert!(written.get("certificate").is_none());
    }
}
