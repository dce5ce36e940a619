//! ACM's validation records, learnt once per request: by request-domain,
//! or, when ACM publishes them late, by the next request-domain or
//! domain-status call.

use crate::app::App;
use crate::domain::AcmRequest;

/// Records ACM's validation records the first time they are known, before
/// anyone has been shown them. If ACM's CNAME already answers its value
/// then, it was not published for this request (ACM's record is the same
/// for every certificate of the name in the account: a previous owner's may
/// still be in DNS, and ACM would issue on its strength), so the workspace
/// must also publish its own ownership TXT record before anything is
/// configured (`flows::hostname::claim::claim_record`).
pub(crate) async fn learn_records(
    app: &App,
    request: &mut AcmRequest,
    records: Vec<crate::domain::ValidationRecord>,
) {
    if records.is_empty() || !request.validation_records.is_empty() {
        return;
    }
    let mut already_there = false;
    for record in records.iter().filter(|r| r.record_type == "CNAME") {
        let value = record.value.trim_end_matches('.').to_ascii_lowercase();
        let seen = app.dns.observe_cname(&record.name).await;
        // Not knowable (every resolver failed): taken as there, so a
        // previous owner's record is never trusted by default.
        already_there |= seen.iter().any(|o| o.targets.contains(&value))
            || (!seen.is_empty() && seen.iter().all(|o| o.error.is_some()));
    }
    request.validation_records = records;
    if already_there {
        let (name, value) =
            crate::flows::hostname::claim::claim_record(&request.domain, &request.workspace_id);
        tracing::info!(domain = %request.domain, "ACM's validation record predates the request: ownership record required");
        request.ownership_record = Some(crate::domain::ValidationRecord {
            name,
            value,
            record_type: "TXT".into(),
        });
    }
}
