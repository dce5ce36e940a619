//! ACM's rules.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{scaled, InFlight, Refusal};
use crate::direct::Tags;
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

/// The certificate an `ImportCertificate` replaces (a re-import), if any.
fn reimported(sent: &Sent) -> Option<String> {
    if !sent.target.ends_with(".ImportCertificate") {
        return None;
    }
    let body: serde_json::Value = serde_json::from_str(sent.body).unwrap_or_default();
    body["CertificateArn"].as_str().map(str::to_owned)
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
        // A re-imported certificate keeps its tags; ACM takes none with it.
        let body: serde_json::Value = serde_json::from_str(sent.body).unwrap_or_default();
        let tagged = body["Tags"].as_array().is_some_and(|t| !t.is_empty());
        if body["CertificateArn"].is_string() && tagged {
            return Err(Refusal::new(
                400,
                "ValidationException",
                "Tagging is not permitted on re-import.",
            ));
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

/// moto's re-import stores a new certificate at the ARN, without the tags
/// the old one had; ACM keeps them. So the tags are read before a re-import
/// is sent and, once it succeeded, added back before the caller sees the
/// answer: from then on moto reads as ACM would (IAM's `aws:ResourceTag`
/// conditions included). A re-import is made under the hostname's lease,
/// so nothing else reads the certificate's tags in between.
pub(super) fn keep_tags_on_reimport(sent: &Sent, flight: &mut InFlight) {
    let Some(arn) = reimported(sent) else {
        return;
    };
    let kept: Arc<Mutex<Option<Tags>>> = Arc::default();
    let (read, arn_read) = (kept.clone(), arn.clone());
    flight.before_sending(move |direct| {
        Box::pin(async move {
            match direct.acm_tags(&arn_read).await {
                Ok(tags) => *read.lock().unwrap_or_else(|p| p.into_inner()) = tags,
                Err(e) => tracing::warn!(error = %e, arn = %arn_read, "aws_rules: could not read a re-imported certificate's tags"),
            }
        })
    });
    flight.after_answer(move |status, direct| {
        Box::pin(async move {
            let tags = kept.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let (200, Some(tags)) = (status, tags.filter(|t| !t.is_empty())) {
                if let Err(e) = direct.acm_add_tags(&arn, &tags).await {
                    tracing::warn!(error = %e, %arn, "aws_rules: could not give a re-imported certificate its tags back");
                }
            }
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reimport_with_tags_is_refused_as_acm_refuses_it() {
        let auth = "AWS4-HMAC-SHA256 Credential=t/20261203/test-region-c/acm/aws4_request, SignedHeaders=host";
        let import = |body: &str| {
            before(
                &Sent::new(
                    "POST",
                    "http://h/",
                    auth,
                    "CertificateManager.ImportCertificate",
                    body,
                ),
                &mut InFlight::default(),
            )
            .err()
            .map(|r| (r.status, r.code, r.message))
        };
        let tags = r#""Tags":[{"Key":"custom-domains:stack","Value":"s"}]"#;
        assert_eq!(
            import(&format!(
                r#"{{"CertificateArn":"arn:aws:acm:x:1:certificate/c",{tags}}}"#
            )),
            Some((
                400,
                "ValidationException",
                "Tagging is not permitted on re-import.".to_owned()
            ))
        );
        // A first import takes tags; a re-import without them passes (each
        // a second apart, ACM's rate being modelled too).
        std::thread::sleep(IMPORT_INTERVAL);
        assert_eq!(import(&format!("{{{tags}}}")), None);
        std::thread::sleep(IMPORT_INTERVAL);
        assert_eq!(
            import(r#"{"CertificateArn":"arn:aws:acm:x:1:certificate/c"}"#),
            None
        );
    }

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
