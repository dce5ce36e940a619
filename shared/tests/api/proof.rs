//! Proof belongs to the claimant: no tenant is issued a certificate on a DNS
//! record another tenant's claim made, although one ACME account serves
//! every tenant and the local CA behaves as Let's Encrypt's Boulder does
//! (the stack's `infra/local/boulder.py`: a new order from the account for
//! the same names is answered with its pending order, the same TXT value;
//! valid authorizations are reused for 30 days).

use custom_domains::adapters::acme::OrderStatus;
use serde_json::Value;

use crate::claims::age_claim;
use crate::support::acme_proxy::AcmeProxy;
use crate::support::*;

/// Whether the CA holds the order a start answered as over (gone, or
/// invalid: its authorizations deactivated).
async fn order_over(t: &Tenant, start: &Value) -> bool {
    let status = t
        .app
        .acme
        .order_status(start["order_url"].as_str().unwrap())
        .await
        .unwrap();
    status.is_none_or(|s| s == OrderStatus::Invalid)
}

/// The claim record a start answer asks for, as (name, value).
fn claim_record(start: &Value) -> (String, String) {
    let record = &start["claim_record"];
    assert_eq!(record["type"], "TXT", "no claim record asked for: {start}");
    (
        record["name"].as_str().unwrap().to_owned(),
        record["value"].as_str().unwrap().to_owned(),
    )
}

/// A's claim expires while A's TXT record is in DNS (A's DNS team
/// published it late): B's new order must not be A's (Boulder would hand
/// it back, with A's value, which already answers), and B proves control
/// with its own claim record before anything is issued.
#[tokio::test]
async fn an_expired_claims_order_ends_at_the_ca_and_the_next_claimant_proves_control_itself() {
    let a = tenant().start().await;
    let (status, a_start) = a.start().await;
    assert_eq!(status, 200, "{a_start}");
    a.publish(&a_start).await;
    age_claim(&a, &a.domain, 8).await;

    let mut b = tenant().start().await;
    b.domain = a.domain.clone();
    let (status, b_start) = b.start().await;
    assert_eq!(status, 200, "{b_start}");
    assert_ne!(
        b_start["order_url"], a_start["order_url"],
        "A's order reused"
    );
    assert_ne!(b_start["txt_record_value"], a_start["txt_record_value"]);
    // A's order is over at the CA: nobody can complete it any more.
    assert!(
        order_over(&a, &a_start).await,
        "A's order goes on at the CA"
    );

    // The name had another claimant: B's challenge record alone is not
    // enough, its claim record is asked for too, in the answer and in the
    // status route's next action.
    let (name, value) = claim_record(&b_start);
    assert_eq!(name, format!("_custom-domains-claim.{}", b.domain));
    assert_eq!(b_start["claim_record"]["reason"], "recent_claimant");
    b.publish(&b_start).await;
    let (status, refused) = b.complete().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "dns_record_missing", "{refused}");
    assert_eq!(refused["details"]["expected"]["name"], name.as_str());
    let (status, seen) = b.certificate_status().await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["next_action"]["actor"], "tenant", "{seen}");
    assert!(
        seen["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains(&name),
        "{seen}"
    );

    set_txt(&name, &value).await;
    let ((status, done), _) = b.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    clear_txt(&name).await;
}

/// A claimant that keeps working on its name is not expired from under
/// itself: expiry counts from its last action, not its first claim.
#[tokio::test]
async fn a_claim_expires_a_week_after_its_last_action_not_its_first() {
    let a = tenant().start().await;
    let (status, _) = a.start().await;
    assert_eq!(status, 200);
    age_claim(&a, &a.domain, 8).await;
    // A comes back: its record is not there yet, but it acted.
    let (status, refused) = a.complete().await;
    assert_eq!(status, 422, "{refused}");
    let mut b = tenant().start().await;
    b.domain = a.domain.clone();
    let (status, taken) = b.start().await;
    assert_eq!(
        (status, taken["code"].as_str()),
        (409, Some("domain_taken")),
        "{taken}"
    );
}

/// B takes over X's unproven claim by DNS proof: X's order ends at the CA
/// first, so B's order is its own (not X's, which Boulder would hand back).
#[tokio::test]
async fn a_takeover_ends_the_previous_claims_order_at_the_ca() {
    let x = tenant().start().await;
    let (status, x_start) = x.start().await;
    assert_eq!(status, 200, "{x_start}");

    let mut b = tenant().start().await;
    b.domain = x.domain.clone();
    let (status, refused) = b.start().await;
    assert_eq!(status, 409, "{refused}");
    let takeover = &refused["details"]["takeover_record"];
    let (name, value) = (
        takeover["name"].as_str().unwrap().to_owned(),
        takeover["value"].as_str().unwrap().to_owned(),
    );
    set_txt(&name, &value).await;
    let (status, b_start) = b.start().await;
    assert_eq!(status, 200, "{b_start}");
    assert_ne!(
        b_start["order_url"], x_start["order_url"],
        "X's order reused"
    );
    assert_ne!(b_start["txt_record_value"], x_start["txt_record_value"]);
    assert!(
        order_over(&x, &x_start).await,
        "X's order goes on at the CA"
    );
    // The takeover record is B's claim record: with it and B's challenge
    // record published, B is issued its certificate.
    assert_eq!(claim_record(&b_start), (name.clone(), value));
    b.publish(&b_start).await;
    let ((status, done), _) = b.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    clear_txt(&name).await;
}

/// A's release cannot deactivate A's authorization (the CA fails): the
/// release waits at that step, visibly, rather than leave a valid
/// authorization on the shared account for the next claimant; once done,
/// B, with A's TXT record still in DNS, is refused until it proves control
/// itself.
#[tokio::test]
async fn a_release_waits_for_the_ca_to_deactivate_and_the_next_claimant_proves_control_itself() {
    let proxy = AcmeProxy::start().await;
    let a = tenant().acme_via(&proxy).start().await;
    let (a_start, (status, done)) = a.start_and_complete().await;
    assert_eq!(status, 200, "{done}");

    proxy.fail_next(
        "/authZ/",
        10_000,
        500,
        "urn:ietf:params:acme:error:serverInternal",
        None,
    );
    let mut answers = Vec::new();
    for _ in 0..20 {
        let (status, answer) = delete(&a.token, &a.release_url(&a.domain)).await;
        assert_ne!(
            status, 200,
            "released with the authorization still valid: {answer}"
        );
        let blocked = status == 202
            && answer["remaining"].get(0) == Some(&Value::from("authorizations_deactivated"));
        answers.push((status, answer));
        if blocked {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, blocked) = answers.last().unwrap();
    assert_eq!(*status, 202, "{answers:?}");
    assert_eq!(
        blocked["remaining"][0], "authorizations_deactivated",
        "{blocked}"
    );
    let (status, seen) = a.certificate_status().await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["next_action"]["action"], "release_domain", "{seen}");

    proxy.clear_faults();
    let released = a.release_until_done().await;
    assert!(
        released["removed"]
            .as_array()
            .unwrap()
            .contains(&Value::from("authorizations_deactivated")),
        "{released}"
    );

    let mut b = tenant().start().await;
    b.domain = a.domain.clone();
    let (status, b_start) = b.start().await;
    assert_eq!(status, 200, "{b_start}");
    assert_ne!(b_start["txt_record_value"], a_start["txt_record_value"]);
    let (name, _) = claim_record(&b_start);
    // A's record is still in DNS, B's challenge record too: not enough.
    b.publish(&b_start).await;
    let (status, refused) = b.complete().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["details"]["expected"]["name"], name.as_str());
}
