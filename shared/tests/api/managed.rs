//! CloudFront-managed certificates on the shared edge: a hostname's
//! distribution tenant created with a managed-certificate request once its
//! claimant's claim record is seen, issued (by the local stack's model of
//! CloudFront) only once the hostname points at the edge, served with no ACM
//! import; a request that times out reported and asked again; and the
//! hand-off of an ACME hostname to a managed certificate once it points at
//! the edge.

use custom_domains::domain::DomainName;
use serde_json::Value;

use crate::support::*;

/// The certificate of the distribution tenant serving `domain`, if any.
async fn tenant_certificate(domain: &str) -> Option<String> {
    crate::shared_edge::distribution_tenant(domain).await?.2
}

fn managed_body(domain: &str) -> String {
    serde_json::json!({ "domain": domain, "certificate": "managed" }).to_string()
}

async fn start_managed(t: &Tenant) -> Value {
    let (status, start) = post(&t.token, &t.start_url(), &managed_body(&t.domain)).await;
    assert_eq!(status, 200, "{start}");
    start
}

/// GetManagedCertificateDetails answered `validation-timed-out` once.
const TIMED_OUT: &str = "<?xml version=\"1.0\"?><ManagedCertificateDetails>\
    <CertificateArn>arn:aws:acm:us-east-1:123456789012:certificate/timed-out</CertificateArn>\
    <CertificateStatus>validation-timed-out</CertificateStatus>\
    <ValidationTokenHost>cloudfront</ValidationTokenHost></ManagedCertificateDetails>";

/// ... or `pending-validation` once.
const PENDING: &str = "<?xml version=\"1.0\"?><ManagedCertificateDetails>\
    <CertificateArn>arn:aws:acm:us-east-1:123456789012:certificate/pending</CertificateArn>\
    <CertificateStatus>pending-validation</CertificateStatus>\
    <ValidationTokenHost>cloudfront</ValidationTokenHost></ManagedCertificateDetails>";

/// A fault proxy answering the first GetManagedCertificateDetails with
/// `verdict`.
async fn answering_details(verdict: &'static str) -> FaultProxy {
    FaultProxy::start(
        is_managed_details,
        Fault::Answer {
            status: 200,
            content_type: "text/xml",
            body: verdict,
        },
    )
    .await
}

fn is_managed_details(req: &hyper::http::request::Parts) -> bool {
    req.method == hyper::Method::GET
        && req
            .uri
            .path()
            .starts_with("/2020-05-31/managed-certificate/")
}

#[tokio::test]
async fn a_managed_hostname_waits_for_its_claim_record_and_its_cname_then_is_served_with_no_import()
{
    let t = tenant().shared_edge().start().await;
    let start = start_managed(&t).await;
    assert_eq!(start["certificate"], "managed", "{start}");
    assert_eq!(start["status"], "pending_validation", "{start}");
    assert_eq!(
        start["certificate_status"], "awaiting_claim_record",
        "{start}"
    );
    let target = start["dns_target"].as_str().unwrap().to_owned();
    assert!(target.ends_with(".cloudfront.net"), "{start}");
    let claim = &start["claim_record"];
    assert_eq!(claim["reason"], "shared_routing_target", "{start}");
    // The routing CNAME alone proves nothing: nothing is asked of
    // CloudFront before the claimant's own record answers.
    let (status, missing) = t.complete().await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (422, Some("dns_record_missing")),
        "{missing}"
    );
    assert_eq!(tenant_certificate(&t.domain).await, None);
    assert!(
        distribution_tenant_exists(&t.domain).await.is_none(),
        "a tenant was created before the claim record was seen"
    );

    set_txt(
        claim["name"].as_str().unwrap(),
        claim["value"].as_str().unwrap(),
    )
    .await;
    // Requested; CloudFront waits for the hostname to point at the edge.
    for _ in 0..3 {
        let (status, pending) = t.complete().await;
        assert_eq!(status, 202, "{pending}");
        assert_eq!(
            pending["certificate_status"], "pending-validation",
            "{pending}"
        );
        assert_eq!(pending["next_action"]["action"], "point_dns", "{pending}");
        assert!(pending["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains(&target));
    }
    let (status, seen) = t.certificate_status().await;
    assert_eq!(status, 202, "{seen}");
    assert_eq!(seen["certificate"], "managed", "{seen}");
    assert_eq!(seen["certificate_status"], "pending-validation", "{seen}");

    set_cname(&t.domain, &target).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    assert_eq!(done["status"], "active", "{done}");
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    assert_eq!(
        tenant_certificate(&t.domain).await.as_deref(),
        Some(arn.as_str())
    );
    // Nothing was imported into ACM for it.
    assert!(crate::acme_path::acm_certificates_for(&t.domain)
        .await
        .is_empty());
    let (status, seen) = t.certificate_status().await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["certificate_status"], "issued", "{seen}");
    let (_, list) = get(&t.token, &format!("{}/domains", t.base)).await;
    let entry = list["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == t.domain.as_str())
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(
        (entry["certificate"].as_str(), entry["status"].as_str()),
        (Some("managed"), Some("active")),
        "{entry}"
    );
    // Nothing for the product to renew: ACM renews it.
    let name = DomainName::parse(&t.domain).unwrap();
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .served
        .is_none());

    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    assert!(distribution_tenant_exists(&t.domain).await.is_none());
    clear_cname(&t.domain).await;
}

async fn distribution_tenant_exists(domain: &str) -> Option<String> {
    crate::shared_edge::distribution_tenant(domain)
        .await
        .map(|t| t.0)
}

#[tokio::test]
async fn a_managed_certificate_that_times_out_is_reported_and_asked_again_once_pointed() {
    let proxy = answering_details(TIMED_OUT).await;
    let t = tenant()
        .shared_edge()
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", &proxy.url)
        .start()
        .await;
    // The tenant's site is still at its old host.
    set_a(&t.domain, "192.0.2.10").await;
    let start = start_managed(&t).await;
    let target = start["dns_target"].as_str().unwrap().to_owned();
    let claim = &start["claim_record"];
    set_txt(
        claim["name"].as_str().unwrap(),
        claim["value"].as_str().unwrap(),
    )
    .await;
    let (status, failed) = t.complete().await;
    assert_eq!(status, 202, "{failed}");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["certificate_status"], "validation-timed-out",
        "{failed}"
    );
    assert_eq!(failed["next_action"]["action"], "point_dns", "{failed}");
    // Asked again only once the hostname points at the edge.
    let (status, refused) = t.complete().await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("dns_not_pointed")),
        "{refused}"
    );
    let (_, seen) = t.certificate_status().await;
    assert_eq!(seen["status"], "failed", "{seen}");

    set_cname(&t.domain, &target).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["requests"], 2, "{done}");
    assert!(crate::acme_path::acm_certificates_for(&t.domain)
        .await
        .is_empty());
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    clear_cname(&t.domain).await;
}

/// An ACME hostname on the shared edge, served and then pointed at the
/// edge, with hand-off on and CloudFront's first verdict on a managed
/// certificate answered `verdict`: the tenant, its imported certificate's
/// ARN, and the fault proxy (kept for the test's length).
async fn served_then_pointed(verdict: &'static str) -> (Tenant, String, FaultProxy) {
    let proxy = answering_details(verdict).await;
    let t = tenant()
        .shared_edge()
        .own_table()
        .env("HANDOFF_TO_MANAGED", "true")
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", &proxy.url)
        .start()
        .await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let imported = done["certificate_arn"].as_str().unwrap().to_owned();
    set_cname(&t.domain, done["dns_target"].as_str().unwrap()).await;
    (t, imported, proxy)
}

#[tokio::test]
async fn an_acme_hostname_pointed_at_the_edge_is_handed_off_keeping_its_certificate_until_the_managed_one_is_issued(
) {
    let (t, imported, _proxy) = served_then_pointed(PENDING).await;
    // The first look: requested, CloudFront still validating. The imported
    // certificate serves on, and its renewal stays scheduled.
    t.drift_check().await;
    let name = DomainName::parse(&t.domain).unwrap();
    let records = t.app.store.load_hostname(&name).await.unwrap();
    let managed = records.managed.clone().expect("a hand-off was requested");
    assert!(managed.handoff);
    assert_eq!(
        managed.stage,
        custom_domains::domain::ManagedStage::Requested
    );
    assert!(records.served.is_some());
    assert_eq!(
        tenant_certificate(&t.domain).await.as_deref(),
        Some(imported.as_str())
    );
    assert_eq!(
        crate::acme_path::acm_certificates_for(&t.domain).await,
        vec![imported.clone()]
    );
    let (_, seen) = t.certificate_status().await;
    assert_eq!(seen["certificate"], "acme", "{seen}");

    // The next look: issued, attached; the imported certificate deleted and
    // nothing left to renew.
    t.make_dns_due(&t.domain).await;
    t.drift_check().await;
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(
        records.served.is_none(),
        "the ACME certificate still renews"
    );
    let managed = records.managed.clone().unwrap();
    assert_eq!(managed.stage, custom_domains::domain::ManagedStage::Served);
    assert_eq!(managed.retiring_arn, None);
    let arn = managed.certificate_arn.clone().unwrap();
    assert_ne!(arn, imported);
    assert_eq!(
        tenant_certificate(&t.domain).await.as_deref(),
        Some(arn.as_str())
    );
    assert!(crate::acme_path::acm_certificates_for(&t.domain)
        .await
        .is_empty());
    assert_eq!(t.sweep().await.renewed, 0);
    let (status, seen) = t.certificate_status().await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        (seen["certificate"].as_str(), seen["handoff"].as_bool()),
        (Some("managed"), Some(true)),
        "{seen}"
    );
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    clear_cname(&t.domain).await;
}

#[tokio::test]
async fn a_failed_hand_off_leaves_the_acme_certificate_serving_and_renewing() {
    let (t, imported, _proxy) = served_then_pointed(TIMED_OUT).await;
    t.drift_check().await;
    let name = DomainName::parse(&t.domain).unwrap();
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(records.managed.is_none(), "the failed hand-off is kept");
    assert!(records.served.is_some());
    assert_eq!(
        tenant_certificate(&t.domain).await.as_deref(),
        Some(imported.as_str())
    );
    // Its renewal goes on.
    t.make_due().await;
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    clear_cname(&t.domain).await;
}

#[tokio::test]
async fn a_managed_start_points_at_the_configured_connection_groups_routing_endpoint() {
    let cf = cloudfront_client(&sdk_config(None).await);
    let groups = cf.list_connection_groups().send().await.unwrap();
    let group = groups
        .connection_groups()
        .iter()
        .find(|g| g.is_default() == Some(true))
        .expect("the stack's default connection group");
    let (id, endpoint) = (group.id().to_owned(), group.routing_endpoint().to_owned());
    let t = tenant()
        .shared_edge()
        .env("CLOUDFRONT_CONNECTION_GROUP_ID", &id)
        .start()
        .await;
    let start = start_managed(&t).await;
    assert_eq!(
        start["dns_target"],
        endpoint.trim_end_matches('.'),
        "{start}"
    );
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
}
