//! Drift: `drift-check` resolves live hostnames (through challtestsrv,
//! whose records the tests change under them) and tells awaiting DNS,
//! pointed and misconfigured apart; a hostname misconfigured past the grace
//! period is released as its owner would.

use std::time::Duration;

use custom_domains::domain::DomainName;

use crate::support::*;

fn events_about(domain: &str, kind: &str) -> Vec<String> {
    crate::support::aws_calls::sent_events()
        .into_iter()
        .filter(|e| e.contains(domain) && e.contains(kind))
        .collect()
}

#[tokio::test]
async fn a_hostname_that_stops_pointing_at_its_distribution_is_flagged_then_detached() {
    let t = tenant().own_table().start().await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["dns"]["state"], "not_checked", "{st}");

    // Certificate first, then the tenant moves DNS: while the name still
    // points at its old host, it is awaiting DNS, not drifting.
    set_a(&t.domain, "192.0.2.10").await;
    let report = t.drift_check().await;
    assert_eq!((report.due, report.awaiting_dns), (1, 1), "{report:?}");
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["dns"]["state"], "awaiting_dns", "{st}");
    assert_eq!(
        st["dns"]["found"],
        serde_json::json!(["192.0.2.10"]),
        "{st}"
    );
    let target = st["dns"]["expected"]["value"].as_str().unwrap().to_owned();
    assert!(target.ends_with(".cloudfront.net"), "{st}");
    assert_eq!(st["next_action"]["action"], "point_dns", "{st}");
    // Not due again until later: a run now has nothing to do.
    assert_eq!(t.drift_check().await.due, 0);

    // The tenant points it at the distribution.
    set_cname(&t.domain, &target).await;
    t.make_dns_due(&t.domain).await;
    assert_eq!(t.drift_check().await.pointed, 1);
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["dns"]["state"], "pointed", "{st}");
    assert_eq!(st["next_action"]["action"], "none", "{st}");
    assert_eq!(events_about(&t.domain, "Hostname DNS changed").len(), 1);

    // Pointed elsewhere (a CNAME to a host with addresses of its own):
    // misconfigured, with when it will be detached.
    set_a("parking.registrar.example", "192.0.2.99").await;
    set_cname(&t.domain, "parking.registrar.example").await;
    t.make_dns_due(&t.domain).await;
    assert_eq!(t.drift_check().await.misconfigured, 1);
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["dns"]["state"], "misconfigured", "{st}");
    assert_eq!(
        st["dns"]["found"],
        serde_json::json!(["parking.registrar.example"])
    );
    assert!(st["dns"]["detach_at"].is_string(), "{st}");
    assert_eq!(st["next_action"]["action"], "fix_dns", "{st}");
    let told: Vec<String> = events_about(&t.domain, "Hostname DNS changed")
        .into_iter()
        .filter(|e| e.contains("misconfigured"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");

    // Pointed back within the grace: fine again.
    set_cname(&t.domain, &target).await;
    t.make_dns_due(&t.domain).await;
    assert_eq!(t.drift_check().await.pointed, 1);
    let (_, st) = t.certificate_status().await;
    assert!(st["dns"]["misconfigured_since"].is_null(), "{st}");

    // The resolvers fail (SERVFAIL) for a while: no verdict, nothing
    // changes, even with no grace left.
    servfail(&t.domain, true).await;
    t.make_dns_due(&t.domain).await;
    let report = t.drift_check_with(|c| c.drift_grace = Duration::ZERO).await;
    assert_eq!(
        (report.unknown, report.misconfigured, report.detached),
        (1, 0, 0),
        "{report:?}"
    );
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["dns"]["state"], "pointed", "{st}");
    servfail(&t.domain, false).await;

    // Elsewhere past the grace period: detached as a release would.
    set_cname(&t.domain, "parking.registrar.example").await;
    let arn = done["certificate_arn"].as_str().unwrap().to_owned();
    let name = DomainName::parse(&t.domain).unwrap();
    t.detach_for_drift().await;
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(
        records.owner.is_none() && records.mapping.is_none() && records.dns.is_none(),
        "{records:?}"
    );
    assert!(
        crate::acme_path::acm_certificates_for(&t.domain)
            .await
            .is_empty(),
        "{arn}"
    );
    let (aliases, _) = crate::claims::distribution(&t.distribution_id).await;
    assert!(aliases.is_empty(), "{aliases:?}");
    assert_eq!(events_about(&t.domain, "Hostname detached").len(), 1);
    clear_cname(&t.domain).await;
}

#[tokio::test]
async fn an_acm_path_hostname_shows_its_dns_and_is_detached_with_its_custom_domain() {
    let mut t = tenant().own_table().start().await;
    t.domain = format!("{}.example.com", unique("drift"));
    let (status, requested) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 200, "{requested}");
    let url = t.status_url(requested["request_id"].as_str().unwrap());
    let seen = crate::acm_path::poll_status(&t.token, &url).await;
    let (_, configured) = seen.last().unwrap();
    assert_eq!(configured["status"], "CONFIGURED", "{configured}");
    let target = configured["api_gateway_domain"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(configured["dns"]["expected"]["value"], target.as_str());

    set_cname(&t.domain, &target).await;
    assert_eq!(t.drift_check().await.pointed, 1);
    set_a("old-host.example.net", "192.0.2.98").await;
    set_cname(&t.domain, "old-host.example.net").await;
    t.make_dns_due(&t.domain).await;
    assert_eq!(t.drift_check().await.misconfigured, 1);
    let (_, st) = get(&t.token, &url).await;
    assert_eq!(st["dns"]["state"], "misconfigured", "{st}");
    let (_, list) = get(&t.token, &format!("{}/domains", t.base)).await;
    let entry = list["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == t.domain.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["next_action"]["action"], "fix_dns", "{list}");

    // Past the grace period: the custom domain and the certificate go, and
    // the request with them.
    let name = DomainName::parse(&t.domain).unwrap();
    t.detach_for_drift().await;
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .owner
        .is_none());
    let gone = aws_sdk_apigatewayv2::Client::new(&sdk_config(None).await)
        .get_domain_name()
        .domain_name(&t.domain)
        .send()
        .await;
    assert!(gone.is_err(), "the custom domain is still there");
    let (status, _) = get(&t.token, &url).await;
    assert_eq!(status, 404);
    clear_cname(&t.domain).await;
}
