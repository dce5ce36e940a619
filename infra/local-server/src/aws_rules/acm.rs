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

/// `ListCertificates` sorted as asked (`SortBy: CREATED_AT`, with
/// `SortOrder`): moto ignores both and lists in the order it made them.
/// (moto answers every certificate in one page, so sorting the page sorts
/// the whole list.)
fn sort_listing(request: &str, answer: &mut String) {
    let asked: serde_json::Value = serde_json::from_str(request).unwrap_or_default();
    if asked["SortBy"] != "CREATED_AT" {
        return;
    }
    let descending = asked["SortOrder"] == "DESCENDING";
    let Ok(mut listed) = serde_json::from_str::<serde_json::Value>(answer) else {
        return;
    };
    if let Some(list) = listed["CertificateSummaryList"].as_array_mut() {
        let made = |c: &serde_json::Value| {
            c["ImportedAt"]
                .as_f64()
                .or_else(|| c["CreatedAt"].as_f64())
                .unwrap_or(0.0)
        };
        list.sort_by(|a, b| made(a).total_cmp(&made(b)));
        if descending {
            list.reverse();
        }
    }
    *answer = listed.to_string();
}

pub(super) fn before(sent: &Sent, flight: &mut InFlight) -> Result<(), Refusal> {
    if sent.target.ends_with(".ListCertificates") {
        let request = sent.body.to_owned();
        flight.on_answer(move |status, answer| {
            if status == 200 {
                sort_listing(&request, answer)
            }
        });
    }
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
    fn a_listing_asked_newest_first_is_sorted_so() {
        let mut answer = r#"{"CertificateSummaryList":[{"CertificateArn":"old","ImportedAt":1.0},{"CertificateArn":"new","ImportedAt":3.0},{"CertificateArn":"mid","CreatedAt":2.0}]}"#.to_owned();
        sort_listing(
            r#"{"SortBy":"CREATED_AT","SortOrder":"DESCENDING"}"#,
            &mut answer,
        );
        let listed: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let arns: Vec<&str> = listed["CertificateSummaryList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["CertificateArn"].as_str().unwrap())
            .collect();
        assert_eq!(arns, ["new", "mid", "old"]);
    }

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
