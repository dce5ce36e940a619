//! One hostname, one owner: tenants racing for a name, on both paths, and
//! the explicit release of a name.

use custom_domains::domain::DomainName;

use crate::support::*;

#[tokio::test]
async fn fifty_tenants_racing_for_one_hostname_leave_exactly_one_owner() {
    let t = tenant().start().await;
    let domain = format!("{}.example.com", unique("race"));
    let body = serde_json::json!({ "domain": domain }).to_string();
    let mut calls = Vec::new();
    for i in 0..50 {
        let tenant = unique("racer-");
        let (url, body) = if i % 2 == 0 {
            (
                format!("{}/api/domain/start-certificate/{tenant}", t.base),
                body.clone(),
            )
        } else {
            (
                t.request_url(),
                serde_json::json!({ "domain": domain, "workspace_id": tenant }).to_string(),
            )
        };
        calls.push(tokio::spawn(async move {
            (tenant.clone(), post(&token_for(&tenant), &url, &body).await)
        }));
    }
    let (winners, refused) = winners_and_taken(calls).await;
    assert_eq!((winners.len(), refused), (1, 49), "winners: {winners:?}");
    let name = DomainName::parse(&domain).unwrap();
    let owner = t.app.store.owner_of(&name).await.unwrap().unwrap();
    assert_eq!(owner.as_str(), winners[0]);
    // Only the winner asked a CA or ACM for anything.
    let order = t.app.store.load_order(&name).await.unwrap();
    let request = t.app.store.load_acm_request(&name).await.unwrap();
    assert_eq!(order.is_some() as u8 + request.is_some() as u8, 1);
    if let Some(order) = order {
        assert_eq!(order.org_id, owner);
    }
    if let Some(request) = request {
        assert_eq!(request.workspace_id, owner);
    }
}

/// A fault proxy rule: DynamoDB's TransactWriteItems.
fn is_transaction(req: &hyper::http::request::Parts) -> bool {
    req.headers
        .get("x-amz-target")
        .is_some_and(|t| t == "DynamoDB_20120810.TransactWriteItems")
}

/// Whether the first claimant's transaction is still kept in flight (see
/// the test below).
static HOLDING_TRANSACTION: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(true);

/// Tenants claiming a name while the first claimant's transaction (its
/// claim with its order or request) is still in flight: DynamoDB refuses
/// their claims (`TransactionConflictException`, modelled by the local
/// stack), the product sends each again after a short jittered wait, and
/// each then finds the name taken. One owner; every other tenant `409
/// domain_taken`, never a 502.
#[tokio::test]
async fn claims_meeting_a_claim_transaction_in_flight_are_refused_as_taken() {
    use std::sync::atomic::Ordering;
    // The first transaction is kept in flight (between the rules, which
    // hold its items, and moto) until a claim has met it.
    let proxy = FaultProxy::start(
        is_transaction,
        Fault::HoldWhile {
            held: || HOLDING_TRANSACTION.load(Ordering::SeqCst),
        },
    )
    .await;
    // A table of its own, so the conflicts counted there are this test's;
    // the application serving the racers sends through the proxy.
    let t = tenant().own_table().start().await;
    let table = t.app.config.table_name.clone();
    let via_proxy = sdk_config_with(Some(&proxy.url), &t.overrides).await;
    let mut app = custom_domains::App::new(
        config(
            &t.overrides
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        ),
        &via_proxy,
    )
    .unwrap();
    app.store = custom_domains::adapters::store::Store::new(
        aws_sdk_dynamodb::Client::new(&via_proxy),
        table.clone(),
    );
    let base = serve(std::sync::Arc::new(app)).await;
    let domain = format!("{}.example.com", unique("inflight"));
    let racer = |i: usize, wait_for_transaction: bool| {
        let tenant = unique("racer-");
        let (url, body) = if i % 2 == 0 {
            (
                format!("{base}/api/domain/start-certificate/{tenant}"),
                serde_json::json!({ "domain": domain }).to_string(),
            )
        } else {
            (
                format!("{base}/domains/request"),
                serde_json::json!({ "domain": domain, "workspace_id": tenant }).to_string(),
            )
        };
        let matched = proxy.matched_counter();
        tokio::spawn(async move {
            // The second wave sets off once the winner's transaction is in
            // flight: their claims meet it.
            while wait_for_transaction && matched.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            (tenant.clone(), post(&token_for(&tenant), &url, &body).await)
        })
    };
    let calls: Vec<_> = (0..12).map(|i| racer(i, i >= 4)).collect();
    // Let the transaction go a moment after the first claim met it.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while local_server::aws_rules::dynamodb::conflicts_on(&table) == 0
        && std::time::Instant::now() < until
    {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    HOLDING_TRANSACTION.store(false, Ordering::SeqCst);
    let (winners, refused) = winners_and_taken(calls).await;
    assert_eq!((winners.len(), refused), (1, 11), "winners: {winners:?}");
    let name = DomainName::parse(&domain).unwrap();
    let owner = t.app.store.owner_of(&name).await.unwrap().unwrap();
    assert_eq!(owner.as_str(), winners[0]);
    assert!(
        local_server::aws_rules::dynamodb::conflicts_on(&table) > 0,
        "no claim met the transaction in flight"
    );
}

#[tokio::test]
async fn an_owner_releases_a_pending_hostname_and_another_tenant_may_then_claim_it() {
    let a = tenant().start().await;
    let b = tenant().start().await;
    let (status, _) = a.start().await;
    assert_eq!(status, 200);
    let name = DomainName::parse(&a.domain).unwrap();

    // Another tenant's name answers as an unclaimed one: B learns nothing.
    let (status, err) = delete(&b.token, &a.release_url(&a.domain)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    let unclaimed = format!("{}.example.com", unique("free"));
    let (status, err) = delete(&a.token, &a.release_url(&unclaimed)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    assert!(a.app.store.owner_of(&name).await.unwrap().is_some());

    let (status, released) = delete(&a.token, &a.release_url(&a.domain)).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["status"], "released");
    assert!(a.app.store.owner_of(&name).await.unwrap().is_none());
    assert!(a.app.store.load_order(&name).await.unwrap().is_none());
    let (status, taken) = post(&b.token, &b.start_url(), &a.body()).await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(
        a.app.store.owner_of(&name).await.unwrap().unwrap().as_str(),
        b.org
    );
}

#[tokio::test]
async fn releasing_a_pending_acm_request_deletes_its_unused_certificate() {
    let t = tenant().start().await;
    let (status, requested) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 200, "{requested}");
    let id = requested["request_id"].as_str().unwrap();
    let name = DomainName::parse(&t.domain).unwrap();
    let arn = t
        .app
        .store
        .load_acm_request(&name)
        .await
        .unwrap()
        .unwrap()
        .certificate_arn;

    let (status, released) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 200, "{released}");
    let acm = aws_sdk_acm::Client::new(&sdk_config(None).await);
    assert!(
        acm.describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .is_err(),
        "the certificate is still in ACM"
    );
    let (status, _) = get(&t.token, &t.status_url(id)).await;
    assert_eq!(status, 404);
    assert!(t.app.store.owner_of(&name).await.unwrap().is_none());

    // Claiming it again makes a new certificate, not ACM's answer for the deleted one.
    let (status, again) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["request_id"], id);
    let new_arn = t
        .app
        .store
        .load_acm_request(&name)
        .await
        .unwrap()
        .unwrap()
        .certificate_arn;
    assert_ne!(new_arn, arn);
    let (status, pending) = get(
        &t.token,
        &t.status_url(again["request_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200, "{pending}");
}

/// A release deletes only certificates tagged as this deployment's (the
/// policies scope DeleteCertificate by `custom-domains:stack`): one someone
/// else imported into the account, untagged, that the hostname's record
/// names is refused by IAM and left in ACM, and the release still frees
/// the name.
#[tokio::test]
async fn a_release_leaves_a_certificate_someone_else_made_in_acm() {
    use aws_sdk_acm::primitives::Blob;
    use custom_domains::adapters::acm::STACK_TAG;
    let t = tenant().start().await;
    let (status, requested) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 200, "{requested}");
    let name = DomainName::parse(&t.domain).unwrap();
    let mut record = t.app.store.load_acm_request(&name).await.unwrap().unwrap();
    let ours = record.certificate_arn.clone();
    let acm = aws_sdk_acm::Client::new(&sdk_config(None).await);
    let tags = acm
        .list_tags_for_certificate()
        .certificate_arn(&ours)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|tag| tag.key() == STACK_TAG && tag.value() == Some(&t.app.config.stack_name)),
        "the requested certificate is not tagged as this deployment's: {tags:?}"
    );

    // Someone else's certificate, imported directly, without tags; the
    // hostname's record comes to name it.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec![t.domain.clone()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let theirs = acm
        .import_certificate()
        .certificate(Blob::new(cert.pem()))
        .private_key(Blob::new(key.serialize_pem()))
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    record.certificate_arn = theirs.clone();
    t.app.store.save_acm_request(&mut record).await.unwrap();
    aws_calls::expect_refusal(&theirs);

    let (status, released) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["status"], "released", "{released}");
    assert!(t.app.store.owner_of(&name).await.unwrap().is_none());
    assert!(
        acm.describe_certificate()
            .certificate_arn(&theirs)
            .send()
            .await
            .is_ok(),
        "the release deleted a certificate someone else made"
    );
    for arn in [theirs, ours] {
        acm.delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .unwrap();
    }
}

/// The distribution's aliases and viewer certificate ARN.
pub(crate) async fn distribution(id: &str) -> (Vec<String>, Option<String>) {
    let sdk = sdk_config(None).await;
    let out = cloudfront_client(&sdk)
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .unwrap();
    let config = out.distribution_config.unwrap();
    (
        config.aliases.and_then(|a| a.items).unwrap_or_default(),
        config
            .viewer_certificate
            .and_then(|v| v.acm_certificate_arn),
    )
}

async fn acm_us_east_1() -> aws_sdk_acm::Client {
    let sdk = sdk_config(None).await;
    aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(&sdk)
            .region(aws_sdk_acm::config::Region::new("us-east-1"))
            .build(),
    )
}

#[tokio::test]
async fn a_live_hostname_is_released_completely_and_can_be_claimed_again() {
    let t = tenant().start().await;
    let (a_start, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let name = DomainName::parse(&t.domain).unwrap();
    let serial = t.served().await.certificate.serial;

    // Released through a fresh container, as the release-domain function
    // would be: every call it makes, down to loading the ACME account, is
    // its own.
    let fresh = custom_domains::App::new(t.app.config.clone(), &sdk_config(None).await).unwrap();
    let base = serve(std::sync::Arc::new(fresh)).await;
    let (status, released) = delete(&t.token, &format!("{base}/domains/{}", t.domain)).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["status"], "released");
    assert_eq!(
        released["removed"],
        serde_json::json!([
            "detached",
            "certificate_deleted",
            "authorizations_deactivated",
            "revoked",
            "records_deleted"
        ])
    );
    // Off the distribution (back on CloudFront's default certificate), out
    // of ACM, revoked at the CA, and nothing of it left in the table.
    let (aliases, viewer_arn) = distribution(&t.distribution_id).await;
    assert!(aliases.is_empty(), "{aliases:?}");
    assert!(
        viewer_arn.unwrap_or_default().is_empty(),
        "still on the certificate"
    );
    assert!(acm_us_east_1()
        .await
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .is_err());
    let status = pebble_management(&format!("/cert-status-by-serial/{serial}")).await;
    assert!(status.contains("Revoked"), "{status}");
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(
        records.owner.is_none()
            && records.served.is_none()
            && records.mapping.is_none()
            && records.order.is_none(),
        "{records:?}"
    );
    // Repeating the release finds nothing to release.
    let (status, _) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 404);

    // Another tenant may claim it now, and must prove control itself. The
    // stack's Pebble reuses valid authorizations (PEBBLE_AUTHZREUSE=100, as
    // Let's Encrypt does for 30 days): A's were deactivated, so B's order
    // has a fresh one, with a new value, and the TXT record A left in DNS
    // proves nothing for B; nor does B's challenge record alone, in the 30
    // days a CA may keep what A's claim made: B's claim record too.
    let mut b = tenant().start().await;
    b.domain = t.domain.clone();
    let (status, start) = b.start().await;
    assert_eq!(status, 200, "{start}");
    assert_eq!(start["status"], "pending", "{start}");
    assert_ne!(start["txt_record_value"], a_start["txt_record_value"]);
    let (status, refused) = b.complete().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "dns_record_missing", "{refused}");
    b.publish(&start).await;
    let (status, refused) = b.complete().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["details"]["expected"]["name"],
        start["claim_record"]["name"]
    );
    set_txt(
        start["claim_record"]["name"].as_str().unwrap(),
        start["claim_record"]["value"].as_str().unwrap(),
    )
    .await;
    let ((status, done), _) = b.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
}

#[tokio::test]
async fn a_release_waits_for_a_call_under_way_and_nothing_new_starts_during_it() {
    // One step per call, as a release cut off by its time budget.
    let t = tenant().env("COMPLETE_TIME_BUDGET_MS", "0").start().await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let name = DomainName::parse(&t.domain).unwrap();

    // A complete-certificate or renewal holds the hostname: the release
    // waits, having changed nothing.
    let until = custom_domains::domain::Timestamp::now().plus(std::time::Duration::from_secs(60));
    assert!(t
        .app
        .store
        .take_lease(&name, "someone-else", until)
        .await
        .unwrap());
    let (status, waiting) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 202, "{waiting}");
    assert_eq!(waiting["removed"], serde_json::json!([]));
    assert!(!t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .is_releasing());
    t.app
        .store
        .release_lease(&name, "someone-else")
        .await
        .unwrap();

    // The release begins: one step (the detach waits out CloudFront's
    // certificate change of the issuance first), then nothing new for
    // the name.
    let mut calls = 0;
    let first = loop {
        let (status, first) = delete(&t.token, &t.release_url(&t.domain)).await;
        assert_eq!(status, 202, "{first}");
        assert_eq!(first["status"], "releasing");
        if first["removed"] != serde_json::json!([]) {
            break first;
        }
        calls += 1;
        assert!(calls < 100, "never detached: {first}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(first["removed"], serde_json::json!(["detached"]));
    for (status, body) in [t.start().await, t.complete().await, t.renew().await] {
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("domain_releasing")),
            "{body}"
        );
    }
    let (status, _) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 409);
    // Each repeat goes on from where the last stopped.
    let mut last = first;
    for _ in 0..10 {
        let (status, answer) = delete(&t.token, &t.release_url(&t.domain)).await;
        last = answer;
        if status == 200 {
            break;
        }
        assert_eq!(status, 202, "{last}");
    }
    assert_eq!(last["status"], "released", "{last}");
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .owner
        .is_none());
}

#[tokio::test]
async fn a_live_acm_hostname_is_released_with_its_custom_domain() {
    let t = tenant().start().await;
    let (status, requested) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 200, "{requested}");
    let id = requested["request_id"].as_str().unwrap();
    let seen = crate::acm_path::poll_status(&t.token, &t.status_url(id)).await;
    assert_eq!(seen.last().unwrap().1["status"], "CONFIGURED");
    let arn = t
        .app
        .store
        .load_hostname(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .acm_request
        .unwrap()
        .certificate_arn;

    let (status, released) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 200, "{released}");
    let sdk = sdk_config(None).await;
    assert!(aws_sdk_apigatewayv2::Client::new(&sdk)
        .get_domain_name()
        .domain_name(&t.domain)
        .send()
        .await
        .is_err());
    assert!(aws_sdk_acm::Client::new(&sdk)
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .is_err());
    let (status, _) = get(&t.token, &t.status_url(id)).await;
    assert_eq!(status, 404);
}

/// A tenant that lets its orders fail and orders its names again spends
/// its own order slots (`TENANT_NEW_ORDERS_PER_HOUR`), not the shared ACME
/// account's 300 orders per 3 hours.
#[tokio::test]
async fn a_tenants_orders_again_after_failed_ones_stop_at_its_own_limit() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant()
        .acme_via(&proxy)
        .env("TENANT_NEW_ORDERS_PER_HOUR", "3")
        .start()
        .await;
    let (status, first) = t.start().await;
    assert_eq!(status, 200, "{first}");
    for attempt in 0..3 {
        // The CA no longer knows the order (as after it failed or
        // expired): start orders again.
        proxy.fail_next(
            "/my-order/",
            1,
            404,
            "urn:ietf:params:acme:error:malformed",
            None,
        );
        let (status, again) = t.start().await;
        if attempt < 2 {
            assert_eq!(status, 200, "{again}");
        } else {
            assert_eq!(status, 429, "{again}");
            assert_eq!(again["code"], "tenant_rate_limited", "{again}");
        }
    }
    proxy.clear_faults();
    assert_eq!(proxy.new_orders().len(), 3, "orders placed past the limit");
}

#[tokio::test]
async fn a_tenant_starts_only_so_many_new_hostnames_an_hour() {
    let t = tenant()
        .env("TENANT_NEW_ORDERS_PER_HOUR", "2")
        .start()
        .await;
    let start = |domain: String| {
        let (token, url) = (t.token.clone(), t.start_url());
        async move {
            post(
                &token,
                &url,
                &serde_json::json!({ "domain": domain }).to_string(),
            )
            .await
        }
    };
    let names: Vec<String> = (0..3)
        .map(|_| format!("{}.example.com", unique("quota")))
        .collect();
    for name in &names[..2] {
        let (status, body) = start(name.clone()).await;
        assert_eq!(status, 200, "{body}");
    }
    // Asking again for a hostname already under way costs nothing.
    let (status, body) = start(names[0].clone()).await;
    assert_eq!(status, 200, "{body}");
    // A third new one within the hour is refused, before anything is
    // claimed or ordered, on either path.
    let (status, err) = start(names[2].clone()).await;
    assert_eq!(status, 429, "{err}");
    assert_eq!(err["code"], "tenant_rate_limited");
    let retry_after = err["details"]["retry_after"].as_u64().unwrap();
    assert!(retry_after > 3500 && retry_after <= 3600, "{retry_after}");
    let name = DomainName::parse(&names[2]).unwrap();
    assert!(t.app.store.owner_of(&name).await.unwrap().is_none());
    let body = serde_json::json!({ "domain": names[2], "workspace_id": t.org }).to_string();
    let (status, err) = post(&t.token, &t.request_url(), &body).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (429, Some("tenant_rate_limited"))
    );
    // Another tenant is not held back by this one.
    let other = tenant()
        .env("TENANT_NEW_ORDERS_PER_HOUR", "2")
        .start()
        .await;
    let (status, body) = other.start().await;
    assert_eq!(status, 200, "{body}");
}

/// Moves the hostname's claim back in time, as days passing would.
pub(crate) async fn age_claim(t: &Tenant, domain: &str, days: u64) {
    let sdk = sdk_config(None).await;
    let then = custom_domains::domain::Timestamp::now()
        .minus(std::time::Duration::from_secs(days * 86400));
    aws_sdk_dynamodb::Client::new(&sdk)
        .update_item()
        .table_name(&t.app.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DOMAIN#{domain}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("OWNER".into()),
        )
        .update_expression("SET claimed_at = :then, active_at = :then")
        .expression_attribute_values(
            ":then",
            aws_sdk_dynamodb::types::AttributeValue::S(then.to_string()),
        )
        .send()
        .await
        .unwrap();
}

/// Moves the end of the hostname's previous claim back in time, as days
/// passing would.
pub(crate) async fn age_previous_claim(t: &Tenant, domain: &str, days: u64) {
    let sdk = sdk_config(None).await;
    let then = custom_domains::domain::Timestamp::now()
        .minus(std::time::Duration::from_secs(days * 86400));
    aws_sdk_dynamodb::Client::new(&sdk)
        .update_item()
        .table_name(&t.app.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DOMAIN#{domain}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PREVIOUS_CLAIM".into()),
        )
        .update_expression("SET ended_at = :then")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(
            ":then",
            aws_sdk_dynamodb::types::AttributeValue::S(then.to_string()),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unproven_claim_expires_and_a_proven_one_does_not() {
    // A claims the name and never publishes anything.
    let a = tenant().start().await;
    let (status, squat) = a.start().await;
    assert_eq!(status, 200, "{squat}");
    let b = tenant().start().await;
    let b_start = format!("{}/api/domain/start-certificate/{}", b.base, b.org);
    // Within the week the claim holds.
    let (status, err) = post(&b.token, &b_start, &a.body()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("domain_taken")),
        "{err}"
    );
    // A week on, the next tenant ends it and claims the name.
    age_claim(&a, &a.domain, 8).await;
    let (status, start) = post(&b.token, &b_start, &a.body()).await;
    assert_eq!(status, 200, "{start}");
    assert_ne!(start["order_url"], squat["order_url"]);
    let (status, _) = a.complete().await;
    assert_eq!(status, 404, "the squatter's order survived");

    // B proves control (its TXT record seen, and its claim record, as A's
    // claim ended this month): its claim never expires.
    for (name, value) in [
        (&start["txt_record_name"], &start["txt_record_value"]),
        (
            &start["claim_record"]["name"],
            &start["claim_record"]["value"],
        ),
    ] {
        set_txt(name.as_str().unwrap(), value.as_str().unwrap()).await;
    }
    let b_complete = format!("{}/api/domain/complete-certificate/{}", b.base, b.org);
    let (status, done) = post(&b.token, &b_complete, &a.body()).await;
    assert!(status == 200 || status == 202, "{done}");
    age_claim(&a, &a.domain, 30).await;
    let c = tenant().start().await;
    let c_start = format!("{}/api/domain/start-certificate/{}", c.base, c.org);
    let (status, err) = post(&c.token, &c_start, &a.body()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("domain_taken")),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_acm_path_claim_is_ended_with_its_certificate() {
    let a = tenant().start().await;
    let (status, requested) = post(&a.token, &a.request_url(), &a.request_body()).await;
    assert_eq!(status, 200, "{requested}");
    let name = DomainName::parse(&a.domain).unwrap();
    let arn = a
        .app
        .store
        .load_acm_request(&name)
        .await
        .unwrap()
        .unwrap()
        .certificate_arn;
    age_claim(&a, &a.domain, 8).await;
    let b = tenant().start().await;
    let url = format!("{}/api/domain/start-certificate/{}", b.base, b.org);
    let (status, start) = post(&b.token, &url, &a.body()).await;
    assert_eq!(status, 200, "{start}");
    let sdk = sdk_config(None).await;
    assert!(aws_sdk_acm::Client::new(&sdk)
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .is_err());
    let (status, _) = get(
        &a.token,
        &a.status_url(requested["request_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_tenant_that_proves_control_takes_over_an_unproven_claim_but_never_a_proven_one() {
    // A squats the name on the ACME path and publishes nothing.
    let a = tenant().start().await;
    let (status, squat) = a.start().await;
    assert_eq!(status, 200, "{squat}");

    // B (ACM path) is refused, and told which record would prove control.
    let b = tenant().start().await;
    let mut b = b;
    b.domain = a.domain.clone();
    let (b_request, body) = (b.request_url(), b.request_body());
    let (status, refused) = post(&b.token, &b_request, &body).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("domain_taken")),
        "{refused}"
    );
    let record = &refused["details"]["takeover_record"];
    let name = record["name"].as_str().unwrap().to_owned();
    assert_eq!(name, format!("_custom-domains-claim.{}", a.domain));
    let value = record["value"].as_str().unwrap().to_owned();

    // C cannot use B's record: its own value differs.
    let c = tenant().start().await;
    let c_start = format!("{}/api/domain/start-certificate/{}", c.base, c.org);
    set_txt(&name, &value).await;
    let (status, refused) = post(&c.token, &c_start, &a.body()).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("domain_taken")),
        "{refused}"
    );
    assert_ne!(
        refused["details"]["takeover_record"]["value"],
        value.as_str()
    );

    // With B's record published, B's same call takes the name over: A's
    // order is gone.
    let (status, requested) = post(&b.token, &b_request, &body).await;
    assert_eq!(status, 200, "{requested}");
    let (status, gone) = a.complete().await;
    assert_eq!(status, 404, "{gone}");

    // B proves control through ACM's validation (the status poll that sees
    // the certificate issued configures the name): now nobody takes it
    // over, whatever they publish.
    let request_id = requested["request_id"].as_str().unwrap();
    let seen = crate::acm_path::poll_status(&b.token, &b.status_url(request_id)).await;
    let (status, configured) = seen.last().unwrap();
    assert_eq!(*status, 200, "{configured}");
    let (c_name, c_value) = (
        refused["details"]["takeover_record"]["name"]
            .as_str()
            .unwrap()
            .to_owned(),
        refused["details"]["takeover_record"]["value"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    set_txt(&c_name, &c_value).await;
    let (status, refused) = post(&c.token, &c_start, &a.body()).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("domain_taken")),
        "{refused}"
    );
    // The refusal reads as any other (C learns nothing of the claim's
    // state), and the record, though published, takes nothing over.
    assert_eq!(
        refused["details"]["takeover_record"]["name"],
        c_name.as_str(),
        "{refused}"
    );
    assert_eq!(
        a.app
            .store
            .owner_of(&DomainName::parse(&a.domain).unwrap())
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        b.org
    );
    clear_txt(&c_name).await;
    clear_txt(&name).await;
}

#[tokio::test]
async fn a_tenant_has_only_so_many_hostnames_awaiting_validation() {
    let t = tenant()
        .shared_edge()
        .env("TENANT_PENDING_HOSTNAMES", "2")
        .start()
        .await;
    let body = |domain: &str| serde_json::json!({ "domain": domain }).to_string();
    // One served hostname does not count against the limit.
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    // Two awaiting validation, one on each path, fill it.
    let acme = format!("{}.example.com", unique("pending"));
    let acm = format!("{}.example.com", unique("pending"));
    let (status, answer) = post(&t.token, &t.start_url(), &body(&acme)).await;
    assert_eq!(status, 200, "{answer}");
    let acm_body = serde_json::json!({ "domain": acm, "workspace_id": t.org }).to_string();
    let (status, answer) = post(&t.token, &t.request_url(), &acm_body).await;
    assert_eq!(status, 200, "{answer}");
    // Asking again about one of them is no new hostname.
    let (status, answer) = post(&t.token, &t.start_url(), &body(&acme)).await;
    assert_eq!(status, 200, "{answer}");
    // A third is refused on either path before anything is claimed.
    let third = format!("{}.example.com", unique("pending"));
    let (status, err) = post(&t.token, &t.start_url(), &body(&third)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (429, Some("tenant_pending_limit")),
        "{err}"
    );
    assert!(err["details"]["retry_after"].as_u64().unwrap() > 0, "{err}");
    let third_acm = serde_json::json!({ "domain": third, "workspace_id": t.org }).to_string();
    let (status, err) = post(&t.token, &t.request_url(), &third_acm).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (429, Some("tenant_pending_limit")),
        "{err}"
    );
    let name = DomainName::parse(&third).unwrap();
    assert!(t.app.store.owner_of(&name).await.unwrap().is_none());
    // Releasing one frees its place.
    let (status, released) = delete(&t.token, &t.release_url(&acme)).await;
    assert_eq!(status, 200, "{released}");
    let (status, answer) = post(&t.token, &t.start_url(), &body(&third)).await;
    assert_eq!(status, 200, "{answer}");
}

/// A tenant starting several new hostnames at once, on both paths, ends
/// with no more awaiting validation than its limit, although the index the
/// limit was once read from answers a little behind the table (as
/// DynamoDB's do; modelled by the local stack): the limit is kept on the
/// tenant's own item, checked in the claim's transaction.
#[tokio::test]
async fn a_tenant_racing_new_hostnames_ends_with_no_more_pending_than_its_limit() {
    let t = tenant()
        .shared_edge()
        .env("TENANT_PENDING_HOSTNAMES", "2")
        .start()
        .await;
    let names: Vec<String> = (0..5)
        .map(|_| format!("{}.example.com", unique("pendingrace")))
        .collect();
    let calls: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (url, body) = if i % 2 == 0 {
                (
                    t.start_url(),
                    serde_json::json!({ "domain": name }).to_string(),
                )
            } else {
                (
                    t.request_url(),
                    serde_json::json!({ "domain": name, "workspace_id": t.org }).to_string(),
                )
            };
            let token = t.token.clone();
            tokio::spawn(async move { post(&token, &url, &body).await })
        })
        .collect();
    let mut started = 0;
    for call in calls {
        let (status, answer) = call.await.unwrap();
        match status {
            200 => started += 1,
            429 => assert_eq!(answer["code"], "tenant_pending_limit", "{answer}"),
            // The starts' transactions all write the tenant's item: one
            // that keeps meeting the others' in flight is told to repeat.
            409 => assert_eq!(answer["code"], "concurrent_update", "{answer}"),
            other => panic!("a start got {other}: {answer}"),
        }
    }
    let mut pending = 0;
    for name in &names {
        let records = t
            .app
            .store
            .load_hostname(&DomainName::parse(name).unwrap())
            .await
            .unwrap();
        let order = records.order.as_ref().is_some_and(|o| {
            o.org_id.as_str() == t.org && o.purpose == custom_domains::domain::Purpose::Issue
        });
        let request = records.acm_request.as_ref().is_some_and(|r| {
            r.workspace_id.as_str() == t.org
                && r.stage != custom_domains::domain::AcmStage::Configured
        });
        pending += usize::from(order || request);
    }
    assert!(
        pending <= 2 && started <= 2,
        "{started} started, {pending} pending; the limit is 2"
    );
    assert!(started >= 1, "none of the hostnames started");
}

/// The local stack's index answers behind its table by the modelled lag:
/// an item just written is missing from an index query, and there once the
/// lag has passed; the table, read consistently, has it at once.
#[tokio::test]
async fn an_index_answers_a_moment_behind_its_table() {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let t = tenant().start().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(None).await);
    let tenant_id = unique("lagging-");
    let pk = AttributeValue::S(format!("DOMAIN#{}.example.com", unique("lag")));
    ddb.put_item()
        .table_name(&t.app.config.table_name)
        .item("pk", pk.clone())
        .item("sk", AttributeValue::S("ACM_REQUEST".into()))
        .item("pending_tenant", AttributeValue::S(tenant_id.clone()))
        .send()
        .await
        .unwrap();
    let count = || async {
        ddb.query()
            .table_name(&t.app.config.table_name)
            .index_name("PendingByTenant")
            .key_condition_expression("pending_tenant = :t")
            .expression_attribute_values(":t", AttributeValue::S(tenant_id.clone()))
            .select(Select::Count)
            .send()
            .await
            .unwrap()
            .count()
    };
    assert_eq!(count().await, 0, "the index showed a write at once");
    let table = ddb
        .get_item()
        .table_name(&t.app.config.table_name)
        .key("pk", pk)
        .key("sk", AttributeValue::S("ACM_REQUEST".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(table.item.is_some());
    tokio::time::sleep(local_server::aws_rules::dynamodb::index_lag()).await;
    assert_eq!(count().await, 1);
}

/// Releases until done; answers the last answer.
#[tokio::test]
async fn a_release_during_a_slow_import_leaves_nothing_behind() {
    let proxy = FaultProxy::start(is_import, Fault::Delay { millis: 1500 }).await;
    let t = Tenant::importing_through(tenant(), &proxy).await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    let complete = tokio::spawn({
        let (token, url, body) = (t.token.clone(), t.complete_url(), t.body());
        async move {
            let mut last = (0, serde_json::Value::Null);
            for _ in 0..20 {
                last = post(&token, &url, &body).await;
                if last.0 != 202 {
                    break;
                }
            }
            last
        }
    });
    // The import is under way (held at the proxy): the release waits for
    // the call holding the hostname, having changed nothing.
    while proxy.matched() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, waiting) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 202, "{waiting}");
    assert_eq!(waiting["removed"], serde_json::json!([]), "{waiting}");
    let (status, done) = complete.await.unwrap();
    assert_eq!(status, 200, "{done}");

    // Then it removes everything the complete made: no certificate in ACM,
    // no alias, no mapping, no claim.
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    assert!(crate::acme_path::acm_certificates_for(&t.domain)
        .await
        .is_empty());
    let (aliases, _) = distribution(&t.distribution_id).await;
    assert!(aliases.is_empty(), "{aliases:?}");
    let name = DomainName::parse(&t.domain).unwrap();
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(
        records.owner.is_none() && records.mapping.is_none(),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_release_after_a_lost_import_answer_deletes_the_imported_certificate() {
    let proxy = FaultProxy::start(is_import, Fault::ForwardThenFail { status: 500 }).await;
    let t = Tenant::importing_through(tenant(), &proxy).await;
    let (_, (status, err)) = t.start_and_complete().await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(
        crate::acme_path::acm_certificates_for(&t.domain)
            .await
            .len(),
        1
    );
    // The tenant leaves instead of retrying: the certificate ACM holds
    // (whose ARN the product never learnt) goes too.
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    assert!(
        crate::acme_path::acm_certificates_for(&t.domain)
            .await
            .is_empty(),
        "the imported certificate was left in ACM"
    );
}

/// ACM's idempotency token and the order's are derived from when the claim
/// began: no later write may move it.
#[tokio::test]
async fn a_claim_keeps_the_time_it_began_through_every_later_write() {
    let t = tenant().start().await;
    let name = DomainName::parse(&t.domain).unwrap();
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    let began = t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .owner
        .unwrap()
        .claimed_at;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = t.start().await;
    assert_eq!(status, 200);
    t.publish(&start).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    let (status, _) = t.renew().await;
    assert!(status == 200 || status == 202 || status == 429, "{status}");
    let owner = t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .owner
        .unwrap();
    assert_eq!(owner.claimed_at, began);
    assert!(owner.proven_at.is_some());
}

/// The racers that won a claim race, and how many were refused as
/// `409 domain_taken` (any other answer fails the test).
async fn winners_and_taken(
    calls: Vec<tokio::task::JoinHandle<(String, (u16, serde_json::Value))>>,
) -> (Vec<String>, usize) {
    let mut winners = Vec::new();
    let mut refused = 0;
    for call in calls {
        let (tenant, (status, answer)) = call.await.unwrap();
        match status {
            200 => winners.push(tenant),
            409 => {
                assert_eq!(answer["code"], "domain_taken", "{answer}");
                refused += 1;
            }
            other => panic!("a racer got {other}: {answer}"),
        }
    }
    (winners, refused)
}

/// A name accepted under older rules that today's refuse (here a public
/// suffix, as after a Public Suffix List update made it one) still lists
/// and releases for the tenant that holds it; another tenant is refused as
/// for any invalid name.
#[tokio::test]
async fn a_name_todays_rules_refuse_still_lists_and_releases() {
    let t = tenant().own_table().start().await;
    let name = "github.io";
    assert!(DomainName::parse(name).is_err(), "not refused today");
    let stored = DomainName::stored(name).unwrap();
    let org = custom_domains::domain::TenantId::parse("org", &t.org).unwrap();
    t.app.store.claim(&stored, &org).await.unwrap();
    index_caught_up().await;

    let (status, list) = get(&t.token, &format!("{}/domains", t.base)).await;
    assert_eq!(status, 200, "{list}");
    assert!(list.to_string().contains(name), "{list}");
    let other = token_for("org-other");
    let (status, refused) = delete(&other, &t.release_url(name)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_domain")),
        "{refused}"
    );
    let (status, released) = delete(&t.token, &t.release_url(name)).await;
    assert_eq!(status, 200, "{released}");
    assert!(t
        .app
        .store
        .load_hostname(&stored)
        .await
        .unwrap()
        .owner
        .is_none());
}
