//! The ACME DNS-01 path: start-certificate and complete-certificate.

use std::sync::Arc;

use crate::support::*;
use custom_domains::adapters::acm::Certificates;
use custom_domains::adapters::cloudfront::Distributions;
use custom_domains::domain::{DomainName, Stage, TenantId};
use custom_domains::App;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

async fn cloudfront() -> aws_sdk_cloudfront::Client {
    cloudfront_client(&sdk_config(None).await)
}

/// The distribution's configuration (and ETag) as CloudFront holds it.
async fn distribution_config(
    id: &str,
) -> aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput {
    cloudfront()
        .await
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .unwrap()
}

/// The served certificate of the tenant's hostname.
async fn served(t: &Tenant) -> custom_domains::domain::ServedCertificate {
    t.app
        .store
        .load_hostname(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .served
        .expect("no served certificate")
}

/// The order in flight of the tenant's hostname.
async fn stored(t: &Tenant) -> custom_domains::domain::AcmeOrder {
    t.app
        .store
        .load_order(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// The certificate ARNs ACM holds for a hostname.
pub(crate) async fn acm_certificates_for(domain: &str) -> Vec<String> {
    let acm = acm_us_east_1().await;
    let mut arns = Vec::new();
    let mut pages = acm.list_certificates().into_paginator().items().send();
    while let Some(c) = pages.next().await {
        let c = c.unwrap();
        if c.domain_name() == Some(domain) {
            arns.push(c.certificate_arn().unwrap().to_owned());
        }
    }
    arns
}

/// Verifies that `chain_pem` (leaf first) chains to one of Pebble's roots
/// and is valid for `domain`.
async fn assert_chains_to_pebble(chain_pem: &str, domain: &str) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let root_pem = pebble_management("/roots/0").await;
    let root = CertificateDer::from_pem_slice(root_pem.as_bytes()).unwrap();
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    let leaf = webpki::EndEntityCert::try_from(&certs[0]).unwrap();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &certs[1..],
        rustls_pki_types::UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .expect("the certificate chains to Pebble's root");
    let name = rustls_pki_types::ServerName::try_from(domain).unwrap();
    leaf.verify_is_valid_for_subject_name(&name)
        .expect("the certificate covers the domain");
}

#[tokio::test]
async fn dns01_issues_imports_and_attaches_end_to_end() {
    let t = tenant().start().await;

    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    assert_eq!(start["domain"], t.domain.as_str());
    assert_eq!(start["status"], "pending");
    assert_eq!(start["proxy_status"], "PENDING_VALIDATION");
    assert_eq!(
        start["txt_record_name"],
        format!("_acme-challenge.{}", t.domain)
    );
    for field in [
        "txt_record_value",
        "order_url",
        "authorization_url",
        "challenge_url",
        "finalize_url",
    ] {
        assert!(
            start[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} missing: {start}"
        );
    }

    t.publish(&start).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "success");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED");
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();

    // ACM in us-east-1 holds a certificate for the domain that chains to Pebble.
    let acm = acm_us_east_1().await;
    assert_acm_certificate(&acm, &arn, &t.domain).await;
    let got = acm
        .get_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    let chain = format!(
        "{}\n{}",
        got.certificate().unwrap(),
        got.certificate_chain().unwrap_or_default()
    );
    assert_chains_to_pebble(&chain, &t.domain).await;

    // The distribution serves the domain with that certificate.
    let config = distribution_config(&t.distribution_id).await;
    let etag = config.e_tag().unwrap().to_owned();
    let dc = config.distribution_config().unwrap();
    assert_eq!(
        dc.aliases().unwrap().items(),
        std::slice::from_ref(&t.domain)
    );
    let viewer = dc.viewer_certificate().unwrap();
    assert_eq!(viewer.acm_certificate_arn(), Some(arn.as_str()));
    assert_eq!(
        viewer.ssl_support_method().map(|m| m.as_str()),
        Some("sni-only")
    );

    // DynamoDB holds the served certificate, no order in flight, and no
    // private key in plain text.
    let name = DomainName::parse(&t.domain).unwrap();
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(records.order.is_none(), "the order outlived its issuance");
    let order = records.served.expect("no served certificate");
    assert_eq!(order.certificate_arn, arn);
    assert!(order.certificate.not_after > order.certificate.not_before);
    assert!(order.renewal.renew_after < order.certificate.not_after);
    let raw = format!(
        "{:?}",
        custom_domains::adapters::store::to_item(&order).unwrap()
    );
    assert!(
        !raw.contains("PRIVATE KEY"),
        "a private key is stored in plain text"
    );

    // Repeating complete answers the same success and changes nothing.
    let (status, again) = t.complete().await;
    assert_eq!(status, 200);
    assert_eq!(again["certificate_arn"], arn.as_str());
    assert_eq!(acm_certificates_for(&t.domain).await, vec![arn.clone()]);
    let after = distribution_config(&t.distribution_id).await;
    assert_eq!(
        after.e_tag(),
        Some(etag.as_str()),
        "the distribution was written again"
    );
    assert_eq!(served(&t).await.version, order.version);

    // Starting again after success places no new order.
    let (status, restart) = t.start().await;
    assert_eq!(status, 200);
    assert_eq!(restart["status"], "valid");
    assert_eq!(restart["proxy_status"], "SSL_VALIDATED");
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .order
        .is_none());
    assert_eq!(restart["certificate_arn"], arn.as_str());
}

#[tokio::test]
async fn start_reuses_the_pending_order_and_refuses_other_tenants() {
    let t = tenant().start().await;
    let (_, first) = t.start().await;
    let (status, second) = t.start().await;
    assert_eq!(status, 200);
    for field in [
        "order_url",
        "txt_record_value",
        "challenge_url",
        "authorization_url",
        "finalize_url",
    ] {
        assert_eq!(first[field], second[field], "{field} changed");
    }
    let version = stored(&t).await.version;
    let (_, third) = t.start().await;
    assert_eq!(third["order_url"], first["order_url"]);
    assert_eq!(stored(&t).await.version, version, "reuse rewrote the order");

    // Another organisation cannot take the hostname.
    let other = unique("org-");
    let url = format!("{}/api/domain/start-certificate/{other}", t.base);
    let (status, err) = post(&token_for(&other), &url, &t.body()).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "domain_taken");
    let url = format!("{}/api/domain/complete-certificate/{other}", t.base);
    let (status, err) = post(&token_for(&other), &url, &t.body()).await;
    assert_eq!(status, 404, "{err}");
}

#[tokio::test]
async fn a_missing_or_wrong_txt_record_is_reported_and_changes_nothing() {
    let t = tenant().start().await;
    let (_, start) = t.start().await;
    let name = start["txt_record_name"].as_str().unwrap();
    let value = start["txt_record_value"].as_str().unwrap();
    let before = stored(&t).await;

    let (status, err) = t.complete().await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["status"], "error");
    assert_eq!(err["code"], "dns_record_missing");
    assert_eq!(err["details"]["expected"]["name"], name);
    assert_eq!(err["details"]["expected"]["value"], value);
    assert!(err["message"].as_str().unwrap().contains(name));
    assert_eq!(stored(&t).await, before);

    set_txt(name, "not-the-right-value").await;
    let (status, err) = t.complete().await;
    assert_eq!(status, 422);
    let found = err["details"]["found"].to_string();
    assert!(found.contains("not-the-right-value"), "{err}");
    assert_eq!(stored(&t).await, before);

    // Once the right record is there the same order goes through.
    set_txt(name, value).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(served(&t).await.issued_recently.len(), 1);
    clear_txt(name).await;
}

#[tokio::test]
async fn an_interrupted_complete_resumes_without_a_second_order() {
    // A zero budget makes every call stop after one step, as a call cut off
    // by its time limit would.
    let t = tenant().env("COMPLETE_TIME_BUDGET_MS", "0").start().await;
    let (_, start) = t.start().await;
    t.publish(&start).await;
    let mut seen = Vec::new();
    let last = loop {
        let (status, answer) = t.complete().await;
        if status != 202 {
            break (status, answer);
        }
        assert_eq!(answer["status"], "in_progress");
        seen.push(answer["proxy_status"].as_str().unwrap().to_owned());
        assert!(seen.len() < 50, "no progress: {seen:?}");
    };
    assert_eq!(last.0, 200, "{}", last.1);
    for stage in [
        "VALIDATING",
        "ISSUING",
        "CERTIFICATE_ISSUED",
        "CERTIFICATE_IMPORTED",
    ] {
        assert!(
            seen.iter().any(|s| s == stage),
            "never reported {stage}: {seen:?}"
        );
    }
    assert_eq!(served(&t).await.issued_recently.len(), 1, "issued twice");
    let _ = start;
    assert_eq!(acm_certificates_for(&t.domain).await.len(), 1);
}

/// An attach that took effect at CloudFront but whose answer was lost (the
/// call ended before anything was saved): the next call finds the alias in
/// place with the certificate, reads the distribution's domain name (the
/// update's answer that would have named it is gone), and serves.
#[tokio::test]
async fn an_attach_whose_answer_was_lost_is_found_in_place() {
    // One stage per call, as in the test above.
    let t = tenant().env("COMPLETE_TIME_BUDGET_MS", "0").start().await;
    let (_, start) = t.start().await;
    t.publish(&start).await;
    let mut order = stored(&t).await;
    for _ in 0..20 {
        if order.stage == Stage::Imported {
            break;
        }
        let (status, answer) = t.complete().await;
        assert_eq!(status, 202, "{answer}");
        order = stored(&t).await;
    }
    assert_eq!(order.stage, Stage::Imported);
    let arn = order.certificate_arn.clone().unwrap();
    // The attach, as CloudFront applied it before its answer was lost.
    let domain = DomainName::parse(&t.domain).unwrap();
    let target = t
        .app
        .distributions
        .attach(
            &t.distribution_id,
            &domain,
            &arn,
            std::slice::from_ref(&t.domain),
            true,
            tokio::time::Instant::now() + std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    let custom_domains::adapters::cloudfront::Outcome::Done(target) = target else {
        panic!("CloudFront did not take the attach: {target:?}");
    };
    assert!(target.is_some(), "the update answers the distribution");

    let (status, done) = t.complete().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    assert_eq!(done["dns_target"].as_str(), target.as_deref(), "{done}");
    assert_eq!(served(&t).await.certificate_arn, arn);
}

#[tokio::test]
async fn an_issued_certificate_survives_an_acm_outage() {
    // ACM (us-east-1) unreachable: the certificate is issued and saved, the
    // import fails.
    let broken = sdk_config(Some("http://127.0.0.1:9")).await;
    let t = tenant()
        .customise(move |app| {
            app.edge_certificates = Certificates::new(
                aws_sdk_acm::Client::from_conf(
                    aws_sdk_acm::config::Builder::from(&broken)
                        .region(aws_config::Region::new("us-east-1"))
                        .build(),
                ),
                app.config.stack_name.clone(),
            );
        })
        .start()
        .await;
    let (start, (status, err)) = t.start_and_complete().await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(err["code"], "upstream_unavailable");
    assert!(
        !err["message"].as_str().unwrap().contains("127.0.0.1"),
        "internal detail leaked: {err}"
    );
    let order = stored(&t).await;
    assert_eq!(order.stage, Stage::Issued);
    assert!(order.certificate.is_some());

    // A healthy instance picks up from there with the same order.
    let healthy = Arc::new(App::new(config(&[]), &sdk_config(None).await).unwrap());
    let base = serve(healthy).await;
    let (status, done) = post(
        &t.token,
        &format!("{base}/api/domain/complete-certificate/{}", t.org),
        &t.body(),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        served(&t).await.certificate.serial,
        order.certificate.unwrap().serial
    );
    let _ = start;
    assert_eq!(acm_certificates_for(&t.domain).await.len(), 1);
}

/// The import reaches ACM but its answer is lost (the proxy forwards it and
/// answers 500): the repeat call must find that certificate, not import a
/// second copy.
#[tokio::test]
async fn a_lost_import_answer_does_not_import_twice() {
    let proxy = FaultProxy::start(is_import, Fault::ForwardThenFail { status: 500 }).await;
    let t = Tenant::importing_through(tenant(), &proxy).await;
    let (_, (status, err)) = t.start_and_complete().await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(
        proxy.matched(),
        1,
        "a failed import must not be retried blindly"
    );
    assert_eq!(
        acm_certificates_for(&t.domain).await.len(),
        1,
        "the import did reach ACM"
    );
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        proxy.matched(),
        1,
        "the retry found the imported certificate instead of importing"
    );
    let arns = acm_certificates_for(&t.domain).await;
    assert_eq!(arns.len(), 1);
    assert_eq!(done["certificate_arn"], arns[0].as_str());
}

/// A hostname that cannot be served where it would go is refused before
/// anything is claimed or ordered: nothing is spent at the CA.
#[tokio::test]
async fn a_hostname_that_cannot_be_served_is_refused_before_any_order() {
    // The organisation's distribution serves another hostname already.
    let t = tenant()
        .distribution_aliases(&["other-tenant.example.net"])
        .start()
        .await;
    let (status, err) = t.start().await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "distribution_has_other_hostnames");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("other-tenant.example.net"));
    let nothing = |t: &Tenant| {
        let name = DomainName::parse(&t.domain).unwrap();
        let app = t.app.clone();
        async move {
            let records = app.store.load_hostname(&name).await.unwrap();
            assert!(
                records.owner.is_none() && records.order.is_none(),
                "{records:?}"
            );
        }
    };
    nothing(&t).await;

    // Another distribution (here, in this account) serves the name.
    let taken = format!("{}.example.com", unique("taken"));
    create_distribution(&sdk_config(None).await, std::slice::from_ref(&taken)).await;
    for shared in [false, true] {
        let mut t = if shared {
            tenant().shared_edge().start().await
        } else {
            tenant().start().await
        };
        t.domain = taken.clone();
        let (status, err) = t.start().await;
        assert_eq!(
            (status, err["code"].as_str()),
            (409, Some("cname_already_exists")),
            "{err}"
        );
        nothing(&t).await;
    }

    // The organisation's recorded distribution does not exist.
    let t = tenant().start().await;
    t.app
        .store
        .set_org_distribution(&TenantId::parse("org", &t.org).unwrap(), "ENOSUCHDIST")
        .await
        .unwrap();
    let (status, err) = t.start().await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("distribution_not_found")),
        "{err}"
    );
    nothing(&t).await;
}

/// An order whose certificate cannot be attached (another hostname appeared
/// on the distribution meanwhile) is not a dead end: once the platform
/// records a distribution of the organisation's own, the same order is
/// re-targeted and served there.
#[tokio::test]
async fn a_stuck_order_is_retargeted_and_served() {
    let t = tenant().start().await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    add_alias(&t.distribution_id, "arrived-meanwhile.example.net").await;
    let ((status, err), _) = t.complete_until_done().await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "distribution_has_other_hostnames");
    assert_eq!(stored(&t).await.stage, Stage::Imported);
    let (_, st) = t.certificate_status().await;
    assert!(st["next_action"].is_object(), "{st}");

    let own = create_distribution(&sdk_config(None).await, &[]).await;
    t.app
        .store
        .set_org_distribution(&TenantId::parse("org", &t.org).unwrap(), &own)
        .await
        .unwrap();
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    let config = distribution_config(&own).await;
    assert_eq!(
        config
            .distribution_config()
            .unwrap()
            .aliases()
            .unwrap()
            .items(),
        std::slice::from_ref(&t.domain)
    );
    assert_eq!(acm_certificates_for(&t.domain).await.len(), 1);
}

/// Adds an alias to a distribution, as another writer would.
async fn add_alias(distribution: &str, alias: &str) {
    let cf = cloudfront().await;
    let current = cf
        .get_distribution_config()
        .id(distribution)
        .send()
        .await
        .unwrap();
    let mut config = current.distribution_config.unwrap();
    let mut items = config
        .aliases
        .as_ref()
        .map(|a| a.items().to_vec())
        .unwrap_or_default();
    items.push(alias.to_owned());
    config.aliases = Some(
        aws_sdk_cloudfront::types::Aliases::builder()
            .quantity(items.len() as i32)
            .set_items(Some(items))
            .build()
            .unwrap(),
    );
    cf.update_distribution()
        .id(distribution)
        .set_if_match(current.e_tag)
        .distribution_config(config)
        .send()
        .await
        .unwrap();
}

/// moto accepts a stale `IfMatch`, so a CloudFront conflict is injected at
/// the HTTP layer: a proxy in front of moto answers the first
/// UpdateDistribution with 412 PreconditionFailed, as CloudFront does when
/// another writer got there first.
#[tokio::test]
async fn a_concurrent_distribution_change_is_retried() {
    let xml = "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>\
        <Code>PreconditionFailed</Code><Message>The request failed because it didn't meet \
        the preconditions in one or more request-header fields.</Message></Error>\
        <RequestId>test</RequestId></ErrorResponse>";
    let proxy = FaultProxy::start(
        |req| req.method == hyper::Method::PUT && req.uri.path().ends_with("/config"),
        Fault::Answer {
            status: 412,
            content_type: "text/xml",
            body: xml,
        },
    )
    .await;
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let t = tenant()
        .customise(move |app| {
            app.distributions = Distributions::new(aws_sdk_cloudfront::Client::new(&via_proxy));
        })
        .start()
        .await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        proxy.matched(),
        2,
        "one refused update, one that went through"
    );
    let config = distribution_config(&t.distribution_id).await;
    assert_eq!(
        config
            .distribution_config()
            .unwrap()
            .aliases()
            .unwrap()
            .items(),
        std::slice::from_ref(&t.domain)
    );
}

#[tokio::test]
async fn bad_requests_get_a_json_400_and_change_nothing() {
    let t = tenant().start().await;
    let start = t.start_url();
    let long = format!("{}.com", "a".repeat(300));
    let huge = format!("{{\"domain\": \"{}\"}}", "a".repeat(20_000));
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        (
            "not JSON",
            "{".into(),
            Some("application/json"),
            "invalid_json",
        ),
        (
            "empty body",
            "".into(),
            Some("application/json"),
            "invalid_json",
        ),
        (
            "no domain",
            "{}".into(),
            Some("application/json"),
            "invalid_json",
        ),
        (
            "domain not a string",
            "{\"domain\": 5}".into(),
            Some("application/json"),
            "invalid_json",
        ),
        (
            "unknown field",
            format!("{{\"domain\": \"{}\", \"x\": 1}}", t.domain),
            Some("application/json"),
            "invalid_json",
        ),
        (
            "wrong content type",
            t.body(),
            Some("text/plain"),
            "unsupported_media_type",
        ),
        (
            "IP address",
            "{\"domain\": \"192.0.2.1\"}".into(),
            Some("application/json"),
            "invalid_domain",
        ),
        (
            "wildcard",
            "{\"domain\": \"*.example.com\"}".into(),
            Some("application/json"),
            "invalid_domain",
        ),
        (
            "one label",
            "{\"domain\": \"localhost\"}".into(),
            Some("application/json"),
            "invalid_domain",
        ),
        (
            "too long",
            format!("{{\"domain\": \"{long}\"}}"),
            Some("application/json"),
            "invalid_domain",
        ),
        (
            "underscore",
            "{\"domain\": \"a_b.example.com\"}".into(),
            Some("application/json"),
            "invalid_domain",
        ),
        (
            "oversized body",
            huge,
            Some("application/json"),
            "body_too_large",
        ),
    ];
    for (what, body, ct, code) in cases {
        let (status, err) = request("POST", &start, &body, ct, Some(&t.token)).await;
        assert_eq!(status, 400, "{what}: {err}");
        assert_eq!(err["status"], "error", "{what}");
        assert_eq!(err["code"], code, "{what}: {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let bad_org = format!("{}/api/domain/start-certificate/bad%20org", t.base);
    let (status, err) = post(&t.token, &bad_org, &t.body()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("invalid_tenant"))
    );
    let (status, err) = post(&t.token, &format!("{}/api/domain/nope", t.base), "{}").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
    let (status, err) = t.complete().await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
    let domain = DomainName::parse(&t.domain).unwrap();
    assert!(t.app.store.load_order(&domain).await.unwrap().is_none());
    assert!(t.app.store.owner_of(&domain).await.unwrap().is_none());
}

/// A CA that no longer knows the stored account (a restarted test CA, a
/// deactivated account) answers accountDoesNotExist: the product registers
/// a new account, replaces the stored credentials and carries on.
#[tokio::test]
async fn an_account_the_ca_forgot_is_registered_again() {
    // A directory URL of its own (Pebble ignores the query), so this test's
    // account record is not the one other tests use.
    let directory = format!(
        "{}?account-test={}",
        stack().var("ACME_DIRECTORY_URL"),
        unique("a")
    );
    let first = tenant().env("ACME_DIRECTORY_URL", &directory).start().await;
    let (status, answer) = first.start().await;
    assert_eq!(status, 200, "{answer}");
    let sealed = first
        .app
        .store
        .load_account(&directory)
        .await
        .unwrap()
        .unwrap();

    // Point the stored credentials at an account the CA never had.
    let json = first
        .app
        .sealer
        .open("acme-account", &directory, &sealed)
        .await
        .unwrap();
    let mut credentials: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let id = credentials["id"].as_str().unwrap().to_owned();
    let unknown = format!(
        "{}ffff",
        id.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    credentials["id"] = serde_json::Value::String(unknown);
    let forged = first
        .app
        .sealer
        .seal(
            "acme-account",
            &directory,
            credentials.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert!(first
        .app
        .store
        .store_account(&directory, &forged, Some(&sealed))
        .await
        .unwrap());

    // A new container (nothing cached) meets the forgotten account.
    let second = tenant().env("ACME_DIRECTORY_URL", &directory).start().await;
    let (_, (status, done)) = second.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let now = second
        .app
        .store
        .load_account(&directory)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(now, forged, "the forgotten account's credentials were kept");
    assert!(logs().contains("no longer knows the stored account"));
}

/// With no distribution for the organisation and no default, start refuses
/// before it claims the name or asks the CA for anything.
#[tokio::test]
async fn no_distribution_is_refused_before_anything_is_written() {
    let t = tenant()
        .env("CLOUDFRONT_DISTRIBUTION_ID", "")
        .env("CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID", "")
        .start()
        .await;
    let org = unique("org-");
    let url = format!("{}/api/domain/start-certificate/{org}", t.base);
    let (status, err) = post(&token_for(&org), &url, &t.body()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("no_distribution")),
        "{err}"
    );
    let name = DomainName::parse(&t.domain).unwrap();
    assert!(t.app.store.owner_of(&name).await.unwrap().is_none());
    assert!(t.app.store.load_order(&name).await.unwrap().is_none());
}

/// Another distribution (in any account) already serves the name: a
/// permanent refusal with a code of its own, not "retry", and the hostname
/// can still be released.
#[tokio::test]
async fn a_name_served_by_another_distribution_is_refused_for_good_and_can_be_released() {
    let proxy = FaultProxy::refusing_aliases(2).await;
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let t = tenant()
        .customise(move |app| {
            app.distributions = Distributions::new(aws_sdk_cloudfront::Client::new(&via_proxy));
        })
        .start()
        .await;
    let (_, (status, err)) = t.start_and_complete().await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "cname_already_exists");
    // Repeating says the same, and the way out is a release.
    let (status, again) = t.complete().await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("cname_already_exists"))
    );
    let (status, released) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 200, "{released}");
    assert!(acm_certificates_for(&t.domain).await.is_empty());
}

/// Two completes at once (a client retrying after a timeout, say): one
/// drives the order under the hostname's lease, the other answers 202
/// meanwhile; both end served, with one certificate in ACM.
#[tokio::test]
async fn two_concurrent_completes_import_once() {
    // The import is slow (held 1 s at a proxy), so the second complete
    // arrives while the first is importing: it must wait (202 with the
    // stage reached), not import a second certificate.
    let proxy = FaultProxy::start(is_import, Fault::Delay { millis: 1000 }).await;
    let t = Tenant::importing_through(tenant(), &proxy).await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    let ((a, _), (b, _)) = tokio::join!(t.complete_until_done(), t.complete_until_done());
    assert_eq!((a.0, b.0), (200, 200), "{} / {}", a.1, b.1);
    assert_eq!(a.1["certificate_arn"], b.1["certificate_arn"]);
    assert_eq!(acm_certificates_for(&t.domain).await.len(), 1);
    assert_eq!(proxy.matched(), 1, "imported more than once");
}

/// A valid hostname longer than 64 octets cannot be a certificate's common
/// name, so ACM cannot request one (see the ACM path), but a CSR with no
/// subject lets the CA leave the common name out (Let's Encrypt does), and
/// ACM imports and CloudFront serve a certificate whose name is only in its
/// subject alternative names: the ACME path takes such names.
#[tokio::test]
async fn a_name_longer_than_64_octets_is_issued_on_the_acme_path() {
    let mut t = tenant().start().await;
    t.domain = format!("{}.{}.example.com", unique("shop"), "a".repeat(50));
    assert!(t.domain.len() > 64);
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let served = served(&t).await;
    let facts =
        custom_domains::domain::certificate::inspect(&served.certificate.chain_pem).unwrap();
    assert_eq!(facts.dns_names, vec![t.domain.clone()]);
    assert_eq!(acm_certificates_for(&t.domain).await.len(), 1);
}

/// A stalled AWS request ends at the SDK's attempt and operation timeouts
/// (`AWS_ATTEMPT_TIMEOUT_MS`, `AWS_OPERATION_TIMEOUT_MS`), inside the call's
/// budget: complete-certificate answers with its progress saved long before
/// the stalled answer would have come (without timeouts, the SDK waits for
/// it, and on AWS API Gateway answers 503 at 30 s), and the repeated call
/// finishes.
#[tokio::test]
async fn a_stalled_aws_request_ends_at_its_timeout_and_the_call_resumes() {
    const STALL_MS: u64 = 20_000;
    let proxy = FaultProxy::start_n(
        |req| req.method == hyper::Method::PUT && req.uri.path().ends_with("/config"),
        Fault::Delay { millis: STALL_MS },
        3,
    )
    .await;
    let t = tenant()
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", &proxy.url)
        .env("AWS_ATTEMPT_TIMEOUT_MS", "300")
        .env("AWS_OPERATION_TIMEOUT_MS", "1000")
        .start()
        .await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    let began = std::time::Instant::now();
    let (status, answer) = t.complete().await;
    let took = began.elapsed();
    assert!(
        took < std::time::Duration::from_millis(STALL_MS / 2),
        "the call waited {took:?} for a request stalled {STALL_MS} ms"
    );
    assert_eq!(
        status, 202,
        "a timeout is progress kept, not a 5xx: {answer}"
    );
    assert_eq!(answer["status"], "in_progress", "{answer}");
    assert!(proxy.matched() >= 1);
    // Progress kept: the certificate is issued and imported, not ordered again.
    let order = t
        .app
        .store
        .load_order(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .expect("the order is kept");
    assert!(order.stage.has_certificate(), "{:?}", order.stage);
    // Repeated (each stalled request also ends at its timeout) until done.
    let mut done = t.complete_until_done().await.0;
    for _ in 0..3 {
        if done.0 == 200 {
            break;
        }
        done = t.complete_until_done().await.0;
    }
    assert_eq!(done.0, 200, "{}", done.1);
    assert_eq!(acm_certificates_for(&t.domain).await.len(), 1);
}

/// Imports faster than ACM allows (about one a second per account and
/// Region, modelled by the local stack) are throttled, and the product
/// sends a throttled import again (ACM imported nothing) until it passes:
/// three imports at once each end with a certificate of their own.
#[tokio::test]
async fn imports_faster_than_acm_allows_are_throttled_and_sent_again() {
    use custom_domains::adapters::acm::Imported;
    let t = tenant().start().await;
    let pem = |name: &str| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let names: Vec<String> = (0..3)
        .map(|i| format!("{}.example.com", unique(&format!("rate{i}"))))
        .collect();
    let pems: Vec<(String, String)> = names.iter().map(|n| pem(n)).collect();
    let before = local_server::aws_rules::refused_so_far();
    let imports =
        futures_util::future::join_all(names.iter().zip(&pems).map(|(name, (cert, key))| {
            let app = t.app.clone();
            let domain = DomainName::parse(name).unwrap();
            async move {
                custom_domains::routes::scoped("complete-certificate", async {
                    app.edge_certificates
                        .import(&domain, cert, "", key, None)
                        .await
                })
                .await
            }
        }))
        .await;
    let mut arns = std::collections::BTreeSet::new();
    for imported in imports {
        match imported.unwrap() {
            Imported::Arn(arn) => assert!(arns.insert(arn)),
            Imported::Throttled => panic!("throttled for good"),
        }
    }
    assert_eq!(arns.len(), 3);
    assert!(
        local_server::aws_rules::refused_so_far() - before >= 2,
        "three imports at once, and ACM throttled none"
    );
}

/// CloudFront serves a change everywhere only once it reads `Deployed`
/// (the local CloudFront is `Deployed` at once; the local stack's rules
/// keep a change `InProgress` for CloudFront's 5 minutes, scaled): the
/// complete says `edge_status: "deploying"` and so does the status route,
/// until it reads `deployed`. The attach, made right after the import,
/// meets CloudFront not seeing the certificate yet
/// (`InvalidViewerCertificate`) and waits it out in the same call.
#[tokio::test]
async fn a_served_hostname_reads_deploying_until_cloudfront_has_deployed_it() {
    let t = tenant().start().await;
    let unseen = local_server::aws_rules::refused_with("InvalidViewerCertificate");
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    assert_eq!(done["edge_status"], "deploying", "{done}");
    assert!(
        done["message"].as_str().unwrap().contains("a few minutes"),
        "{done}"
    );
    assert!(local_server::aws_rules::refused_with("InvalidViewerCertificate") > unseen);
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["edge_status"], "deploying", "{st}");
    let mut polls = 0;
    let deployed = loop {
        let (status, st) = t.certificate_status().await;
        assert_eq!(status, 200, "{st}");
        if st["edge_status"] == "deployed" {
            break st;
        }
        assert_eq!(st["edge_status"], "deploying", "{st}");
        polls += 1;
        assert!(polls < 100, "never deployed: {st}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(deployed["status"], "active", "{deployed}");
}

/// CloudFront takes one viewer-certificate change per distribution at a
/// time (`IllegalUpdate` while the previous one deploys): a release right
/// after the issuance meets it at the detach, waits (in the call, then
/// across calls: 202 with the step kept), and ends released.
#[tokio::test]
async fn a_release_right_after_issuance_waits_for_the_certificate_change_to_deploy() {
    let t = tenant().start().await;
    let busy = local_server::aws_rules::refused_with("IllegalUpdate");
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    assert!(
        local_server::aws_rules::refused_with("IllegalUpdate") > busy,
        "the detach met no certificate change in progress"
    );
    let aliases = custom_domains::adapters::cloudfront::Distributions::new(cloudfront_client(
        &sdk_config(None).await,
    ))
    .aliases(&t.distribution_id)
    .await
    .unwrap();
    assert!(!aliases.contains(&t.domain), "{aliases:?}");
}
