//! API Gateway's rules for custom domain names: `CreateDomainName` and
//! `DeleteDomainName` each take one request per 30 s per account, not
//! adjustable (`TooManyRequestsException`, 429); and an account holds 120
//! custom domains per Region, adjustable (API Gateway quotas:
//! docs.aws.amazon.com/apigateway/latest/developerguide/limits.html and
//! http-api-quotas.html). moto takes any rate and any number.
//!
//! AWS documents no answer for the domain quota; the model answers it as
//! the HTTP API's model allows a quota to be answered,
//! `TooManyRequestsException` naming a `limitType` — one of the things
//! only a real account can confirm (README, "What only a real account can
//! confirm").

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{scaled, InFlight, Refusal};
use crate::iam::request::Sent;

/// One `CreateDomainName`, and one `DeleteDomainName`, per 30 s.
const DOMAIN_CHANGE_INTERVAL: Duration = Duration::from_secs(30);

/// Custom domains per Region (`API_DOMAIN_QUOTA` overrides it, so a test
/// can reach it).
fn domain_quota() -> usize {
    std::env::var("LOCAL_API_DOMAIN_QUOTA")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

#[derive(Default)]
struct State {
    last_create: Option<Instant>,
    last_delete: Option<Instant>,
    /// The custom domains created through this process and not deleted.
    domains: BTreeSet<String>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(State::default))
}

fn too_many() -> Refusal {
    Refusal::new(429, "TooManyRequestsException", "Too Many Requests")
}

/// Whether a change at `now` passes the pacing (and counts it).
fn paced(last: &mut Option<Instant>, now: Instant, interval: Duration) -> bool {
    match last {
        Some(at) if now.duration_since(*at) < interval => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}

pub(super) fn before(sent: &Sent, flight: &mut InFlight) -> Result<(), Refusal> {
    let interval = scaled(DOMAIN_CHANGE_INTERVAL);
    let now = Instant::now();
    match (sent.method, sent.path) {
        ("POST", "/v2/domainnames") => {
            let name = serde_json::from_str::<serde_json::Value>(sent.body)
                .ok()
                .and_then(|v| v["domainName"].as_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            let full =
                with_state(|s| !s.domains.contains(&name) && s.domains.len() >= domain_quota());
            if full {
                return Err(Refusal::new(
                    429,
                    "TooManyRequestsException",
                    format!("Maximum number of custom domain names ({}) reached for this account in this Region", domain_quota()),
                )
                .with("limitType", serde_json::json!("DomainNames")));
            }
            if !with_state(|s| paced(&mut s.last_create, now, interval)) {
                return Err(too_many());
            }
            flight.on_answer(move |status, _| {
                if (200..300).contains(&status) {
                    with_state(|s| s.domains.insert(name));
                }
            });
        }
        ("DELETE", p) if p.starts_with("/v2/domainnames/") && !p.contains("/apimappings") => {
            let name = p
                .trim_start_matches("/v2/domainnames/")
                .to_ascii_lowercase();
            if !with_state(|s| paced(&mut s.last_delete, now, interval)) {
                return Err(too_many());
            }
            flight.on_answer(move |status, _| {
                if (200..300).contains(&status) || status == 404 {
                    with_state(|s| s.domains.remove(&name));
                }
            });
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_changes_are_paced_one_per_interval() {
        let mut last = None;
        let t0 = Instant::now();
        let interval = Duration::from_millis(300);
        assert!(paced(&mut last, t0, interval));
        assert!(!paced(&mut last, t0 + Duration::from_millis(299), interval));
        assert!(paced(&mut last, t0 + Duration::from_millis(300), interval));
    }
}
