//! When a served certificate is renewed, and how failed renewals back off.
//! Pure functions of the certificate, the CA's window and the policy.
//!
//! **When.** Where the CA offers ARI (RFC 9773), a uniformly random time in
//! its suggested window (spreading renewals, as the RFC asks); otherwise the
//! moment `RENEWAL_FRACTION` of the lifetime has passed (default ⅔, as
//! certbot and cert-manager do). Two limits apply on top:
//! - a hostname whose `_acme-challenge` is not delegated needs its tenant to
//!   publish a new TXT record, so its renewal starts no later than
//!   `RENEWAL_DNS_LEAD_DAYS` before expiry (default 30, at most half the
//!   lifetime), leaving a person time to act;
//! - never later than the emergency margin before `notAfter`
//!   (`RENEWAL_EMERGENCY_MARGIN_HOURS`, default 7 days, at most a third of
//!   the lifetime, so short-lived certificates still renew in time).
//!
//! **Backoff.** A failed attempt (the CA refused, an import failed) leaves
//! the old certificate served and is retried after 1 h, 2 h, 4 h, … doubling
//! up to 24 h. That keeps a failing hostname to at most one new order and one
//! failed validation an hour (Let's Encrypt allows 5 failed validations per
//! name per hour and 300 new orders per account per 3 h, shared by every
//! tenant) while still retrying daily until it succeeds. Only refusals
//! count (a 5xx, a throttle or a timeout is retried without counting).
//! After [`RenewalPolicy::max_attempts`] counted failures in one cycle the
//! renewal escalates: the status route says the platform must act and the
//! platform is told, at once and again at fixed lead times before expiry,
//! while the sweep keeps retrying at the capped interval: a renewal that
//! stopped trying would let the certificate expire once the cause is fixed
//! by someone who never calls renew-now.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Timestamp;

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct RenewalPolicy {
    /// Fraction of the lifetime after which to renew without ARI.
    pub fraction: f64,
    /// Never renew later than this before expiry (capped at lifetime / 3).
    pub emergency_margin: Duration,
    /// A non-delegated hostname's renewal starts this long before expiry
    /// (capped at lifetime / 2).
    pub dns_lead: Duration,
    /// First retry delay after a failure; doubles per failure.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// Counted failures in one renewal cycle after which the renewal
    /// escalates to the platform (the sweep goes on retrying).
    pub max_attempts: u32,
    /// How often the sweep looks again at a renewal waiting for the
    /// tenant's TXT record.
    pub dns_recheck: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            fraction: 2.0 / 3.0,
            emergency_margin: 7 * DAY,
            dns_lead: 30 * DAY,
            retry_base: HOUR,
            retry_cap: DAY,
            max_attempts: 12,
            dns_recheck: HOUR,
        }
    }
}

/// Where a renewal time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenewalBasis {
    /// A random time in the CA's ARI window.
    Ari,
    /// A fraction of the certificate's lifetime.
    Lifetime,
    /// Moved earlier so a person can publish a TXT record in time.
    DnsLead,
    /// Moved earlier to the emergency margin before expiry.
    EmergencyMargin,
}

/// A suggested renewal window, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

fn scale(d: Duration, f: f64) -> Duration {
    Duration::from_secs_f64((d.as_secs_f64() * f).max(0.0))
}

impl RenewalPolicy {
    /// When to renew a certificate valid from `not_before` to `not_after`.
    /// `pick` in `[0, 1)` chooses the point in the ARI window.
    pub fn renew_time(
        &self,
        not_before: Timestamp,
        not_after: Timestamp,
        window: Option<&Window>,
        delegated: bool,
        pick: f64,
    ) -> (Timestamp, RenewalBasis) {
        let lifetime = not_before.until(not_after);
        let (mut at, mut basis) = match window {
            Some(w) => (
                w.start
                    .plus(scale(w.start.until(w.end), pick.clamp(0.0, 1.0))),
                RenewalBasis::Ari,
            ),
            None => (
                not_before.plus(scale(lifetime, self.fraction)),
                RenewalBasis::Lifetime,
            ),
        };
        if !delegated {
            let lead = not_after.minus(self.dns_lead.min(lifetime / 2));
            if lead < at {
                (at, basis) = (lead, RenewalBasis::DnsLead);
            }
        }
        let latest = not_after.minus(self.emergency_margin.min(lifetime / 3));
        if latest < at {
            (at, basis) = (latest, RenewalBasis::EmergencyMargin);
        }
        (at.max(not_before), basis)
    }

    /// The delay before attempt `failures + 1`, after `failures` failures.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        (self.retry_base * 2u32.pow(doublings)).min(self.retry_cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn lifetime_fraction_without_ari() {
        let p = RenewalPolicy::default();
        let (nb, na) = (t("2026-01-01T00:00:00Z"), t("2026-04-01T00:00:00Z")); // 90 days
        let (at, basis) = p.renew_time(nb, na, None, true, 0.5);
        assert_eq!(basis, RenewalBasis::Lifetime);
        assert_eq!(at, nb.plus(60 * DAY));
        // Not delegated: 30 days before expiry is the same day here.
        let (at, _) = p.renew_time(nb, na, None, false, 0.5);
        assert_eq!(at, na.minus(30 * DAY));
    }

    #[test]
    fn ari_window_and_limits() {
        let p = RenewalPolicy::default();
        let (nb, na) = (t("2026-01-01T00:00:00Z"), t("2031-01-01T00:00:00Z")); // 5 years
        let w = Window {
            start: t("2026-02-01T00:00:00Z"),
            end: t("2026-02-03T00:00:00Z"),
        };
        let (at, basis) = p.renew_time(nb, na, Some(&w), false, 0.5);
        assert_eq!((at, basis), (t("2026-02-02T00:00:00Z"), RenewalBasis::Ari));
        // A window past the emergency margin is pulled in.
        let late = Window {
            start: na.minus(DAY),
            end: na,
        };
        let (at, basis) = p.renew_time(nb, na, Some(&late), true, 0.0);
        assert_eq!(
            (at, basis),
            (na.minus(7 * DAY), RenewalBasis::EmergencyMargin)
        );
        // Short-lived (6 days): margin is a third of the lifetime.
        let short = nb.plus(6 * DAY);
        let (at, _) = p.renew_time(nb, short, None, true, 0.0);
        assert_eq!(at, nb.plus(4 * DAY));
    }

    #[test]
    fn backoff_doubles_to_a_day() {
        let p = RenewalPolicy::default();
        let hours: Vec<u64> = (1..=7).map(|f| p.retry_delay(f).as_secs() / 3600).collect();
        assert_eq!(hours, [1, 2, 4, 8, 16, 24, 24]);
    }
}
