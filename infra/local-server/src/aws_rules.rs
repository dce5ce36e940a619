//! Rules AWS applies to a request that the local emulators skip, answered
//! as AWS answers them. Each rule names its source. Checked by the same SDK
//! HTTP client that enforces IAM (`iam::client`), under `make dev` and in
//! `make test`.
//!
//! | rule | AWS's answer | source |
//! |---|---|---|
//! | a distribution tenant's `Name` matches `[a-zA-Z0-9][a-zA-Z0-9-.]{1,126}[a-zA-Z0-9]` (ministack takes any) | `400 InvalidArgument` | botocore's CloudFront model, `CreateDistributionTenantRequest.Name` |
//! | ACM `ImportCertificate`: about 1 request a second per account and Region (moto takes any rate) | `400 ThrottlingException` | ACM's API rate quotas (docs.aws.amazon.com/acm/latest/userguide/acm-limits.html) |
//!
//! Waits are real under `make dev`; `make test` scales them by
//! `LOCAL_AWS_TIME_SCALE` (0.1 there: one import per 100 ms), so the rule
//! is on in every run without slowing the suite tenfold. The whole process
//! is one account: every application in it shares the rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::iam::request::Sent;

/// ACM's `ImportCertificate` rate: one a second, per account and Region.
const ACM_IMPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The factor every modelled wait is scaled by (`LOCAL_AWS_TIME_SCALE`,
/// default 1: AWS's own figures).
fn scale() -> f64 {
    static SCALE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("LOCAL_AWS_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v: &f64| *v > 0.0)
            .unwrap_or(1.0)
    })
}

/// Requests refused by a rule so far (tests read it).
static REFUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many requests the rules have refused in this process so far.
pub fn refused_so_far() -> u64 {
    REFUSED.load(std::sync::atomic::Ordering::SeqCst)
}

/// When each Region's last accepted import was.
static LAST_IMPORT: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

/// Whether an import in `region` now passes ACM's rate (and counts it).
fn import_allowed(region: &str, now: Instant, interval: Duration) -> bool {
    let mut last = LAST_IMPORT.lock().unwrap_or_else(|p| p.into_inner());
    match last.iter_mut().find(|(r, _)| r == region) {
        Some((_, at)) if now.duration_since(*at) < interval => false,
        Some((_, at)) => {
            *at = now;
            true
        }
        None => {
            last.push((region.to_owned(), now));
            true
        }
    }
}

/// How AWS refuses a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// The rule `sent` breaks, if any.
pub fn refusal(service: &str, sent: &Sent) -> Option<Refusal> {
    if service == "acm" && sent.target.ends_with(".ImportCertificate") {
        let (_, region) = sent.scope();
        let interval = ACM_IMPORT_INTERVAL.mul_f64(scale());
        if !import_allowed(region, Instant::now(), interval) {
            REFUSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Some(Refusal {
                status: 400,
                code: "ThrottlingException",
                message: "Rate exceeded".to_owned(),
            });
        }
    }
    let path = sent.path.strip_prefix("/2020-05-31").unwrap_or(sent.path);
    if service == "cloudfront" && sent.method == "POST" && path == "/distribution-tenant" {
        let name = sent
            .body
            .split("<Name>")
            .nth(1)
            .and_then(|rest| rest.split("</Name>").next())
            .unwrap_or_default();
        if !tenant_name_ok(name) {
            REFUSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Some(Refusal {
                status: 400,
                code: "InvalidArgument",
                message: format!(
                    "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][a-zA-Z0-9-.]{{1,126}}[a-zA-Z0-9]"
                ),
            });
        }
    }
    None
}

fn tenant_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    (3..=128).contains(&b.len())
        && edge(&b[0])
        && edge(&b[b.len() - 1])
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_pass_at_acms_rate_per_region() {
        let t0 = Instant::now();
        let interval = Duration::from_millis(100);
        assert!(import_allowed("test-region-a", t0, interval));
        assert!(!import_allowed(
            "test-region-a",
            t0 + Duration::from_millis(50),
            interval
        ));
        assert!(import_allowed(
            "test-region-b",
            t0 + Duration::from_millis(50),
            interval
        ));
        assert!(import_allowed(
            "test-region-a",
            t0 + Duration::from_millis(100),
            interval
        ));
    }

    #[test]
    fn a_tenant_name_past_128_characters_is_refused() {
        let create = |name: &str| {
            format!("<CreateDistributionTenantRequest><DistributionId>E1</DistributionId><Name>{name}</Name></CreateDistributionTenantRequest>")
        };
        let send = |body: &str| {
            refusal(
                "cloudfront",
                &Sent::new(
                    "POST",
                    "http://h/2020-05-31/distribution-tenant",
                    "",
                    "",
                    body,
                ),
            )
        };
        assert_eq!(send(&create("shop.example.com")), None);
        let long = format!("{}.example.com", "a".repeat(120));
        assert_eq!(
            send(&create(&long)).map(|r| r.code),
            Some("InvalidArgument")
        );
        assert!(send(&create("*.example.com")).is_some());
    }
}
