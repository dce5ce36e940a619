//! The quota ledger: a new hostname that would pass one of AWS's quotas is
//! refused (`409 quota_exhausted`, the quota and its figures) before
//! anything is claimed or made; the yearly ACM imports keep room for the
//! served certificates' renewals, so a renewal goes through where a new
//! hostname is refused; a quota at 80% is told. Each test has a table of
//! its own, and so a ledger of its own.

use custom_domains::domain::DomainName;
use serde_json::{json, Value};

use crate::support::eventbridge::told_such;
use crate::support::*;

/// Another hostname, for a second start by the same organisation.
fn another() -> String {
    format!("{}.example.com", unique("more"))
}

async fn start_other(t: &Tenant, body: Value) -> (u16, Value) {
    post(&t.token, &t.start_url(), &body.to_string()).await
}

/// Refused as the quota `quota_id`, and nothing of `domain` was made: no
/// claim, no distribution tenant, no ACM certificate.
async fn refused_before_anything(t: &Tenant, domain: &str, answer: &(u16, Value), quota_id: &str) {
    let (status, body) = answer;
    assert_eq!(
        (*status, body["code"].as_str()),
        (409, Some("quota_exhausted")),
        "{body}"
    );
    assert_eq!(body["details"]["quota_id"], quota_id, "{body}");
    for figure in ["used", "reserved", "needed", "limit"] {
        assert!(body["details"][figure].is_u64(), "{body}");
    }
    let name = DomainName::parse(domain).unwrap();
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(records.owner.is_none(), "{domain} was claimed");
    let cf = cloudfront_client(&sdk_config(None).await);
    assert!(cf
        .get_distribution_tenant_by_domain()
        .domain(domain)
        .send()
        .await
        .is_err());
    assert!(crate::acme_path::acm_certificates_for(domain)
        .await
        .is_empty());
}

/// A tenant on the shared edge whose quota `env` is `limit` serves one
/// hostname, then starts another: the tenant, the other name, the answer.
async fn one_served_then_another(env: &str, limit: &str) -> (Tenant, String, (u16, Value)) {
    let t = tenant()
        .shared_edge()
        .own_table()
        .env(env, limit)
        .start()
        .await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let other = another();
    let answer = start_other(&t, json!({ "domain": other })).await;
    (t, other, answer)
}

#[tokio::test]
async fn the_tenants_quota_refuses_the_next_hostname_before_anything_is_spent_and_warns_at_80_percent(
) {
    let (t, other, answer) = one_served_then_another("QUOTA_DISTRIBUTION_TENANTS", "1").await;
    refused_before_anything(&t, &other, &answer, "distribution_tenants").await;
    assert_eq!(
        (
            answer.1["details"]["used"].as_u64(),
            answer.1["details"]["limit"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // A managed certificate needs a tenant too.
    let answer = start_other(&t, json!({ "domain": other, "certificate": "managed" })).await;
    refused_before_anything(&t, &other, &answer, "distribution_tenants").await;
    let warned = told_such("Quota nearly used", |d| {
        d["quota"] == "distribution_tenants" && d["limit"] == 1 && d["used"] == 1
    })
    .await;
    assert_eq!(warned["aws_name"], "Distribution tenants per AWS account");
    // Released, the tenant leaves the ledger: the next hostname fits.
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    let (status, start) = start_other(&t, json!({ "domain": other })).await;
    assert_eq!(status, 200, "{start}");
}

#[tokio::test]
async fn the_yearly_imports_keep_room_for_renewals_and_refuse_new_hostnames_first() {
    // One hostname's year: its import and 9 re-imports (64-day
    // certificates renewed at two thirds). 12 fit one, not two.
    let (t, other, answer) = one_served_then_another("QUOTA_ACM_IMPORTS_365D", "12").await;
    refused_before_anything(&t, &other, &answer, "acm_imports_365d").await;
    assert_eq!(
        (
            answer.1["details"]["used"].as_u64(),
            answer.1["details"]["reserved"].as_u64(),
            answer.1["details"]["needed"].as_u64()
        ),
        (Some(1), Some(9), Some(10)),
        "{}",
        answer.1
    );
    // The served hostname's renewal is never refused.
    let (status, renewed) = t.renew().await;
    assert!(status == 200 || status == 202, "{renewed}");
    if status == 202 {
        set_txt(
            renewed["txt_record_name"].as_str().unwrap(),
            renewed["txt_record_value"].as_str().unwrap(),
        )
        .await;
        let (status, renewed) = t.renew().await;
        assert_eq!(status, 200, "{renewed}");
    }
    let figures = t
        .app
        .store
        .ledger_figures(custom_domains::domain::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        (
            figures.first_imports_365d,
            figures.reimports_365d,
            figures.acm_imported_certificates
        ),
        (1, 1, 1)
    );
    t.release_until_done().await;
    let figures = t
        .app
        .store
        .ledger_figures(custom_domains::domain::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        figures.acm_imported_certificates, 0,
        "the release deleted it"
    );
}

#[tokio::test]
async fn the_imported_and_issued_certificate_quotas_and_the_api_domains_quota_refuse_first() {
    // Imported certificates held.
    let t = tenant()
        .shared_edge()
        .own_table()
        .env("QUOTA_ACM_IMPORTED_CERTIFICATES", "0")
        .env("QUOTA_ACM_ISSUED_CERTIFICATES", "0")
        .env("QUOTA_API_GATEWAY_CUSTOM_DOMAINS", "0")
        .start()
        .await;
    let answer = t.start().await;
    refused_before_anything(&t, &t.domain, &answer, "acm_imported_certificates").await;
    // CloudFront-managed certificates are ACM-issued.
    let answer = start_other(&t, json!({ "domain": t.domain, "certificate": "managed" })).await;
    refused_before_anything(&t, &t.domain, &answer, "acm_issued_certificates").await;
    // The ACM path: ACM-issued, and an API Gateway custom domain.
    let answer = post(&t.token, &t.request_url(), &t.request_body()).await;
    refused_before_anything(&t, &t.domain, &answer, "acm_issued_certificates").await;
    let u = tenant()
        .own_table()
        .env("QUOTA_API_GATEWAY_CUSTOM_DOMAINS", "0")
        .start()
        .await;
    let answer = post(&u.token, &u.request_url(), &u.request_body()).await;
    refused_before_anything(&u, &u.domain, &answer, "api_gateway_custom_domains").await;
}
