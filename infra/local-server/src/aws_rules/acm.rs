//! ACM's rules.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{scaled, InFlight, Refusal};
use crate::iam::request::Sent;

/// When each certificate was last imported (its ARN from the answer), for
/// CloudFront's rule on certificates imported seconds ago
/// (`cloudfront.rs`).
static IMPORTED: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

/// When the certificate at `arn` was last imported through this process.
pub(super) fn imported_at(arn: &str) -> Option<Instant> {
    let imported = IMPORTED.lock().unwrap_or_else(|p| p.into_inner());
    imported.iter().find(|(a, _)| a == arn).map(|(_, at)| *at)
}

/// ACM's `ImportCertificate` rate: one a second, per account and Region.
const IMPORT_INTERVAL: Duration = Duration::from_secs(1);

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

pub(super) fn before(sent: &Sent, flight: &mut InFlight) -> Result<(), Refusal> {
    if sent.target.ends_with(".ImportCertificate") {
        let (_, region) = sent.scope();
        if !import_allowed(region, Instant::now(), scaled(IMPORT_INTERVAL)) {
            return Err(Refusal::new(400, "ThrottlingException", "Rate exceeded"));
        }
        flight.on_answer(|status, body| {
            let arn = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["CertificateArn"].as_str().map(str::to_owned));
            if let (200, Some(arn)) = (status, arn) {
                let mut imported = IMPORTED.lock().unwrap_or_else(|p| p.into_inner());
                imported.retain(|(a, _)| *a != arn);
                imported.push((arn, Instant::now()));
            }
        });
    }
    Ok(())
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
}
