//! One hostname, one owner: tenants racing for a name, on both paths.

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
