//! Several hostnames on an organisation's own distribution: one certificate
//! covers every name it serves there (a distribution has one viewer
//! certificate), re-imported into the same ACM ARN whenever a name is added
//! or released.

use serde_json::{json, Value};

use custom_domains::adapters::acme::OrderStatus;
use custom_domains::domain::certificate::inspect;
use custom_domains::domain::{DomainName, Stage};

use crate::acme_path::acm_certificates_for;
use crate::support::*;

/// The distribution's aliases (sorted) and viewer certificate ARN.
async fn distribution(id: &str) -> (Vec<String>, Option<String>) {
    let (mut aliases, arn) = crate::claims::distribution(id).await;
    aliases.sort();
    (aliases, arn)
}

/// The names of the certificate served for `domain` (sorted) and its serial.
async fn served_names(t: &Tenant, domain: &str) -> (Vec<String>, String) {
    let served = t
        .app
        .store
        .load_hostname(&DomainName::parse(domain).unwrap())
        .await
        .unwrap()
        .served
        .unwrap_or_else(|| panic!("nothing served for {domain}"));
    let mut names = inspect(&served.certificate.chain_pem).unwrap().dns_names;
    names.sort();
    (names, served.certificate.serial)
}

async fn complete(t: &Tenant, domain: &str) -> (u16, Value) {
    let body = json!({ "domain": domain }).to_string();
    let mut repeats = 0;
    for _ in 0..300 {
        let answer = post(&t.token, &t.complete_url(), &body).await;
        // A CA slow to validate many names at once under the suite's load
        // answers 502 "did not answer": repeated, as the API tells a client.
        if answer.0 != 202 && !to_repeat(answer.0, &answer.1, &mut repeats) {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("complete-certificate for {domain} still in progress after 300 calls");
}

async fn status(t: &Tenant, domain: &str) -> Value {
    let url = format!("{}/api/domain/status/{}?domain={domain}", t.base, t.org);
    let (code, body) = get(&t.token, &url).await;
    assert_eq!(code, 200, "{body}");
    body
}

async fn release(t: &Tenant, domain: &str) {
    for _ in 0..50 {
        let (code, body) = delete(&t.token, &t.release_url(domain)).await;
        match code {
            200 => return,
            202 => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            _ => panic!("release of {domain}: {code} {body}"),
        }
    }
    panic!("release of {domain} did not finish");
}

/// Starts the names (a JSON array) together; answers the 200 answer.
async fn start_names(t: &Tenant, names: Value) -> Value {
    let body = json!({ "domains": names }).to_string();
    let (code, start) = post(&t.token, &t.start_url(), &body).await;
    assert_eq!(code, 200, "{start}");
    start
}

/// Publishes every TXT record a start answer lists.
async fn publish_all(start: &Value) {
    for r in start["records"].as_array().unwrap() {
        set_txt(
            r["txt_record_name"].as_str().unwrap(),
            r["txt_record_value"].as_str().unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn an_organisations_distribution_serves_apex_and_www_adds_a_name_and_releases_one() {
    let t = tenant().own_table().start().await;
    let apex = format!("{}.example.com", unique("apex"));
    let www = format!("www.{apex}");
    // Sorts before the apex: the certificate's lead moves to it.
    let first = format!("a.{apex}");

    // Both names in one call, in any order: one order under the first name
    // (sorted), a TXT record for each.
    let body = json!({ "domains": [www, apex] }).to_string();
    let (code, start) = post(&t.token, &t.start_url(), &body).await;
    assert_eq!(code, 200, "{start}");
    assert_eq!(start["domain"], apex.as_str(), "{start}");
    assert_eq!(start["domains"], json!([apex, www]), "{start}");
    let records = start["records"].as_array().unwrap();
    let named: Vec<&str> = records
        .iter()
        .map(|r| r["domain"].as_str().unwrap())
        .collect();
    assert_eq!(named, [apex.as_str(), www.as_str()], "{start}");
    assert_eq!(start["txt_record_name"], records[0]["txt_record_name"]);
    // Repeated, in the other order: the same order and records.
    let (_, again) = post(
        &t.token,
        &t.start_url(),
        &json!({ "domains": [apex, www] }).to_string(),
    )
    .await;
    assert_eq!(again["order_url"], start["order_url"], "{again}");
    assert_eq!(again["records"], start["records"]);

    // www's own status shows its own record while it waits.
    let st = status(&t, &www).await;
    assert_eq!(st["status"], "pending_validation", "{st}");
    let www_value = records[1]["txt_record_value"].as_str().unwrap();
    assert!(
        st["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains(www_value),
        "{st}"
    );

    // Only the apex's record published: nothing is asked of the CA, and
    // the answer names www's record.
    set_txt(
        records[0]["txt_record_name"].as_str().unwrap(),
        records[0]["txt_record_value"].as_str().unwrap(),
    )
    .await;
    let (code, missing) = post(
        &t.token,
        &t.complete_url(),
        &json!({ "domain": apex }).to_string(),
    )
    .await;
    assert_eq!(
        (code, missing["code"].as_str()),
        (422, Some("dns_record_missing")),
        "{missing}"
    );
    assert!(
        missing["message"].as_str().unwrap().contains(www_value),
        "{missing}"
    );

    publish_all(&start).await;
    // Completed through www: it drives the apex's order.
    let (code, done) = complete(&t, &www).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["domain"], www.as_str(), "{done}");
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let (aliases, viewer) = distribution(&t.distribution_id).await;
    assert_eq!(aliases, [apex.clone(), www.clone()]);
    assert_eq!(viewer.as_deref(), Some(arn.as_str()));
    let (names, first_serial) = served_names(&t, &apex).await;
    assert_eq!(names, [apex.clone(), www.clone()]);
    for name in [&apex, &www] {
        let st = status(&t, name).await;
        assert_eq!(st["status"], "active", "{st}");
        assert_eq!(st["certificate_arn"], arn.as_str(), "{st}");
        assert_eq!(st["certificate_names"], json!([apex, www]), "{st}");
    }

    // A third name later, one that sorts first: one new record (the served
    // names' authorizations are reused), the same ARN, a certificate for
    // all three, and the lead moves to it.
    let (code, third) = post(
        &t.token,
        &t.start_url(),
        &json!({ "domain": first }).to_string(),
    )
    .await;
    assert_eq!(code, 200, "{third}");
    assert_eq!(third["domains"], json!([apex, www, first]), "{third}");
    let named: Vec<&str> = third["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["domain"].as_str().unwrap())
        .collect();
    assert_eq!(named, [first.as_str()], "{third}");
    assert_eq!(status(&t, &apex).await["status"], "adding_names");
    // The names served meanwhile stay served with the certificate they have.
    assert_eq!(
        distribution(&t.distribution_id).await.1.as_deref(),
        Some(arn.as_str())
    );
    publish_all(&third).await;
    let (code, done) = complete(&t, &first).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["certificate_arn"], arn.as_str(), "{done}");
    let (aliases, viewer) = distribution(&t.distribution_id).await;
    assert_eq!(aliases, [first.clone(), apex.clone(), www.clone()]);
    assert_eq!(viewer.as_deref(), Some(arn.as_str()));
    let (names, serial) = served_names(&t, &www).await;
    assert_eq!(names, [first.clone(), apex.clone(), www.clone()]);
    assert_ne!(serial, first_serial);
    assert_eq!(served_names(&t, &first).await.1, serial);
    let described = acm_us_east_1()
        .await
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    let mut sans = described
        .certificate()
        .unwrap()
        .subject_alternative_names()
        .to_vec();
    sans.sort();
    assert_eq!(sans, [first.clone(), apex.clone(), www.clone()]);

    // A name whose records never come does not hold up the renewal of the
    // names served: its order ends when the certificate is due.
    let late = format!("late.{apex}");
    let (code, waiting) = post(
        &t.token,
        &t.start_url(),
        &json!({ "domain": late }).to_string(),
    )
    .await;
    assert_eq!(code, 200, "{waiting}");
    let lead = DomainName::parse(&first).unwrap();
    let mut served = t
        .app
        .store
        .load_hostname(&lead)
        .await
        .unwrap()
        .served
        .unwrap();
    assert!(served.is_lead());
    served.renewal.renew_after =
        custom_domains::domain::Timestamp::now().minus(std::time::Duration::from_secs(1));
    t.app.store.save_served(&mut served).await.unwrap();
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    assert_eq!(
        served_names(&t, &apex).await.0,
        [first.clone(), apex.clone(), www.clone()]
    );
    assert_eq!(
        status(&t, &first).await["status"],
        "active",
        "the unfinished order ended"
    );
    let (code, _) = post(
        &t.token,
        &t.complete_url(),
        &json!({ "domain": late }).to_string(),
    )
    .await;
    assert_eq!(
        code, 404,
        "nothing left to complete for the name that never joined"
    );
    release(&t, &late).await;

    // The lead released: off the distribution at once, and the certificate
    // is issued again for the others by the next sweep, into the same ARN,
    // under the new lead.
    let (_, naming_first) = served_names(&t, &apex).await;
    release(&t, &first).await;
    let (aliases, viewer) = distribution(&t.distribution_id).await;
    assert_eq!(aliases, [apex.clone(), www.clone()]);
    assert_eq!(viewer.as_deref(), Some(arn.as_str()));
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let (names, _) = served_names(&t, &apex).await;
    assert_eq!(names, [apex.clone(), www.clone()]);
    // The certificate that still named the released lead is revoked.
    let at_ca = pebble_management(&format!("/cert-status-by-serial/{naming_first}")).await;
    assert!(at_ca.contains("Revoked"), "{at_ca}");
    let st = status(&t, &www).await;
    assert_eq!(st["certificate_names"], json!([apex, www]), "{st}");
    assert_eq!(st["certificate_arn"], arn.as_str(), "{st}");
    let url = format!("{}/api/domain/status/{}?domain={first}", t.base, t.org);
    assert_eq!(get(&t.token, &url).await.0, 404);
    // The next sweep has nothing to do: one lead, renewed once.
    assert_eq!(t.sweep().await.renewed, 0);
}

#[tokio::test]
async fn several_names_need_a_distribution_of_the_organisations_own_and_fit_one_certificate() {
    let shared = tenant().shared_edge().start().await;
    let apex = format!("{}.example.com", unique("apex"));
    let body = json!({ "domains": [apex, format!("www.{apex}")] }).to_string();
    let (code, refused) = post(&shared.token, &shared.start_url(), &body).await;
    assert_eq!(
        (code, refused["code"].as_str()),
        (422, Some("several_names_need_own_distribution")),
        "{refused}"
    );

    let own = tenant().env("CERTIFICATE_MAX_NAMES", "2").start().await;
    let names: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|l| format!("{l}.{apex}"))
        .collect();
    let (code, refused) = post(
        &own.token,
        &own.start_url(),
        &json!({ "domains": names }).to_string(),
    )
    .await;
    assert_eq!(
        (code, refused["code"].as_str()),
        (422, Some("too_many_names")),
        "{refused}"
    );
    // Nothing claimed for any of them.
    for name in &names {
        let records = own
            .app
            .store
            .load_hostname(&DomainName::parse(name).unwrap())
            .await
            .unwrap();
        assert!(records.owner.is_none(), "{name} was claimed");
    }
    for bad in [
        json!({ "domains": [] }),
        json!({ "domain": apex, "domains": [apex] }),
        json!({ "domains": [apex, apex] }),
    ] {
        let (code, answer) = post(&own.token, &own.start_url(), &bad.to_string()).await;
        assert_eq!(code, 400, "{bad}: {answer}");
    }
}

/// A certificate of many names: their mappings (three items each) do not
/// fit in the promotion's transaction beside the served records (DynamoDB
/// takes at most 100 items in one), so they are written first; every name
/// ends served and mapped. 34 names make 170 items.
#[tokio::test]
async fn a_certificate_of_many_names_is_served_with_every_name_mapped() {
    const NAMES: usize = 34;
    let t = tenant()
        .env("CERTIFICATE_MAX_NAMES", &NAMES.to_string())
        .env("TENANT_NEW_ORDERS_PER_HOUR", "100")
        .start()
        .await;
    let apex = format!("{}.example.com", unique("many"));
    let mut names: Vec<String> = (0..NAMES - 1).map(|i| format!("n{i:02}.{apex}")).collect();
    names.push(apex.clone());
    names.sort();
    let body = json!({ "domains": names }).to_string();
    // An order of 34 names can pass the call's budget at the CA under the
    // suite's load: repeated, as the API tells a client.
    let mut repeats = 0;
    let (code, start) = loop {
        let (code, start) = post(&t.token, &t.start_url(), &body).await;
        if !to_repeat(code, &start, &mut repeats) {
            break (code, start);
        }
    };
    assert_eq!(code, 200, "{start}");
    assert_eq!(start["records"].as_array().unwrap().len(), NAMES, "{start}");
    publish_all(&start).await;
    let lead = start["domain"].as_str().unwrap().to_owned();
    let (code, done) = complete(&t, &lead).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");

    let (served, _) = served_names(&t, &lead).await;
    assert_eq!(served, names);
    let (aliases, _) = distribution(&t.distribution_id).await;
    assert_eq!(aliases, names);
    for name in &names {
        let mapping = t
            .app
            .store
            .mapping_for(&DomainName::parse(name).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no mapping for {name}"));
        assert_eq!(mapping.tenant_id.as_str(), t.org, "{name}");
        let (own, _) = served_names(&t, name).await;
        assert_eq!(own, names, "{name}'s copy of the served record");
    }
}

/// A certificate of several names whose order failed at the CA (one name's
/// validation failed: the order is invalid, the other names' authorizations
/// valid): releasing a name cancels the order before the release plans its
/// steps, so that name's authorization is deactivated there, first. Left
/// valid, the CA (one account for every tenant) would hand it to the name's
/// next claimant for 30 days.
#[tokio::test]
async fn releasing_a_name_of_a_failed_order_deactivates_its_authorization_at_the_ca() {
    // No time budget: each complete call moves the order one stage.
    let t = tenant().env("COMPLETE_TIME_BUDGET_MS", "0").start().await;
    let apex = format!("{}.example.com", unique("failed"));
    let www = format!("www.{apex}");
    let start = start_names(&t, json!([apex, www])).await;
    publish_all(&start).await;
    let body = json!({ "domain": apex }).to_string();
    let (code, moved) = post(&t.token, &t.complete_url(), &body).await;
    assert_eq!(code, 202, "{moved}");
    let url = start["order_url"].as_str().unwrap();
    let ca_status = || async { t.app.acme.order_status(url).await.unwrap() };
    for _ in 0..200 {
        if ca_status().await == Some(OrderStatus::Ready) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ca_status().await, Some(OrderStatus::Ready));
    // What the driver records when the CA answers the order invalid.
    let lead = DomainName::parse(&apex).unwrap();
    let mut order = t.app.store.load_order(&lead).await.unwrap().unwrap();
    order.stage = Stage::Invalid;
    t.app.store.save_order(&mut order).await.unwrap();

    release(&t, &www).await;
    // Pebble reads an order with a deactivated authorization `deactivated`,
    // which Boulder (and the local CA's rules) answer `invalid`.
    assert_eq!(
        ca_status().await,
        Some(OrderStatus::Invalid),
        "www's authorization is still valid at the CA"
    );
}

/// Releasing a name while the CA validates the certificate that would add
/// it: refused with `409 certificate_change_in_flight` (the order is the
/// other names' too, and the CA has been asked), nothing changed; once the
/// certificate is served, the same release goes through.
#[tokio::test]
async fn a_name_is_not_released_while_its_shared_certificate_is_being_validated() {
    // No time budget: each complete call moves the order one stage.
    let t = tenant().env("COMPLETE_TIME_BUDGET_MS", "0").start().await;
    let apex = format!("{}.example.com", unique("busy"));
    let www = format!("www.{apex}");
    let body = json!({ "domains": [apex, www] }).to_string();
    let (code, start) = post(&t.token, &t.start_url(), &body).await;
    assert_eq!(code, 200, "{start}");
    publish_all(&start).await;
    let body = json!({ "domain": apex }).to_string();
    let (code, moved) = post(&t.token, &t.complete_url(), &body).await;
    assert_eq!(code, 202, "{moved}");
    let lead = DomainName::parse(&apex).unwrap();
    let order = t.app.store.load_order(&lead).await.unwrap().unwrap();
    assert_eq!(
        format!("{:?}", order.stage),
        "Validating",
        "the CA is validating"
    );

    let (code, refused) = delete(&t.token, &t.release_url(&www)).await;
    assert_eq!(
        (code, refused["code"].as_str()),
        (409, Some("certificate_change_in_flight")),
        "{refused}"
    );
    let owner = t
        .app
        .store
        .load_owner(&DomainName::parse(&www).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(owner.releasing_since.is_none(), "www is not being released");
    let still = t.app.store.load_order(&lead).await.unwrap().unwrap();
    assert_eq!(still.version, order.version, "the order is untouched");

    let (code, done) = complete(&t, &apex).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    release(&t, &www).await;
    let (aliases, _) = distribution(&t.distribution_id).await;
    assert_eq!(aliases, vec![apex.clone()]);
}

/// CloudFront refuses the certificate of several names at attach (another
/// distribution holds one of its aliases, for good): the order is not left
/// without a way out. The status says why and names the release; a release
/// of the name waiting to join goes through, and so does the lead's, which
/// deletes the imported certificate. (Before, the release answered
/// `certificate_change_in_flight` for ever and the status said to call
/// complete-certificate, which was refused the same way.)
#[tokio::test]
async fn a_certificate_of_several_names_refused_at_attach_can_be_released() {
    let t = tenant().start().await;
    let apex = format!("{}.example.com", unique("refused"));
    let www = format!("www.{apex}");
    let body = json!({ "domains": [apex, www] }).to_string();
    let (code, start) = post(&t.token, &t.start_url(), &body).await;
    assert_eq!(code, 200, "{start}");
    publish_all(&start).await;
    // Another distribution (another product, or another account) serves
    // one of the names: the local CloudFront refuses the attach as
    // CloudFront does (`aws_rules`), no fault injected.
    let before = local_server::aws_rules::refused_with("CNAMEAlreadyExists");
    create_distribution(&sdk_config(None).await, std::slice::from_ref(&www)).await;
    let lead = start["domain"].as_str().unwrap().to_owned();
    let (code, refused) = complete(&t, &lead).await;
    assert_eq!(
        (code, refused["code"].as_str()),
        (409, Some("cname_already_exists")),
        "{refused}"
    );
    assert!(local_server::aws_rules::refused_with("CNAMEAlreadyExists") > before);
    assert_eq!(acm_certificates_for(&lead).await.len(), 1, "imported once");
    let st = status(&t, &lead).await;
    assert_eq!(st["next_action"]["actor"], "tenant", "{st}");
    assert_eq!(st["next_action"]["action"], "release_domain", "{st}");
    let message = st["next_action"]["message"].as_str().unwrap();
    assert!(
        message.contains("another CloudFront distribution"),
        "{message}"
    );

    let other = if lead == apex { &www } else { &apex };
    release(&t, other).await;
    release(&t, &lead).await;
    assert!(acm_certificates_for(&lead).await.is_empty());
    for name in [&apex, &www] {
        let records = t
            .app
            .store
            .load_hostname(&DomainName::parse(name).unwrap())
            .await
            .unwrap();
        assert!(records.owner.is_none() && records.order.is_none(), "{name}");
    }
}

/// A certificate of two names, renewed: each name needs its own TXT record
/// (the CA's authorizations do not outlive a certificate), and every view
/// carries both: the renewal event, renew-now's answer, and the status of
/// each name, the lead's and the other's.
#[tokio::test]
async fn every_record_of_a_shared_renewal_is_on_every_names_view() {
    let t = tenant()
        .own_table()
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    let apex = format!("{}.example.com", unique("pair"));
    let names = [apex.clone(), format!("www.{apex}")];
    let start = start_names(&t, json!(names)).await;
    publish_all(&start).await;
    let lead = start["domain"].as_str().unwrap().to_owned();
    let (code, done) = complete(&t, &lead).await;
    assert_eq!(code, 200, "{done}");
    let (_, serial_before) = served_names(&t, &lead).await;
    for name in &names {
        clear_txt(&format!("_acme-challenge.{name}")).await;
    }

    let lead_name = DomainName::parse(&lead).unwrap();
    let mut served = t
        .app
        .store
        .load_hostname(&lead_name)
        .await
        .unwrap()
        .served
        .unwrap();
    // The CA's authorizations of the names expire (30 days at Let's
    // Encrypt, long before a renewal is due): ended here, as time would.
    t.app
        .acme
        .deactivate_authorizations(served.order_url.as_deref().unwrap(), None)
        .await
        .unwrap();
    served.renewal.renew_after =
        custom_domains::domain::Timestamp::now().minus(std::time::Duration::from_secs(1));
    served.renewal.window_recheck_at = None;
    t.app.store.save_served(&mut served).await.unwrap();
    let report = t.sweep().await;
    assert_eq!(report.awaiting_dns, 1, "{report:?}");

    let expected: Vec<String> = names
        .iter()
        .map(|n| format!("_acme-challenge.{n}"))
        .collect();
    let record_names = |records: &Value| -> Vec<String> {
        let mut found: Vec<String> = records
            .as_array()
            .unwrap_or_else(|| panic!("no records: {records}"))
            .iter()
            .map(|r| r["txt_record_name"].as_str().unwrap().to_owned())
            .collect();
        found.sort();
        found
    };
    // The event the platform e-mails its tenant from.
    let event = crate::support::aws_calls::sent_events()
        .into_iter()
        .find(|e| e.contains("Renewal needs DNS action") && e.contains(&lead))
        .expect("no renewal event");
    let event: Value = serde_json::from_str(&event).unwrap();
    let detail: Value = match &event["Entries"][0]["Detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(record_names(&detail["records"]), expected, "{detail}");
    // Each name's status.
    let mut values = Vec::new();
    for name in &names {
        let st = status(&t, name).await;
        assert_eq!(
            record_names(&st["renewal"]["records"]),
            expected,
            "{name}: {st}"
        );
        assert_eq!(st["next_action"]["actor"], "tenant", "{name}: {st}");
        for e in &expected {
            assert!(
                st["next_action"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(e.as_str()),
                "{name}: {st}"
            );
        }
        values.push(st["renewal"]["records"].clone());
    }
    // renew-now's answer.
    let (code, again) = post(
        &t.token,
        &t.renew_url(),
        &json!({ "domain": lead }).to_string(),
    )
    .await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(record_names(&again["records"]), expected, "{again}");

    // Both published: renewed, both names served with the new certificate.
    for r in values[0].as_array().unwrap() {
        set_txt(
            r["txt_record_name"].as_str().unwrap(),
            r["txt_record_value"].as_str().unwrap(),
        )
        .await;
    }
    let report = t.sweep().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    for name in &names {
        let (covered, serial) = served_names(&t, name).await;
        assert_ne!(serial, serial_before, "{name}");
        assert_eq!(covered.len(), 2, "{name}");
    }
}

/// Names added to a served certificate that CloudFront refuses (the new
/// name is another distribution's alias), after the new certificate was
/// re-imported into the served ARN: the new name's release puts the served
/// certificate back and ends the order; the names already served stay
/// served and renew; so does a start without the refused name.
#[tokio::test]
async fn names_added_and_refused_at_attach_leave_and_the_served_names_still_renew() {
    let t = tenant()
        .own_table()
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    let apex = format!("{}.example.com", unique("extend"));
    let www = format!("www.{apex}");
    let (code, start) = post(
        &t.token,
        &t.start_url(),
        &json!({ "domain": apex }).to_string(),
    )
    .await;
    assert_eq!(code, 200, "{start}");
    publish_all(&start).await;
    let (code, done) = complete(&t, &apex).await;
    assert_eq!(code, 200, "{done}");
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let served_leaf = crate::renewal::acm_leaf(&arn).await;

    // Adding www: between its start and its complete another distribution
    // takes www, so CloudFront refuses the attach, after the re-import
    // into the served ARN.
    let extend = start_names(&t, json!([apex, www])).await;
    publish_all(&extend).await;
    create_distribution(&sdk_config(None).await, std::slice::from_ref(&www)).await;
    let (code, refused) = complete(&t, &apex).await;
    assert_eq!(
        (code, refused["code"].as_str()),
        (409, Some("cname_already_exists")),
        "{refused}"
    );
    assert_ne!(
        crate::renewal::acm_leaf(&arn).await,
        served_leaf,
        "not re-imported"
    );
    let st = status(&t, &apex).await;
    assert_eq!(st["next_action"]["action"], "release_domain", "{st}");
    assert!(
        st["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("release {www}")),
        "{st}"
    );

    // www leaves: the order is over, apex is served as before, and its
    // certificate is due for renewal at once (re-issued without www).
    release(&t, &www).await;
    let apex_name = DomainName::parse(&apex).unwrap();
    let records = t.app.store.load_hostname(&apex_name).await.unwrap();
    assert!(records.order.is_none(), "{:?}", records.order);
    let (aliases, viewer) = distribution(&t.distribution_id).await;
    assert_eq!(
        (aliases, viewer.as_deref()),
        (vec![apex.clone()], Some(arn.as_str()))
    );

    // And apex renews: the sweep orders, the tenant publishes, renewed.
    let served = records.served.unwrap();
    assert!(
        served.renewal.renew_after <= custom_domains::domain::Timestamp::now(),
        "not due: {:?}",
        served.renewal
    );
    let report = t.sweep().await;
    if report.awaiting_dns == 1 {
        let st = status(&t, &apex).await;
        for r in st["renewal"]["records"].as_array().unwrap() {
            set_txt(
                r["txt_record_name"].as_str().unwrap(),
                r["txt_record_value"].as_str().unwrap(),
            )
            .await;
        }
        let report = t.sweep().await;
        assert_eq!(report.renewed, 1, "{report:?}");
    } else {
        assert_eq!(report.renewed, 1, "{report:?}");
    }
    let (names, serial) = served_names(&t, &apex).await;
    assert_ne!(serial, served.certificate.serial, "not renewed");
    assert_eq!(names, vec![apex.clone()], "renewed with the name that left");
    assert_ne!(crate::renewal::acm_leaf(&arn).await, served_leaf);
}

/// A start without the names CloudFront refused ends the refused order at
/// any stage: a first issuance's imported certificate is deleted; an
/// extension's served certificate goes back into its ARN.
#[tokio::test]
async fn a_start_without_the_refused_names_ends_the_refused_order() {
    let t = tenant().start().await;
    // A first issuance of two names, refused at attach.
    let apex = format!("{}.example.com", unique("restart"));
    let www = format!("www.{apex}");
    let start = start_names(&t, json!([apex, www])).await;
    publish_all(&start).await;
    create_distribution(&sdk_config(None).await, std::slice::from_ref(&www)).await;
    let lead = start["domain"].as_str().unwrap().to_owned();
    assert_eq!(lead, apex);
    let (code, refused) = complete(&t, &lead).await;
    assert_eq!(code, 409, "{refused}");
    assert_eq!(acm_certificates_for(&lead).await.len(), 1);
    // apex alone: the refused order ends, its certificate is deleted, and
    // apex gets an order of its own.
    let (code, alone) = post(
        &t.token,
        &t.start_url(),
        &json!({ "domain": apex }).to_string(),
    )
    .await;
    assert_eq!(code, 200, "{alone}");
    assert_eq!(alone["domains"], json!([apex]), "{alone}");
    assert!(
        acm_certificates_for(&lead).await.is_empty(),
        "the refused certificate is left"
    );
    let (code, done) = complete(&t, &apex).await;
    assert_eq!(code, 200, "{done}");
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let served_leaf = crate::renewal::acm_leaf(&arn).await;

    // An extension to a third name, refused; a start naming apex alone ends
    // it with the served certificate back in its ARN.
    let shop = format!("shop.{apex}");
    let extend = start_names(&t, json!([apex, shop])).await;
    publish_all(&extend).await;
    create_distribution(&sdk_config(None).await, std::slice::from_ref(&shop)).await;
    let (code, refused) = complete(&t, &apex).await;
    assert_eq!(code, 409, "{refused}");
    assert_ne!(crate::renewal::acm_leaf(&arn).await, served_leaf);
    let served = start_names(&t, json!([apex])).await;
    assert_eq!(served["status"], "valid", "{served}");
    assert_eq!(crate::renewal::acm_leaf(&arn).await, served_leaf);
    let records = t
        .app
        .store
        .load_hostname(&DomainName::parse(&apex).unwrap())
        .await
        .unwrap();
    assert!(records.order.is_none(), "{:?}", records.order);
}

/// Both names of a shared certificate released at once: each sees the
/// other leave, and the certificate is ended once: deleted from ACM and
/// revoked, by one of the two releases.
#[tokio::test]
async fn names_sharing_a_certificate_released_at_once_end_it_once() {
    let proxy = crate::support::acme_proxy::AcmeProxy::start().await;
    let t = tenant().acme_via(&proxy).start().await;
    let apex = format!("{}.example.com", unique("both"));
    let www = format!("www.{apex}");
    let start = start_names(&t, json!([apex, www])).await;
    publish_all(&start).await;
    let (code, done) = complete(&t, &apex).await;
    assert_eq!(code, 200, "{done}");
    let (_, serial) = served_names(&t, &apex).await;
    assert_eq!(acm_certificates_for(&apex).await.len(), 1);
    let revocations_before = proxy.requests_to("revoke");

    let until_released = |name: String| {
        let (token, url) = (t.token.clone(), t.release_url(&name));
        async move {
            for _ in 0..150 {
                let (code, body) = delete(&token, &url).await;
                match code {
                    200 => return,
                    202 => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                    _ => panic!("release of {name}: {code} {body}"),
                }
            }
            let (code, body) = delete(&token, &url).await;
            panic!("release of {name} did not finish: {code} {body}");
        }
    };
    tokio::join!(until_released(apex.clone()), until_released(www.clone()));
    assert!(
        acm_certificates_for(&apex).await.is_empty(),
        "the shared certificate is left in ACM"
    );
    let status = pebble_management(&format!("/cert-status-by-serial/{serial}")).await;
    assert!(status.contains("Revoked"), "{status}");
    assert_eq!(
        proxy.requests_to("revoke") - revocations_before,
        1,
        "revoked more than once"
    );
}
