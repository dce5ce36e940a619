//! The platform's own data about a hostname (`custom_metadata`): given
//! with a start or an ACM request, kept with the claim, returned by the
//! status and list routes, replaced by `PATCH /domains/{domain}`. A value
//! that is not an object, or larger than 4 KB, is refused before anything
//! is written.

use serde_json::{json, Value};

use crate::support::*;

async fn patch(t: &Tenant, domain: &str, body: &Value) -> (u16, Value) {
    request(
        "PATCH",
        &t.release_url(domain),
        &body.to_string(),
        Some("application/json"),
        Some(&t.token),
    )
    .await
}

/// The hostname's entry in the tenant's list.
async fn listed(t: &Tenant) -> Value {
    index_caught_up().await;
    let (code, list) = get(&t.token, &format!("{}/domains", t.base)).await;
    assert_eq!(code, 200, "{list}");
    list["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["domain"] == t.domain.as_str())
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn metadata_is_kept_returned_replaced_and_removed() {
    let t = tenant().start().await;
    let metadata = json!({"site_id": "site-8812", "plan": "pro", "tags": ["eu"]});
    let body = json!({"domain": t.domain, "custom_metadata": metadata}).to_string();
    let (code, start) = post(&t.token, &t.start_url(), &body).await;
    assert_eq!(code, 200, "{start}");
    let (_, status) = t.certificate_status().await;
    assert_eq!(status["custom_metadata"], metadata);
    assert_eq!(listed(&t).await["custom_metadata"], metadata);

    // Replaced whole, not merged.
    let new = json!({"site_id": "site-9"});
    let (code, answer) = patch(&t, &t.domain, &json!({ "custom_metadata": new })).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["custom_metadata"], new);
    let (_, status) = t.certificate_status().await;
    assert_eq!(status["custom_metadata"], new);
    // A repeated start without metadata leaves it; one with it sets it.
    let (code, _) = t.start().await;
    assert_eq!(code, 200);
    assert_eq!(listed(&t).await["custom_metadata"], new);

    let (code, answer) = patch(&t, &t.domain, &json!({ "custom_metadata": null })).await;
    assert_eq!(code, 200, "{answer}");
    assert!(listed(&t).await["custom_metadata"].is_null());

    // Bad bodies, and another tenant's name.
    for (body, code) in [
        (json!({}), "invalid_json"),
        (
            json!({"custom_metadata": {}, "domain": "x"}),
            "invalid_json",
        ),
        (json!({"custom_metadata": [1, 2]}), "invalid_metadata"),
        (json!({"custom_metadata": "text"}), "invalid_metadata"),
        (
            json!({"custom_metadata": {"k": "x".repeat(4096)}}),
            "invalid_metadata",
        ),
    ] {
        let (status, err) = patch(&t, &t.domain, &body).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some(code)),
            "{body}: {err}"
        );
    }
    let other = tenant().start().await;
    let (status, err) = patch(&other, &t.domain, &json!({"custom_metadata": {}})).await;
    assert_eq!(status, 404, "{err}");
    assert!(listed(&t).await["custom_metadata"].is_null());
}

#[tokio::test]
async fn metadata_that_is_not_a_small_object_refuses_the_start_before_anything_is_claimed() {
    let t = tenant().start().await;
    for metadata in [json!([1]), json!({"k": "x".repeat(5000)})] {
        let body = json!({"domain": t.domain, "custom_metadata": metadata}).to_string();
        let (code, err) = post(&t.token, &t.start_url(), &body).await;
        assert_eq!(
            (code, err["code"].as_str()),
            (400, Some("invalid_metadata")),
            "{err}"
        );
        let body = json!({"domain": t.domain, "workspace_id": t.org, "custom_metadata": metadata})
            .to_string();
        let (code, err) = post(&t.token, &t.request_url(), &body).await;
        assert_eq!(
            (code, err["code"].as_str()),
            (400, Some("invalid_metadata")),
            "{err}"
        );
    }
    assert!(listed(&t).await.is_null(), "nothing was claimed");
}

#[tokio::test]
async fn an_acm_request_keeps_its_metadata_on_the_status_route() {
    let t = tenant().start().await;
    let metadata = json!({"site_id": "acm-1"});
    let body =
        json!({"domain": t.domain, "workspace_id": t.org, "custom_metadata": metadata}).to_string();
    let (code, answer) = post(&t.token, &t.request_url(), &body).await;
    assert_eq!(code, 200, "{answer}");
    let id = answer["request_id"].as_str().unwrap();
    let (code, status) = get(&t.token, &t.status_url(id)).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["custom_metadata"], metadata);
    assert_eq!(listed(&t).await["custom_metadata"], metadata);
}
