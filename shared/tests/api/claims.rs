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

#[tokio::test]
async fn an_owner_releases_a_pending_hostname_and_another_tenant_may_then_claim_it() {
    let a = tenant().start().await;
    let b = tenant().start().await;
    let (status, _) = a.start().await;
    assert_eq!(status, 200);
    let name = DomainName::parse(&a.domain).unwrap();

    let (status, err) = delete(&b.token, &a.release_url(&a.domain)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (403, Some("forbidden")),
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

#[tokio::test]
async fn a_live_hostname_cannot_be_released() {
    let t = tenant().start().await;
    let (_, (status, _)) = t.start_and_complete().await;
    assert_eq!(status, 200);
    let (status, err) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("domain_live")),
        "{err}"
    );
    let name = DomainName::parse(&t.domain).unwrap();
    assert_eq!(
        t.app.store.owner_of(&name).await.unwrap().unwrap().as_str(),
        t.org
    );
    assert!(t.app.store.mapping_for(&name).await.unwrap().is_some());
}
