//! ACM's rules.
//!
//! DNS validation, as the ACM User Guide's "DNS validation" describes it
//! (docs.aws.amazon.com/acm/latest/userguide/dns-validation.html): ACM
//! asks for one CNAME record per name, `_<x1>.<name>.` pointing at
//! `_<x2>.<y>.acm-validations.aws.`, and that record is the same for every
//! certificate of the name in one account, so it can stay in DNS for every
//! renewal and every later certificate; ACM issues once it finds the record
//! in public DNS, and keeps trying for 72 hours, after which the
//! certificate is `VALIDATION_TIMED_OUT` (botocore's ACM model,
//! `CertificateDetail.Status`: "ACM makes repeated attempts to validate a
//! certificate for 72 hours and then times out"). moto 5.2 asks for one
//! fixed record (the same label under every name, one value for all) and
//! issues `MOTO_ACM_VALIDATION_WAIT` seconds after the request whatever DNS
//! holds. So `DescribeCertificate`'s answers, the only ones that carry the
//! records and each name's validation status, are rewritten here: the
//! record becomes one per account and name ([`validation_record`]), and the
//! certificate reads `PENDING_VALIDATION` until that record answers in
//! public DNS (`public_dns`: the stack's resolver) and moto has issued it
//! too. `RequestCertificate` answers only the ARN; `GetCertificate` and
//! `ListCertificates` carry no records (their `Status`, and `GetCertificate`
//! on a certificate not yet issued, stay moto's: the product reads a
//! requested certificate through `DescribeCertificate` only).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::public_dns::{self, Cname};
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

/// How long ACM keeps trying to validate a requested certificate before it
/// reads `VALIDATION_TIMED_OUT`.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(72 * 3600);

/// The certificates this process has reported issued (their ARNs): ACM
/// takes nothing back when the record later leaves DNS (it is needed again
/// only at renewal). Kept in memory: a restarted local server reads such a
/// certificate pending again until its record answers.
static VALIDATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn validated_before(arn: &str) -> bool {
    let validated = VALIDATED.lock().unwrap_or_else(|p| p.into_inner());
    validated.iter().any(|a| a == arn)
}

fn remember_validated(arn: &str) {
    let mut validated = VALIDATED.lock().unwrap_or_else(|p| p.into_inner());
    if !validated.iter().any(|a| a == arn) {
        validated.push(arn.to_owned());
    }
}

/// One validation CNAME: `name` must point at `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidationRecord {
    pub name: String,
    pub value: String,
}

/// SHA-256 over `parts`, each ended by a NUL.
fn digest(parts: &[&str]) -> aws_lc_rs::digest::Digest {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    ctx.finish()
}

/// 32 hex digits of SHA-256 over `parts`.
fn hex32(parts: &[&str]) -> String {
    digest(parts).as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The CNAME ACM asks for to validate `domain` in `account`: the same for
/// every certificate of the name in the account (a wildcard's is its
/// base name's), in ACM's shape, `_<32 hex>.<name>.` →
/// `_<32 hex>.<10 letters>.acm-validations.aws.`; derived from the account
/// and the name, so it looks random and is stable across restarts.
pub(crate) fn validation_record(account: &str, domain: &str) -> ValidationRecord {
    let domain = public_dns::bare(domain.strip_prefix("*.").unwrap_or(domain));
    let zone: String = digest(&["zone", account, &domain]).as_ref()[..10]
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    ValidationRecord {
        name: format!("_{}.{domain}.", hex32(&["name", account, &domain])),
        value: format!(
            "_{}.{zone}.acm-validations.aws.",
            hex32(&["value", account, &domain])
        ),
    }
}

/// Whether public DNS answers `record` now. ACM also takes the value
/// without its leading underscore, for DNS hosts that refuse one (ACM User
/// Guide, "Troubleshoot DNS validation problems").
async fn answers(record: &ValidationRecord) -> Option<bool> {
    let want = public_dns::bare(&record.value);
    match public_dns::cname(&record.name).await {
        Cname::Targets(targets) => Some(
            targets
                .iter()
                .any(|t| *t == want || Some(t.as_str()) == want.strip_prefix('_')),
        ),
        Cname::Failed(e) => {
            tracing::debug!(name = %record.name, error = %e, "aws_rules: ACM's look at a validation record failed");
            Some(false)
        }
        Cname::NoResolver => None,
    }
}

/// Where a requested certificate's validation stands, as ACM reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Validation {
    Pending,
    Issued,
    TimedOut,
}

impl Validation {
    /// The certificate's `Status`.
    fn status(self) -> &'static str {
        match self {
            Validation::Pending => "PENDING_VALIDATION",
            Validation::Issued => "ISSUED",
            Validation::TimedOut => "VALIDATION_TIMED_OUT",
        }
    }

    /// Each name's `ValidationStatus` (ACM's `DomainStatus`).
    fn domain_status(self) -> &'static str {
        match self {
            Validation::Pending => "PENDING_VALIDATION",
            Validation::Issued => "SUCCESS",
            Validation::TimedOut => "FAILED",
        }
    }
}

/// What decides a requested certificate's validation.
#[derive(Clone, Copy, Debug)]
struct Looked {
    /// moto has issued it (its wait is over).
    moto_issued: bool,
    /// This process reported it issued before.
    issued_before: bool,
    /// Every name's record answers in public DNS now.
    records_answer: bool,
    /// Since it was requested.
    age: Duration,
    /// ACM's 72 hours, scaled for this run.
    timeout: Duration,
}

/// ACM's verdict, decided when the certificate is read: issued stays
/// issued; past the 72 hours it has timed out, whatever DNS answers now
/// (when the record was published in between is not known here); before,
/// issued once every record answers and moto's own wait is over.
fn validation(looked: Looked) -> Validation {
    if looked.issued_before {
        Validation::Issued
    } else if looked.age >= looked.timeout {
        Validation::TimedOut
    } else if looked.moto_issued && looked.records_answer {
        Validation::Issued
    } else {
        Validation::Pending
    }
}

/// The account a certificate ARN names (`arn:aws:acm:<region>:<account>:…`).
fn account_of(arn: &str) -> &str {
    arn.split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .unwrap_or(crate::iam::ACCOUNT)
}

/// Replaces each validation record of `certificate` (a `DescribeCertificate`
/// answer's `Certificate`) with ACM's for its name; answers them. A name
/// whose record moto has not published yet is left without one.
fn with_acm_records(certificate: &mut Value) -> Vec<ValidationRecord> {
    let arn = certificate["CertificateArn"].as_str().unwrap_or_default();
    let account = account_of(arn).to_owned();
    let mut records = Vec::new();
    let options = certificate["DomainValidationOptions"].as_array_mut();
    for option in options.into_iter().flatten() {
        let Some(domain) = option["DomainName"].as_str() else {
            continue;
        };
        if !option["ResourceRecord"].is_object() {
            continue;
        }
        let record = validation_record(&account, domain);
        option["ResourceRecord"] = serde_json::json!({
            "Name": record.name,
            "Type": "CNAME",
            "Value": record.value,
        });
        records.push(record);
    }
    records
}

/// Sets `certificate`'s status, and each name's, to `validation`'s.
fn report(certificate: &mut Value, validation: Validation) {
    certificate["Status"] = Value::from(validation.status());
    let options = certificate["DomainValidationOptions"].as_array_mut();
    for option in options.into_iter().flatten() {
        option["ValidationStatus"] = Value::from(validation.domain_status());
    }
}

/// The time since `certificate` was requested (`CreatedAt`, epoch seconds).
fn age(certificate: &Value) -> Duration {
    let created = certificate["CreatedAt"].as_f64().unwrap_or(0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Duration::try_from_secs_f64(now - created).unwrap_or_default()
}

/// A `DescribeCertificate` answer as ACM would give it: ACM's records, and
/// the certificate pending until they answer in public DNS.
async fn validated_answer(status: u16, answer: String) -> String {
    if status != 200 {
        return answer;
    }
    let Ok(mut described) = serde_json::from_str::<Value>(&answer) else {
        return answer;
    };
    let certificate = &mut described["Certificate"];
    let records = with_acm_records(certificate);
    if records.is_empty() {
        return answer;
    }
    let moto_status = certificate["Status"].as_str().unwrap_or_default();
    if !matches!(moto_status, "PENDING_VALIDATION" | "ISSUED") {
        return described.to_string();
    }
    let arn = certificate["CertificateArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut records_answer = true;
    for record in &records {
        match answers(record).await {
            Some(answered) => records_answer &= answered,
            None => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| tracing::warn!("aws_rules: no resolver for ACM's DNS validation (RECURSIVE_RESOLVER unset): moto's status stands"));
                return described.to_string();
            }
        }
    }
    let looked = Looked {
        moto_issued: moto_status == "ISSUED",
        issued_before: validated_before(&arn),
        records_answer,
        age: age(certificate),
        timeout: scaled(VALIDATION_TIMEOUT),
    };
    let validation = validation(looked);
    if validation == Validation::Issued && !arn.is_empty() {
        remember_validated(&arn);
    }
    report(certificate, validation);
    described.to_string()
}

pub(super) fn before(sent: &Sent, flight: &mut InFlight) -> Result<(), Refusal> {
    if sent.target.ends_with(".DescribeCertificate") {
        flight.rewrite_answer(|status, answer| Box::pin(validated_answer(status, answer)));
    }
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
    fn the_validation_record_is_one_per_account_and_name_in_acms_shape() {
        let r = validation_record("123456789012", "Shop.Example.com.");
        assert_eq!(r, validation_record("123456789012", "shop.example.com"));
        assert_eq!(r, validation_record("123456789012", "*.shop.example.com"));
        assert_ne!(r, validation_record("210987654321", "shop.example.com"));
        assert_ne!(r, validation_record("123456789012", "www.example.com"));
        let (label, rest) = r.name.split_once('.').unwrap();
        assert_eq!(rest, "shop.example.com.");
        assert!(label.starts_with('_') && label.len() == 33, "{}", r.name);
        let labels: Vec<&str> = r.value.split('.').collect();
        assert_eq!(labels.len(), 5, "{}", r.value);
        assert!(labels[0].starts_with('_') && labels[0].len() == 33);
        assert!(labels[1].len() == 10 && labels[1].bytes().all(|b| b.is_ascii_lowercase()));
        assert_eq!(labels[2..], ["acm-validations", "aws", ""]);
    }

    #[test]
    fn a_certificate_is_issued_only_once_its_record_answers() {
        let hour = Duration::from_secs(3600);
        let looked = Looked {
            moto_issued: true,
            issued_before: false,
            records_answer: false,
            age: hour,
            timeout: 72 * hour,
        };
        assert_eq!(validation(looked), Validation::Pending);
        let answered = Looked {
            records_answer: true,
            ..looked
        };
        assert_eq!(validation(answered), Validation::Issued);
        // moto's own wait is not over yet.
        let early = Looked {
            moto_issued: false,
            ..answered
        };
        assert_eq!(validation(early), Validation::Pending);
        // Issued stays issued, the record gone or not.
        let before = Looked {
            issued_before: true,
            ..looked
        };
        assert_eq!(validation(before), Validation::Issued);
        let late = Looked {
            age: 72 * hour,
            ..looked
        };
        assert_eq!(validation(late), Validation::TimedOut);
    }

    #[test]
    fn a_described_certificate_reads_acms_records_and_status() {
        let mut certificate: Value = serde_json::json!({
            "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/c",
            "Status": "ISSUED",
            "DomainValidationOptions": [
                {
                    "DomainName": "shop.example.com",
                    "ValidationStatus": "SUCCESS",
                    "ResourceRecord": {
                        "Name": "_d930b28be6c5927595552b219965053e.shop.example.com.",
                        "Type": "CNAME",
                        "Value": "_c9edd76ee4a0e2a74388032f3861cc50.ykybfrwcxw.acm-validations.aws."
                    }
                },
                { "DomainName": "www.example.com", "ValidationStatus": "PENDING_VALIDATION" }
            ]
        });
        let records = with_acm_records(&mut certificate);
        let acm = validation_record("123456789012", "shop.example.com");
        assert_eq!(records, std::slice::from_ref(&acm));
        let record = &certificate["DomainValidationOptions"][0]["ResourceRecord"];
        assert_eq!(record["Name"], acm.name.as_str());
        assert_eq!(record["Value"], acm.value.as_str());
        // Not published yet: left so.
        assert!(certificate["DomainValidationOptions"][1]["ResourceRecord"].is_null());
        report(&mut certificate, Validation::Pending);
        assert_eq!(certificate["Status"], "PENDING_VALIDATION");
        assert_eq!(
            certificate["DomainValidationOptions"][0]["ValidationStatus"],
            "PENDING_VALIDATION"
        );
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
