//! The quota ledger's checks (`domain::quota`): before a new hostname
//! spends anything (a claim, an order, an ACM request, a tenant), it must
//! fit in every quota it will use, renewals' room kept; a refusal is
//! `409 quota_exhausted` naming the quota and its figures. Renewals are
//! never checked: they re-import into ARNs the ledger already holds room
//! for. A quota at 80% or more is logged at each check and told once a day
//! (`Quota nearly used`).

use crate::app::App;
use crate::domain::quota::{refusal, reimports_per_year, standings, NewHostname, Standing};
use crate::domain::Timestamp;
use crate::error::{Error, Service};

/// The lifetime the yearly imports are planned for: the configured
/// profile's, and Let's Encrypt's 64 days for `classic` (from 2027-02-10;
/// 90 before), the longest a certificate now issued may see renewed within
/// the year planned for.
pub fn planned_lifetime_days(profile: Option<&str>) -> f64 {
    match profile {
        Some("tlsserver") => 45.0,
        Some("shortlived") => 160.0 / 24.0,
        _ => 64.0,
    }
}

/// Re-imports one served certificate makes in a year, as configured.
pub fn reimports(app: &App) -> u64 {
    reimports_per_year(
        planned_lifetime_days(app.config.acme_profile.as_deref()),
        app.config.renewal.fraction,
        app.config.quota_limits.count_reimports,
    )
}

/// Every quota's standing now.
pub async fn usage(app: &App) -> Result<Vec<Standing>, Error> {
    let figures = app.store.ledger_figures(Timestamp::now()).await?;
    Ok(standings(
        &figures,
        &app.config.quota_limits,
        reimports(app),
    ))
}

/// Whether a new hostname of `kind` fits: `409 quota_exhausted` if not.
pub async fn check_new(app: &App, kind: NewHostname) -> Result<(), Error> {
    let figures = app.store.ledger_figures(Timestamp::now()).await?;
    let per_year = reimports(app);
    let all = standings(&figures, &app.config.quota_limits, per_year);
    for standing in all.iter().filter(|s| s.nearly_used()) {
        warn(app, standing).await;
    }
    match refusal(&figures, &app.config.quota_limits, per_year, kind) {
        None => Ok(()),
        Some((standing, needed)) => {
            tracing::warn!(
                quota = standing.quota.as_str(),
                used = standing.used,
                reserved = standing.reserved,
                limit = standing.limit,
                needed,
                "a new hostname refused: the quota is used up"
            );
            Err(Error::QuotaExhausted {
                service: service_of(standing.quota),
                quota: standing.quota.aws_name().to_owned(),
                message: format!(
                    "{} is used up for new hostnames: {} used, {} kept for the renewals of the hostnames served, {} needed, limit {} (raise the quota with AWS, then QUOTA_{})",
                    standing.quota.aws_name(),
                    standing.used,
                    standing.reserved,
                    needed,
                    standing.limit,
                    standing.quota.as_str().to_ascii_uppercase()
                ),
                figures: Some(serde_json::json!({
                    "quota_id": standing.quota,
                    "used": standing.used,
                    "reserved": standing.reserved,
                    "needed": needed,
                    "limit": standing.limit,
                })),
            })
        }
    }
}

fn service_of(quota: crate::domain::quota::Quota) -> Service {
    use crate::domain::quota::Quota::*;
    match quota {
        AcmImportedCertificates | AcmImports365d | AcmIssuedCertificates => Service::Acm,
        DistributionTenants => Service::CloudFront,
        ApiGatewayCustomDomains => Service::ApiGateway,
    }
}

/// Logs a quota at 80% or more, and tells it once a day (the event's ID is
/// the quota and the day: a repeat is the same event, which consumers
/// drop).
async fn warn(app: &App, standing: &Standing) {
    tracing::warn!(
        quota = standing.quota.as_str(),
        used = standing.used,
        reserved = standing.reserved,
        limit = standing.limit,
        "a quota is 80% used or more"
    );
    let today = Timestamp::now().to_string();
    let today = today.get(..10).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("quota\0{}\0{today}", standing.quota.as_str()).as_bytes(),
    );
    let id: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let detail = serde_json::json!({
        "event_id": id,
        "quota": standing.quota,
        "aws_name": standing.quota.aws_name(),
        "used": standing.used,
        "reserved": standing.reserved,
        "limit": standing.limit,
    });
    let kind = crate::domain::announce::EventKind::QuotaNearlyUsed;
    if let Err(e) = app.events.send(kind.detail_type(), &detail).await {
        tracing::warn!(error = %e, "could not tell the quota warning");
    }
}
