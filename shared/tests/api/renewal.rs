//! Renewal of served certificates, over HTTP and through the scheduled
//! sweep, against Pebble (directly, or through the ARI proxy), challtestsrv
//! and moto. Every tenant that runs a sweep has a table of its own, so a
//! sweep sees that tenant's hostnames only.

use std::time::Duration;

use aws_sdk_acm::config::Region;
use serde_json::Value;
use time::OffsetDateTime;

use crate::support::acme_proxy::AcmeProxy;
use crate::support::*;

async fn acm_us_east_1() -> aws_sdk_acm::Client {
    let sdk = sdk_config(None).await;
    aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(&sdk)
            .region(Region::new("us-east-1"))
            .build(),
    )
}

/// The leaf certificate ACM holds at `arn`, PEM.
pub(crate) async fn acm_leaf(arn: &str) -> String {
    acm_us_east_1()
        .await
        .get_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .unwrap()
        .certificate
        .unwrap()
}

/// Issues the tenant's first certificate; answers the complete answer.
/// The TXT record is taken down afterwards, as a tenant may: Pebble now and
/// then reuses the valid authorization (and so the same TXT value) for the
/// next order, which must not find the old record still there.
async fn issue(t: &Tenant) -> Value {
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    clear_txt(&format!("_acme-challenge.{}", t.domain)).await;
    done
}

/// Publishes the TXT record a renewal asks for (from the status route, as a
/// tenant's frontend would show it).
async fn publish_renewal_record(t: &Tenant) -> Value {
    let (status, st) = t.certificate_status().await;
    assert_eq!(status, 200, "{st}");
    let name = st["renewal"]["txt_record_name"]
        .as_str()
        .unwrap_or_else(|| panic!("the status route shows no TXT record for the renewal: {st}"));
    set_txt(name, st["renewal"]["txt_record_value"].as_str().unwrap()).await;
    st
}

#[tokio::test]
async fn renew_now_reimports_into_the_same_arn_and_leaves_the_distribution_alone() {
    let t = tenant().start().await;
    let done = issue(&t).await;
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let before = t.served().await;
    let etag = distribution_etag(&t.distribution_id).await;
    let leaf_before = acm_leaf(&arn).await;

    // Not delegated: the renewal needs a new TXT record, which the answer names.
    let (status, first) = t.renew().await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["stage"], "PENDING_VALIDATION");
    assert_eq!(
        first["proxy_status"], "SSL_VALIDATED",
        "still served meanwhile"
    );
    set_txt(
        first["txt_record_name"].as_str().unwrap(),
        first["txt_record_value"].as_str().unwrap(),
    )
    .await;
    // Repeating before the record is seen by the CA continues the same order.
    let mut renewed = None;
    for _ in 0..20 {
        let (status, answer) = t.renew().await;
        assert!(status == 200 || status == 202, "{status} {answer}");
        if status == 200 {
            renewed = Some(answer);
            break;
        }
    }
    let renewed = renewed.expect("renew-now never finished");
    assert_eq!(renewed["status"], "success");
    assert_eq!(renewed["certificate_arn"], arn.as_str(), "a new ARN");
    let after = t.served().await;
    assert_ne!(
        after.certificate.serial, before.certificate.serial,
        "the same certificate"
    );
    assert_eq!(renewed["serial"], after.certificate.serial.as_str());
    assert_ne!(
        acm_leaf(&arn).await,
        leaf_before,
        "ACM still holds the old certificate"
    );
    assert_eq!(
        distribution_etag(&t.distribution_id).await,
        etag,
        "the distribution was written"
    );
    // Nothing in flight any more, and the status route shows the new one.
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["status"], "active");
    assert_eq!(st["serial"], after.certificate.serial.as_str());
    assert_eq!(st["certificate_arn"], arn.as_str());
    assert_eq!(st["next_action"]["actor"], "nobody");
    assert!(st["renewal"]["stage"].is_null(), "{st}");
}

#[tokio::test]
async fn the_sweep_renews_a_due_certificate_after_the_tenant_publishes() {
    let t = tenant()
        .own_table()
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    issue(&t).await;
    let before = t.served().await;

    // Not due yet: the sweep reads nothing and does nothing.
    let report = t.sweep().await;
    assert_eq!((report.due, report.items_read), (0, 0), "{report:?}");

    t.make_due().await;
    let report = t.sweep().await;
    assert_eq!((report.due, report.awaiting_dns), (1, 1), "{report:?}");

    // The platform is told, once, with the record its tenant must add.
    let (_, st) = t.certificate_status().await;
    let value = st["renewal"]["txt_record_value"]
        .as_str()
        .unwrap()
        .to_owned();
    // One event (a PutEvents the SDK sent again after a slow answer is
    // the same event, with the same event_id).
    let events_for = || {
        let mut ids = std::collections::BTreeSet::new();
        crate::support::aws_calls::sent_events()
            .into_iter()
            .filter(|e| e.contains(&t.domain) && e.contains("Renewal needs DNS action"))
            .filter(|e| {
                let request: Value = serde_json::from_str(e).unwrap();
                let detail: Value =
                    serde_json::from_str(request["Entries"][0]["Detail"].as_str().unwrap())
                        .unwrap();
                ids.insert(detail["event_id"].as_str().unwrap().to_owned())
            })
            .collect::<Vec<_>>()
    };
    let sent = events_for();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Renewal needs DNS action") && sent[0].contains(&value));
    let report = t.sweep().await;
    assert_eq!(report.awaiting_dns, 1, "{report:?}");
    assert_eq!(events_for().len(), 1, "told twice");

    // The status route shows the renewal and the record the tenant must add.
    let st = publish_renewal_record(&t).await;
    assert_eq!(st["status"], "renewal_awaiting_dns");
    assert_eq!(st["next_action"]["actor"], "tenant");
    assert_eq!(st["next_action"]["action"], "publish_txt_record");
    assert_eq!(st["renewal"]["stage"], "PENDING_VALIDATION");
    assert_eq!(
        st["serial"],
        before.certificate.serial.as_str(),
        "still served meanwhile"
    );

    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    assert_eq!(after.certificate_arn, before.certificate_arn);
    assert!(after.renewal.renew_after > OffsetDateTime::now_utc().into_ts());

    // Renewed and rescheduled: the next sweep has nothing to do.
    let report = t.sweep().await;
    assert_eq!((report.due, report.renewed), (0, 0), "{report:?}");
}

#[tokio::test]
async fn overlapping_sweeps_renew_a_hostname_once() {
    let t = tenant()
        .own_table()
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    issue(&t).await;
    let before = t.served().await;
    t.make_due().await;

    let (a, b) = tokio::join!(t.sweep(), t.sweep());
    assert_eq!(
        a.awaiting_dns + b.awaiting_dns,
        1,
        "one renewal order, not two: {a:?} {b:?}"
    );
    publish_renewal_record(&t).await;
    let (a, b) = tokio::join!(t.sweep(), t.sweep());
    assert_eq!(a.renewed + b.renewed, 1, "{a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    // Exactly one new issuance recorded beside the first.
    assert_eq!(after.issued_recently.len(), 2);
}

#[tokio::test]
async fn ari_windows_decide_when_the_sweep_renews() {
    let proxy = AcmeProxy::start().await;
    let now = OffsetDateTime::now_utc();
    // Every certificate's window: a month away, asked again after 1 s.
    proxy.set_default_window(
        now + Duration::from_secs(30 * 86400),
        now + Duration::from_secs(31 * 86400),
        1,
    );
    let t = tenant()
        .own_table()
        .acme_via(&proxy)
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    issue(&t).await;
    let before = t.served().await;
    let id = before
        .ari_id
        .clone()
        .expect("Pebble's certificates have an AKI");
    assert!(proxy.renewal_info_requests().contains(&id));
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["renewal_basis"], "ari");
    assert_eq!(st["certificate_id"], id.as_str());
    let renew_after = before.renewal.renew_after.offset();
    assert!(
        renew_after >= now + Duration::from_secs(30 * 86400)
            && renew_after <= now + Duration::from_secs(31 * 86400),
        "not inside the window: {renew_after}"
    );

    // Before the window: the sweep asks again (Retry-After passed) and
    // leaves the certificate alone.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = t.sweep().await;
    assert_eq!(
        (report.due, report.not_due, report.renewed),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(
        t.served().await.certificate.serial,
        before.certificate.serial
    );
    assert_eq!(proxy.new_orders().len(), 1, "a renewal was ordered early");

    // The CA moves the window earlier (a mass revocation, say): the next
    // sweep after Retry-After renews, with `replaces` naming the old one.
    let now = OffsetDateTime::now_utc();
    proxy.set_window(
        &id,
        now - Duration::from_secs(120),
        now - Duration::from_secs(60),
        1,
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = t.sweep().await;
    assert_eq!(report.awaiting_dns, 1, "{report:?}");
    assert_eq!(
        proxy.new_orders().last().cloned().flatten(),
        Some(id.clone())
    );
    publish_renewal_record(&t).await;
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    assert_eq!(after.certificate_arn, before.certificate_arn);
    assert_ne!(after.ari_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn a_refused_renewal_leaves_the_certificate_served_and_is_retried() {
    let proxy = AcmeProxy::start().await;
    let t = tenant()
        .own_table()
        .acme_via(&proxy)
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .env("RENEWAL_RETRY_BASE_SECONDS", "1")
        .start()
        .await;
    issue(&t).await;
    let before = t.served().await;
    t.make_due().await;

    // The CA refuses the new order.
    proxy.fail_next(
        "order-plz",
        1,
        403,
        "urn:ietf:params:acme:error:rejectedIdentifier",
        None,
    );
    let report = t.sweep().await;
    assert_eq!(report.failed, 1, "{report:?}");
    let served = t.served().await;
    assert_eq!(
        served.certificate.serial, before.certificate.serial,
        "the served certificate changed"
    );
    assert_eq!(served.renewal.failures, 1);
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["renewal"]["failures"], 1);
    assert_eq!(st["next_action"]["action"], "retrying_renewal");

    // Within the backoff nothing is tried, by the sweep or by renew-now
    // (which would spend the shared account's orders on a refusal).
    // (The index keys whole seconds, so the sweep may see the hostname up
    // to a second early; it then leaves it alone.)
    let report = t.sweep().await;
    assert_eq!(
        report.due, report.not_due,
        "retried before the backoff: {report:?}"
    );
    let (status, body) = t.renew().await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "renewal_backoff");
    assert_eq!(
        proxy.new_orders().len(),
        2,
        "renew-now ordered within the backoff"
    );
    // After it, the renewal goes on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = t.sweep().await;
    assert_eq!(report.awaiting_dns, 1, "{report:?}");
    publish_renewal_record(&t).await;
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    assert_eq!(after.renewal.failures, 0);
}

/// The renewal's backoff passed, as time passing would.
async fn pass_backoff(t: &Tenant) {
    let mut served = t.served().await;
    served.renewal.not_before =
        Some(custom_domains::domain::Timestamp::now().minus(Duration::from_secs(1)));
    t.app.store.save_served(&mut served).await.unwrap();
}

fn failing_events(t: &Tenant) -> usize {
    crate::support::aws_calls::sent_events()
        .into_iter()
        .filter(|e| e.contains(&t.domain) && e.contains("Renewal failing"))
        .count()
}

/// A renewal the CA keeps refusing escalates to the platform after
/// `RENEWAL_MAX_ATTEMPTS` (12), and the sweep keeps retrying it; a CA's 5xx
/// counts for nothing; reminders come at fixed lead times before expiry;
/// once the cause is gone it renews by itself.
#[tokio::test]
async fn a_renewal_that_keeps_failing_escalates_is_still_retried_and_renews_once_the_fault_clears()
{
    let proxy = AcmeProxy::start().await;
    let t = tenant()
        .own_table()
        .acme_via(&proxy)
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    issue(&t).await;
    let before = t.served().await;
    t.make_due().await;
    let refuse = || {
        proxy.fail_next(
            "order-plz",
            1,
            403,
            "urn:ietf:params:acme:error:rejectedIdentifier",
            None,
        )
    };
    for attempt in 1..=13 {
        refuse();
        let report = t.sweep().await;
        assert_eq!(report.failed, 1, "attempt {attempt}: {report:?}");
        assert_eq!(t.served().await.renewal.failures, attempt);
        if attempt == 11 {
            assert_eq!(failing_events(&t), 0);
        }
        pass_backoff(&t).await;
    }
    // Escalated at the 12th: the platform told once, the status names it.
    assert_eq!(failing_events(&t), 1);
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["status"], "renewal_failing", "{st}");
    assert_eq!(st["next_action"]["actor"], "platform", "{st}");

    // A CA's 5xx is no failure of the hostname's (however often the
    // client's own retries meet it).
    proxy.fail_next(
        "order-plz",
        50,
        503,
        "urn:ietf:params:acme:error:serverInternal",
        None,
    );
    let report = t.sweep().await;
    assert_eq!(report.failed, 1, "{report:?}");
    let served = t.served().await;
    assert_eq!(served.renewal.failures, 13, "a 503 was counted");
    assert!(served.renewal.not_before.is_some(), "{:?}", served.renewal);
    proxy.clear_faults();

    // Two days before expiry, a failure reminds the platform (once).
    let mut served = t.served().await;
    served.certificate.not_after =
        custom_domains::domain::Timestamp::now().plus(Duration::from_secs(2 * 86_400));
    served.renewal.not_before = None;
    t.app.store.save_served(&mut served).await.unwrap();
    refuse();
    assert_eq!(t.sweep().await.failed, 1);
    assert_eq!(failing_events(&t), 2, "no reminder");
    pass_backoff(&t).await;
    refuse();
    assert_eq!(t.sweep().await.failed, 1);
    assert_eq!(failing_events(&t), 2, "reminded twice at one lead time");

    // The cause is gone: the next sweep orders, the tenant publishes, the
    // renewal is done.
    pass_backoff(&t).await;
    let report = t.sweep().await;
    assert_eq!(report.awaiting_dns, 1, "{report:?}");
    publish_renewal_record(&t).await;
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    assert_eq!(
        (after.renewal.failures, after.renewal.escalated),
        (0, false)
    );
}

/// The platform renews any tenant's hostname at once (the renewal-sweep
/// function invoked with `{"renew_now": "<hostname>"}`).
#[tokio::test]
async fn the_platform_renews_any_tenants_hostname_at_once() {
    let t = tenant().own_table().start().await;
    issue(&t).await;
    let name = custom_domains::domain::DomainName::parse(&t.domain).unwrap();
    let event = serde_json::json!({ "renew_now": t.domain });
    let report = custom_domains::flows::acme::renew::run(&t.app, &event)
        .await
        .unwrap();
    let report = serde_json::to_value(&report).unwrap();
    assert_eq!(report["outcome"], "awaiting_dns", "{report}");
    assert_eq!(report["tenant_id"], t.org.as_str());
    set_txt(
        report["txt_record_name"].as_str().unwrap(),
        report["txt_record_value"].as_str().unwrap(),
    )
    .await;
    let report = custom_domains::flows::acme::renew::operator_renew_now(&t.app, &name)
        .await
        .unwrap();
    assert_eq!(report.outcome, "renewed", "{report:?}");
    // A schedule's event sweeps.
    let report = custom_domains::flows::acme::renew::run(&t.app, &serde_json::json!({}))
        .await
        .unwrap();
    assert!(serde_json::to_value(&report).unwrap()["due"].is_number());
}

#[tokio::test]
async fn complete_certificate_carries_on_a_renewal_and_a_spent_budget_defers() {
    let t = tenant()
        .own_table()
        .env("SWEEP_TIME_BUDGET_MS", "0")
        .start()
        .await;
    issue(&t).await;
    let before = t.served().await;
    t.make_due().await;
    // No budget: the due hostname is left for the next run, untouched.
    let report = t.sweep().await;
    assert_eq!((report.due, report.deferred), (1, 1), "{report:?}");
    let name = custom_domains::domain::DomainName::parse(&t.domain).unwrap();
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .order
        .is_none());

    // renew-now starts it; the tenant publishes; complete-certificate, the
    // route a tenant calls after publishing, finishes the renewal.
    let (status, first) = t.renew().await;
    assert_eq!(status, 202, "{first}");
    let (status, err) = t.complete().await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["code"], "dns_record_missing");
    set_txt(
        first["txt_record_name"].as_str().unwrap(),
        first["txt_record_value"].as_str().unwrap(),
    )
    .await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    assert_eq!(done["certificate_arn"], before.certificate_arn.as_str());
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .order
        .is_none());
}

#[tokio::test]
async fn a_failed_reimport_leaves_the_certificate_served_and_resumes() {
    let t = tenant().start().await;
    let done = issue(&t).await;
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let before = t.served().await;

    let leaf_before = acm_leaf(&arn).await;

    // The same tenant on an instance whose ACM (us-east-1) is unreachable.
    let dead = sdk_config(Some("http://127.0.0.1:9")).await;
    let mut broken = custom_domains::App::new(config(&[]), &sdk_config(None).await).unwrap();
    broken.edge_certificates = custom_domains::adapters::acm::Certificates::new(
        aws_sdk_acm::Client::from_conf(
            aws_sdk_acm::config::Builder::from(&dead)
                .region(Region::new("us-east-1"))
                .build(),
        ),
        broken.config.stack_name.clone(),
    );
    let base = serve(std::sync::Arc::new(broken)).await;
    let renew = format!("{base}/api/domain/renew-certificate/{}", t.org);
    let (status, first) = post(&t.token, &renew, &t.body()).await;
    assert_eq!(status, 202, "{first}");
    set_txt(
        first["txt_record_name"].as_str().unwrap(),
        first["txt_record_value"].as_str().unwrap(),
    )
    .await;
    let mut last = (0, Value::Null);
    for _ in 0..20 {
        last = post(&t.token, &renew, &t.body()).await;
        if last.0 != 202 {
            break;
        }
    }
    assert_eq!(last.0, 502, "{}", last.1);
    let served = t.served().await;
    assert_eq!(
        served.certificate.serial, before.certificate.serial,
        "served changed on a failed import"
    );
    // An unreachable ACM passes by itself: not counted as a failure, and
    // retried after the backoff.
    assert_eq!(served.renewal.failures, 0);
    assert!(served.renewal.not_before.is_some(), "{:?}", served.renewal);
    assert_eq!(
        acm_leaf(&arn).await,
        leaf_before,
        "ACM changed on a failed import"
    );

    // The next attempt resumes at the import: no new order, same ARN.
    let (status, renewed) = t.renew().await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["certificate_arn"], arn.as_str());
    assert_ne!(
        t.served().await.certificate.serial,
        before.certificate.serial
    );
}

#[tokio::test]
async fn a_sixth_certificate_in_a_week_is_refused_with_429() {
    let t = tenant().start().await;
    issue(&t).await;
    // Four renewals: five certificates for this name in a week.
    for _ in 0..4 {
        let (status, first) = t.renew().await;
        assert_eq!(status, 202, "{first}");
        set_txt(
            first["txt_record_name"].as_str().unwrap(),
            first["txt_record_value"].as_str().unwrap(),
        )
        .await;
        let mut status = 202;
        for _ in 0..20 {
            status = t.renew().await.0;
            if status != 202 {
                break;
            }
        }
        assert_eq!(status, 200);
        clear_txt(first["txt_record_name"].as_str().unwrap()).await;
    }
    let before = t.served().await;
    assert_eq!(before.issued_recently.len(), 5);
    let (status, refused) = t.renew().await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["code"], "acme_rate_limited");
    let retry_after = refused["details"]["retry_after"].as_u64().unwrap();
    assert!(
        retry_after > 6 * 86400 && retry_after <= 7 * 86400,
        "{retry_after}"
    );
    // Refused before the CA was asked: nothing in flight, nothing changed.
    let name = custom_domains::domain::DomainName::parse(&t.domain).unwrap();
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .order
        .is_none());
    assert_eq!(t.served().await, before);
}

#[tokio::test]
async fn renew_and_status_answer_only_the_owner() {
    let t = tenant().start().await;
    // Nothing served yet.
    let (status, body) = t.certificate_status().await;
    assert_eq!(status, 404, "{body}");
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    let (status, st) = t.certificate_status().await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["status"], "pending_validation");
    assert_eq!(st["next_action"]["actor"], "tenant");
    assert_eq!(st["next_action"]["action"], "publish_txt_record");
    let (status, body) = t.renew().await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "no_certificate");

    // Another tenant, asking under its own organisation, finds nothing.
    let other = tenant().start().await;
    let url = format!(
        "{}/api/domain/status/{}?domain={}",
        other.base, other.org, t.domain
    );
    let (status, body) = get(&other.token, &url).await;
    assert_eq!(status, 404, "{body}");
    let renew = format!("{}/api/domain/renew-certificate/{}", other.base, other.org);
    let (status, body) = post(&other.token, &renew, &t.body()).await;
    assert_eq!(status, 404, "{body}");
    // And under the owner's organisation, it is refused outright.
    let (status, _) = get(&other.token, &t.certificate_status_url()).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_tenant_lists_its_hostnames_on_both_paths_page_by_page() {
    let t = tenant().own_table().shared_edge().start().await;
    // Served on the ACME path, pending on the ACME path, requested on ACM.
    issue(&t).await;
    let pending = format!("{}.example.com", unique("pending"));
    let (status, _) = post(
        &t.token,
        &t.start_url(),
        &serde_json::json!({ "domain": pending }).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let acm = format!("{}.example.com", unique("acm"));
    let (status, requested) = post(
        &t.token,
        &t.request_url(),
        &serde_json::json!({ "domain": acm, "workspace_id": t.org }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{requested}");

    // The list reads the tenant index, a moment behind the table.
    index_caught_up().await;
    let list = format!("{}/domains?limit=2", t.base);
    let (status, page1) = get(&t.token, &list).await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(page1["domains"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().expect("a second page");
    let (status, page2) = get(&t.token, &format!("{list}&cursor={cursor}")).await;
    assert_eq!(status, 200, "{page2}");
    assert!(page2["next_cursor"].is_null());
    let all: Vec<Value> = page1["domains"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["domains"].as_array().unwrap())
        .cloned()
        .collect();
    let find = |d: &str| {
        all.iter()
            .find(|e| e["domain"] == d)
            .unwrap_or_else(|| panic!("{d} not listed: {all:?}"))
            .clone()
    };
    let served = find(&t.domain);
    assert_eq!(
        (&served["path"], &served["edge"], &served["status"]),
        (
            &"acme".into(),
            &"cloudfront_tenant".into(),
            &"active".into()
        )
    );
    assert!(served["not_after"].is_string());
    assert_eq!(
        find(&pending)["next_action"]["action"],
        "publish_txt_record"
    );
    let requested = find(&acm);
    assert_eq!(requested["path"], "acm");
    assert_eq!(requested["status"], "pending_validation");
    assert_eq!(all.len(), 3);

    // Another tenant's list is refused; a forged cursor is a 400.
    let other = token_for(&unique("org-"));
    let (status, _) = get(&other, &format!("{}/domains?tenant={}", t.base, t.org)).await;
    assert_eq!(status, 403);
    let (status, body) = get(&t.token, &format!("{list}&cursor=bm90LWEtY3Vyc29yIQ")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(&t.token, &format!("{}/domains?limit=1000", t.base)).await;
    assert_eq!(status, 400, "{body}");
}

trait IntoTimestamp {
    fn into_ts(self) -> custom_domains::domain::Timestamp;
}

impl IntoTimestamp for OffsetDateTime {
    fn into_ts(self) -> custom_domains::domain::Timestamp {
        custom_domains::domain::Timestamp::from_offset(self)
    }
}

/// The proxy itself, through Pebble.
mod proxy {
    use crate::support::acme_proxy::*;
    use crate::support::tenant;
    use custom_domains::domain::DomainName;
    use http_body_util::BodyExt;
    use hyper::header::RETRY_AFTER;
    use serde_json::Value;
    use time::format_description::well_known::Rfc3339;
    use time::{Duration, OffsetDateTime};

    /// A plain HTTPS GET through the proxy: status, Retry-After, JSON body.
    async fn get(url: &str) -> (u16, Option<String>, Value) {
        let rsp = https_client().get(url.parse().unwrap()).await.unwrap();
        let status = rsp.status().as_u16();
        let retry_after = rsp
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = rsp.into_body().collect().await.unwrap().to_bytes();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn proxy_issues_through_pebble_and_offers_ari() {
        let proxy = AcmeProxy::start().await;
        let t = tenant().acme_via(&proxy).start().await;
        let (_, (status, done)) = t.start_and_complete().await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(proxy.new_orders(), vec![None]);

        // The directory offers ARI, and Pebble's URLs point at the proxy.
        let (status, _, dir) = get(&proxy.directory_url()).await;
        assert_eq!(status, 200);
        let base = format!("https://{}", proxy.addr);
        assert_eq!(dir["renewalInfo"], format!("{base}/renewal-info"));
        assert_eq!(dir["newOrder"], format!("{base}/order-plz"));

        // The default window, then one set for a certificate.
        let (status, retry_after, info) = get(&format!("{base}/renewal-info/aaaa.bbbb")).await;
        assert_eq!(status, 200);
        assert_eq!(retry_after.as_deref(), Some("3600"));
        let start = info["suggestedWindow"]["start"].as_str().unwrap();
        let start = OffsetDateTime::parse(start, &Rfc3339).unwrap();
        let days = (start - OffsetDateTime::now_utc()).whole_days();
        assert!((29..=30).contains(&days), "{info}");

        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        proxy.set_window("cccc.dddd", now - Duration::hours(1), now, 60);
        let (_, retry_after, info) = get(&format!("{base}/renewal-info/cccc.dddd")).await;
        assert_eq!(retry_after.as_deref(), Some("60"));
        assert_eq!(
            info["suggestedWindow"]["end"],
            now.format(&Rfc3339).unwrap()
        );
        // (The product may have asked about its new certificate before.)
        let asked = proxy.renewal_info_requests();
        assert!(
            asked.ends_with(&["aaaa.bbbb".into(), "cccc.dddd".into()]),
            "{asked:?}"
        );

        // An order replacing a certificate: the proxy echoes `replaces` (else
        // instant-acme refuses the order) and records it.
        let domain = DomainName::parse(&t.domain).unwrap();
        let order = t
            .app
            .acme
            .new_order(std::slice::from_ref(&domain), Some("aaaa.bbbb"), None)
            .await;
        assert_eq!(order.unwrap().replaces.as_deref(), Some("aaaa.bbbb"));
        assert_eq!(proxy.new_orders(), [None, Some("aaaa.bbbb".into())]);
    }

    #[tokio::test]
    async fn proxy_injects_a_fault_once() {
        let proxy = AcmeProxy::start().await;
        let t = tenant().acme_via(&proxy).start().await;
        proxy.fail_next(
            "order-plz",
            1,
            429,
            "urn:ietf:params:acme:error:rateLimited",
            Some(7),
        );
        let (status, answer) = t.start().await;
        assert_ne!(status, 200, "{answer}");
        let (status, answer) = t.start().await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(proxy.new_orders(), vec![None, None]);

        // The problem itself, as a client sees it.
        proxy.fail_next("renewal-info", 1, 503, "urn:x:test", Some(7));
        let url = format!("https://{}/renewal-info/x.y", proxy.addr);
        let (status, retry_after, problem) = get(&url).await;
        assert_eq!((status, retry_after.as_deref()), (503, Some("7")));
        assert_eq!(problem["type"], "urn:x:test");
        assert_eq!(get(&url).await.0, 200);
    }
}

/// A CA that does not answer holds no sweep past its budget: the renewal's
/// new order is cut off at the sweep's deadline (plus a few seconds' grace)
/// and tried again later, not counted as the hostname's failure.
#[tokio::test]
async fn a_slow_ca_holds_no_sweep_past_its_budget() {
    let proxy = AcmeProxy::start().await;
    let t = tenant()
        .own_table()
        .acme_via(&proxy)
        .env("SWEEP_TIME_BUDGET_MS", "1000")
        .start()
        .await;
    issue(&t).await;
    t.make_due().await;
    proxy.delay_next("order-plz", 5, 30_000);
    let report = t.sweep().await;
    assert_eq!(report.failed, 1, "{report:?}");
    assert!(
        report.elapsed_ms < 15_000,
        "the sweep waited for the CA: {report:?}"
    );
    let served = t.served().await;
    assert_eq!(served.renewal.failures, 0, "a slow CA counted as a failure");
    assert!(served.renewal.not_before.is_some(), "{:?}", served.renewal);
}

/// A renewal the sweep cannot even ask for (the name's CAA records now
/// forbid the CA) is recorded as a failure: its place in the due index moves
/// with the backoff, so it cannot hold the head of its shard run after run.
#[tokio::test]
async fn a_renewal_refused_before_the_ca_is_asked_moves_down_the_due_index() {
    let t = tenant()
        .own_table()
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    issue(&t).await;
    t.make_due().await;
    set_caa(&t.domain, "ca.invalid").await;
    // A first sweep orders and waits for the TXT record; once published,
    // the next one meets the CAA records.
    let report = t.sweep().await;
    assert_eq!(report.awaiting_dns, 1, "{report:?}");
    publish_renewal_record(&t).await;
    let report = t.sweep().await;
    assert_eq!(report.failed, 1, "{report:?}");
    let served = t.served().await;
    assert_eq!(served.renewal.failures, 1, "{:?}", served.renewal);
    assert!(
        served.renewal.due_at() > Some(custom_domains::domain::Timestamp::now()),
        "still due at once: {:?}",
        served.renewal
    );
    clear_caa(&t.domain).await;
}
