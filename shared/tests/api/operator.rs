//! The platform's operators (a token carrying the operator claim) look
//! across tenants: every tenant's hostnames, read through an index, and a
//! renewal of any tenant's hostname now. A tenant's token gets 403.

use serde_json::Value;

use crate::support::*;

fn operator_token() -> String {
    let rule = custom_domains::config::OperatorClaim {
        claim: "custom_domains_role".into(),
        value: "operator".into(),
    };
    local_jwt().mint_operator(&rule, "operator-ana", 600)
}

/// Every page of `/operator/hostnames` with `query`, concatenated.
async fn all_pages(t: &Tenant, query: &str) -> Vec<Value> {
    let token = operator_token();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/operator/hostnames?limit=100{query}", t.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (code, page) = get(&token, &url).await;
        assert_eq!(code, 200, "{page}");
        all.extend(page["hostnames"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn operators_list_every_tenants_hostnames_and_tenants_may_not() {
    let a = tenant().start().await;
    let b = tenant().start().await;
    let (code, _) = a.start().await;
    assert_eq!(code, 200);
    let (_, b_start) = b.start().await;
    b.publish(&b_start).await;
    let ((code, _), _) = b.complete_until_done().await;
    assert_eq!(code, 200);
    index_caught_up().await;

    let listed = all_pages(&a, "").await;
    let find = |domain: &str| {
        listed
            .iter()
            .find(|h| h["domain"] == domain)
            .unwrap_or_else(|| panic!("{domain} not listed"))
            .clone()
    };
    let (ha, hb) = (find(&a.domain), find(&b.domain));
    assert_eq!(ha["tenant_id"], a.org.as_str());
    assert_eq!(ha["status"], "pending_validation");
    assert_eq!(hb["tenant_id"], b.org.as_str());
    assert_eq!(hb["status"], "active");
    assert!(hb["not_after"].is_string());
    // Filtered by state.
    let active = all_pages(&a, "&status=active").await;
    assert!(active.iter().any(|h| h["domain"] == b.domain.as_str()));
    assert!(active.iter().all(|h| h["status"] == "active"));
    let acm = all_pages(&a, "&path=acm").await;
    assert!(acm.iter().all(|h| h["path"] == "acm"));

    // A tenant's token is refused, on both routes.
    let (code, err) = get(&a.token, &format!("{}/operator/hostnames", a.base)).await;
    assert_eq!(
        (code, err["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    let url = format!("{}/operator/hostnames/{}/renew", a.base, b.domain);
    let (code, err) = post(&a.token, &url, "").await;
    assert_eq!(
        (code, err["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
}

#[tokio::test]
async fn an_operator_renews_any_tenants_hostname_now() {
    let t = tenant().start().await;
    let (_, start) = t.start().await;
    t.publish(&start).await;
    let ((code, _), _) = t.complete_until_done().await;
    assert_eq!(code, 200);
    let before = t.served().await.certificate.serial;
    let url = format!("{}/operator/hostnames/{}/renew", t.base, t.domain);
    let (code, report) = post(&operator_token(), &url, "").await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["outcome"], "renewed", "{report}");
    assert_eq!(report["tenant_id"], t.org.as_str());
    assert_ne!(t.served().await.certificate.serial, before);

    let url = format!("{}/operator/hostnames/nobody-{}/renew", t.base, t.domain);
    let (code, err) = post(&operator_token(), &url, "").await;
    assert_eq!(code, 404, "{err}");
}

#[tokio::test]
async fn operators_read_the_usage_from_counters_and_indexes_and_tenants_may_not() {
    // The CA's limit on (the local stack has none), on a ledger of its own.
    let t = tenant()
        .own_table()
        .env("ACME_LIMIT_NEW_ORDERS", "300")
        .start()
        .await;
    let url = format!("{}/operator/usage", t.base);
    let (code, refused) = get(&t.token, &url).await;
    assert_eq!(code, 403, "{refused}");

    let (start, (code, done)) = t.start_and_complete().await;
    assert_eq!(code, 200, "{start} {done}");
    let (code, usage) = get(&operator_token(), &url).await;
    assert_eq!(code, 200, "{usage}");
    assert_eq!(usage["hostnames_by_state"]["active"], 1, "{usage}");
    assert_eq!(
        usage["hostnames_by_state"]["pending_validation"], 0,
        "{usage}"
    );
    assert_eq!(usage["certificates_due_7d"], 0, "{usage}");
    assert_eq!(usage["renewals_failing"], 0, "{usage}");
    assert_eq!(usage["certificates_overdue"], 0, "{usage}");
    let orders = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "acme_new_orders")
        .unwrap_or_else(|| panic!("{usage}"));
    // The one order this tenant's table's ledger counted.
    assert_eq!(orders["used"], 1, "{usage}");
    assert_eq!(orders["limit"], 300, "{usage}");
    assert_eq!(orders["window"], "3h");

    // Its renewal due now: due within the week.
    t.make_due().await;
    index_caught_up().await;
    let (_, usage) = get(&operator_token(), &url).await;
    assert_eq!(usage["certificates_due_7d"], 1, "{usage}");
}

/// An operator's renewal in a fresh container (it loads the ACME account)
/// whose ACM is unreachable stops at the import, served certificate
/// untouched; the next one resumes at the import (the order's sealed key)
/// and renews, as renew-certificate does.
#[tokio::test]
async fn an_operators_renewal_resumes_at_a_failed_import() {
    let t = tenant().start().await;
    let (start, (code, done)) = t.start_and_complete().await;
    assert_eq!(code, 200, "{start} {done}");
    let before = t.served().await.certificate.serial;

    let dead = sdk_config(Some("http://127.0.0.1:9")).await;
    let mut broken = custom_domains::App::new(config(&[]), &sdk_config(None).await).unwrap();
    broken.edge_certificates = custom_domains::adapters::acm::Certificates::new(
        aws_sdk_acm::Client::from_conf(
            aws_sdk_acm::config::Builder::from(&dead)
                .region(aws_sdk_acm::config::Region::new("us-east-1"))
                .build(),
        ),
        broken.config.stack_name.clone(),
    );
    let base = serve(std::sync::Arc::new(broken)).await;
    let renew = |base: &str| format!("{base}/operator/hostnames/{}/renew", t.domain);
    // (The CA may reuse the authorization the issuance validated: the
    // order is then ready at once.)
    let mut last = post(&operator_token(), &renew(&base), "").await;
    for _ in 0..20 {
        match (last.0, last.1["outcome"].as_str()) {
            (200, Some("awaiting_dns")) => {
                set_txt(
                    last.1["txt_record_name"].as_str().unwrap(),
                    last.1["txt_record_value"].as_str().unwrap(),
                )
                .await
            }
            (200, Some("in_progress")) => {}
            _ => break,
        }
        last = post(&operator_token(), &renew(&base), "").await;
    }
    assert_eq!(last.0, 502, "{}", last.1);
    assert_eq!(t.served().await.certificate.serial, before);

    let (code, renewed) = post(&operator_token(), &renew(&t.base), "").await;
    assert_eq!(code, 200, "{renewed}");
    assert_eq!(renewed["outcome"], "renewed", "{renewed}");
    assert_ne!(t.served().await.certificate.serial, before);
}
