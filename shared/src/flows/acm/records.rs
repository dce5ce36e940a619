//! ACM's validation records, learnt once per request: by request-domain,
//! or, when ACM publishes them late, by the next request-domain or
//! domain-status call.
//!
//! ACM's CNAME is the same for every certificate of a name in one account
//! (ACM User Guide, "DNS validation"), and ACM issues as soon as it finds
//! it in DNS. So the record proves nothing about *this* workspace when
//! someone else may have published it: a previous claimant's can still be
//! in DNS (tenants rarely clean up), and ACM would issue the new
//! claimant's certificate on its strength. Where that may be so, the
//! workspace also publishes its own claim record
//! (`flows::hostname::claim::claim_record`, the record a takeover and the
//! ACME path use), and nothing is configured until it is seen
//! (`flows::acm::advance`). Decided for every new request, when it learns
//! ACM's records: the name's previous claim may have ended since the last
//! one.

use crate::app::App;
use crate::domain::{AcmRequest, ClaimProof, OwnershipRecord, ValidationRecord};
use crate::error::Error;

/// Records ACM's validation records the first time they are known, before
/// anyone has been shown them, and the claim record the workspace must
/// publish too if ACM's CNAME alone is not proof enough ([`claim_proof`]).
pub(crate) async fn learn_records(
    app: &App,
    request: &mut AcmRequest,
    records: Vec<ValidationRecord>,
) -> Result<(), Error> {
    if records.is_empty() || !request.validation_records.is_empty() {
        return Ok(());
    }
    let why = claim_proof(app, request, &records).await?;
    request.validation_records = records;
    if let Some(reason) = why {
        let (name, value) =
            crate::flows::hostname::claim::claim_record(&request.domain, &request.workspace_id);
        tracing::info!(domain = %request.domain, reason = reason.as_str(), "ACM's validation record alone could be someone else's: claim record required");
        request.ownership_record = Some(OwnershipRecord {
            record: ValidationRecord {
                name,
                value,
                record_type: "TXT".into(),
            },
            reason,
        });
    }
    Ok(())
}

/// Why the workspace must also publish its claim record for `request`,
/// whose ACM records are `records`: another tenant claimed the name within
/// 30 days of this request (its CNAME may still be in DNS, or come back),
/// or ACM's CNAME already answers before anyone was shown it.
async fn claim_proof(
    app: &App,
    request: &AcmRequest,
    records: &[ValidationRecord],
) -> Result<Option<ClaimProof>, Error> {
    let previous = app.store.load_hostname(&request.domain).await?.previous;
    if previous.is_some_and(|p| p.asks_proof_of(&request.workspace_id, request.created_at)) {
        return Ok(Some(ClaimProof::RecentClaimant));
    }
    Ok(cname_already_answers(app, records)
        .await
        .then_some(ClaimProof::RecordAlreadyAnswers))
}

/// Whether any of ACM's CNAMEs already answers its value. Not knowable
/// (every resolver failed) counts as answering, so a previous owner's
/// record is never trusted by default.
async fn cname_already_answers(app: &App, records: &[ValidationRecord]) -> bool {
    let mut already_there = false;
    for record in records.iter().filter(|r| r.record_type == "CNAME") {
        let value = record.value.trim_end_matches('.').to_ascii_lowercase();
        let seen = app.dns.observe_cname(&record.name).await;
        already_there |= seen.iter().any(|o| o.targets.contains(&value))
            || (!seen.is_empty() && seen.iter().all(|o| o.error.is_some()));
    }
    already_there
}
