//! The CA's rate limits, kept by the product (`flows::acme::limits`), with
//! small configured limits: a call that would pass one is refused with
//! `429 acme_rate_limited`, the limit's name and `retry_after`, before the
//! CA is asked. Each test has a table of its own, so the ledger is its own.

use custom_domains::domain::DomainName;

use crate::support::*;

fn body(domain: &str) -> String {
    serde_json::json!({ "domain": domain }).to_string()
}

fn assert_limit(answer: &(u16, serde_json::Value), limit: &str, most: u64) {
    let (status, err) = answer;
    assert_eq!(*status, 429, "{err}");
    assert_eq!(err["code"], "acme_rate_limited", "{err}");
    assert_eq!(err["details"]["limit"], limit, "{err}");
    let retry = err["details"]["retry_after"].as_u64().unwrap();
    assert!(retry > 0 && retry <= most, "{retry}");
}

#[tokio::test]
async fn new_orders_past_the_account_limit_are_refused_before_the_ca_is_asked() {
    let t = tenant()
        .own_table()
        .shared_edge()
        .env("ACME_LIMIT_NEW_ORDERS", "2")
        .start()
        .await;
    for _ in 0..2 {
        let name = format!("{}.example.com", unique("orders"));
        let (status, answer) = post(&t.token, &t.start_url(), &body(&name)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let third = format!("{}.example.com", unique("orders"));
    let answer = post(&t.token, &t.start_url(), &body(&third)).await;
    assert_limit(&answer, "new_orders", 3 * 3600);
    let name = DomainName::parse(&third).unwrap();
    assert!(t.app.store.load_order(&name).await.unwrap().is_none());
    // An ARI renewal (sent with `replaces`) is exempt, as at the CA.
    custom_domains::flows::acme::limits::before_new_order(&t.app, &name, true)
        .await
        .unwrap();
}

/// Another hostname of the same organisation (same application).
fn same_org(t: &Tenant, domain: String) -> Tenant {
    Tenant {
        app: t.app.clone(),
        base: t.base.clone(),
        org: t.org.clone(),
        domain,
        distribution_id: t.distribution_id.clone(),
        token: t.token.clone(),
        overrides: t.overrides.clone(),
    }
}

#[tokio::test]
async fn certificates_per_registered_domain_are_counted() {
    let t = tenant()
        .own_table()
        .shared_edge()
        .env("ACME_LIMIT_CERTIFICATES_PER_DOMAIN", "2")
        .start()
        .await;
    let zone = format!("{}.com", unique("registered"));
    for _ in 0..2 {
        let one = same_org(&t, format!("{}.{zone}", unique("shop")));
        let (_, (status, done)) = one.start_and_complete().await;
        assert_eq!(status, 200, "{done}");
    }
    // A third certificate under the same registered domain this week.
    let answer = post(&t.token, &t.start_url(), &body(&format!("www.{zone}"))).await;
    assert_limit(&answer, "certificates_per_domain", 7 * 86400);
    // Another registered domain is not held back.
    let other = format!("{}.example.net", unique("shop"));
    let (status, answer) = post(&t.token, &t.start_url(), &body(&other)).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_duplicate_certificate_past_the_limit_is_refused() {
    let t = tenant()
        .own_table()
        .shared_edge()
        .env("ACME_LIMIT_DUPLICATES", "1")
        .start()
        .await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    // Released and asked for again within the week: the same set of names.
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    let answer = t.start().await;
    assert_limit(&answer, "duplicates", 7 * 86400);
}

#[tokio::test]
async fn a_name_that_failed_validation_too_often_is_not_validated_again_this_hour() {
    let t = tenant()
        .own_table()
        .shared_edge()
        .env("ACME_LIMIT_FAILED_VALIDATIONS", "1")
        .start()
        .await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    // As if an earlier order for the name had failed at the CA.
    let name = DomainName::parse(&t.domain).unwrap();
    custom_domains::flows::acme::limits::validation_failed(&t.app, &name)
        .await
        .unwrap();
    let answer = t.complete().await;
    assert_limit(&answer, "failed_validations", 3600);
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["next_action"]["action"], "publish_txt_record", "{st}");
}

/// The CA answers a new order with `429 rateLimited` and a `Retry-After`
/// (through the test proxy in front of Pebble): the caller gets
/// `429 acme_rate_limited` with the CA's own `retry_after`, though
/// instant-acme drops the headers of an error (the product's HTTP client
/// reads them).
#[tokio::test]
async fn the_cas_rate_limit_reaches_the_caller_with_its_retry_after() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant().acme_via(&proxy).start().await;
    proxy.fail_next(
        "order-plz",
        1,
        429,
        "urn:ietf:params:acme:error:rateLimited",
        Some(1234),
    );
    let (status, err) = t.start().await;
    assert_eq!(status, 429, "{err}");
    assert_eq!(err["code"], "acme_rate_limited");
    assert_eq!(err["details"]["retry_after"], 1234, "{err}");
    let name = DomainName::parse(&t.domain).unwrap();
    assert!(t.app.store.load_order(&name).await.unwrap().is_none());
    // Once it has passed, the same call goes on.
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
}

/// The CA is unavailable for a moment (503 with a short Retry-After): the
/// call asks again, with backoff, and succeeds; unavailable for longer, it
/// answers 502 with nothing half-written, and the next call goes on.
#[tokio::test]
async fn an_unavailable_ca_is_asked_again_within_the_call() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant().acme_via(&proxy).start().await;
    proxy.fail_next(
        "order-plz",
        2,
        503,
        "urn:ietf:params:acme:error:serverInternal",
        Some(0),
    );
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");

    let other = same_org(&t, format!("{}.example.com", unique("shop")));
    proxy.fail_next(
        "order-plz",
        3,
        503,
        "urn:ietf:params:acme:error:serverInternal",
        None,
    );
    let (status, err) = other.start().await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(err["code"], "upstream_unavailable");
    let name = DomainName::parse(&other.domain).unwrap();
    assert!(other.app.store.load_order(&name).await.unwrap().is_none());
    let (status, again) = other.start().await;
    assert_eq!(status, 200, "{again}");
}

/// The CA answers `unauthorized` because the stored account was
/// deactivated: the product registers a new account and goes on; it is not
/// the tenant's problem.
#[tokio::test]
async fn a_deactivated_account_is_registered_again() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant().shared_edge().acme_via(&proxy).start().await;
    // The account exists first (one issuance).
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let before = t
        .app
        .store
        .load_account(&proxy.directory_url())
        .await
        .unwrap();
    proxy.fail_next_saying(
        "order-plz",
        1,
        403,
        "urn:ietf:params:acme:error:unauthorized",
        None,
        "Account is not valid, has status \"deactivated\"",
    );
    let next = same_org(&t, format!("{}.example.com", unique("shop")));
    let (_, (status, done)) = next.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let after = t
        .app
        .store
        .load_account(&proxy.directory_url())
        .await
        .unwrap();
    assert_ne!(before, after, "the deactivated account was kept");
}

/// The CA drops the connection (no answer at all): a drop or two is asked
/// again within the call, which succeeds; dropped for longer, the call
/// answers 502 with its progress saved (the order stays where it got to),
/// and the next call goes on from there.
#[tokio::test]
async fn a_dropped_connection_is_asked_again_and_progress_is_kept() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant().acme_via(&proxy).start().await;
    proxy.drop_next("order-plz", 2);
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;

    // Every finalisation dropped: the order got as far as ISSUING, saved.
    proxy.drop_next("finalize-order", 3);
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..50 {
        last = t.complete().await;
        if last.0 != 202 {
            break;
        }
    }
    assert_eq!(last.0, 502, "{}", last.1);
    assert_eq!(last.1["code"], "upstream_unavailable");
    let name = DomainName::parse(&t.domain).unwrap();
    let order = t.app.store.load_order(&name).await.unwrap().unwrap();
    assert_eq!(order.stage.proxy_status(), "ISSUING");
    assert!(
        order.pending_key.is_some(),
        "the key made for the CSR was kept"
    );
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        proxy.new_orders().len(),
        1,
        "one order, though its request was dropped twice"
    );
}

/// A CA that answers too slowly never holds a call past its budget: the
/// request is abandoned at the call's deadline (plus a few seconds for a
/// step begun just before it), the call answers 502 with the order where
/// it got to, and the next call, with the CA back to speed, finishes.
#[tokio::test]
async fn a_slow_ca_never_holds_a_call_past_its_budget() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant()
        .acme_via(&proxy)
        .env("COMPLETE_TIME_BUDGET_MS", "200")
        .start()
        .await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    // The CA's answer to the finalisation is late by far more than the
    // budget and its grace: the call does not wait for it.
    proxy.delay_next("finalize-order", 1, 30_000);
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..50 {
        last = t.complete().await;
        if last.0 != 202 {
            break;
        }
    }
    let (status, err) = last;
    assert_eq!(status, 502, "{err}");
    assert_eq!(err["code"], "upstream_unavailable");
    assert!(
        crate::support::logs().contains("did not answer within the call's time budget"),
        "the CA request was not cut off at the deadline"
    );
    let name = DomainName::parse(&t.domain).unwrap();
    let order = t.app.store.load_order(&name).await.unwrap().unwrap();
    assert_eq!(
        order.stage.proxy_status(),
        "ISSUING",
        "the steps before were kept"
    );
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
}
