//! The DNS precheck asks what the CA will ask: every authoritative server
//! of the tenant's zone, following an `_acme-challenge` CNAME, and CAA.
//!
//! The tenant zone `TEST_ZONE` has two nameservers, two real Knot instances
//! (ns1 on 127.0.0.1, ns2 on 127.0.0.2) that take RFC 2136 updates
//! independently, so a test makes one of them lag by writing to the other
//! only. Pebble resolves through unbound, which asks both.

use std::time::Duration;

use base64::prelude::{Engine, BASE64_STANDARD};
use custom_domains::adapters::delegation::DelegationZone;
use custom_domains::config::{Delegation, DelegationProvider, TsigSecret};
use serde_json::Value;

use crate::support::*;

/// One of the test zone's nameservers, as its operator updates it.
async fn nameserver(address: &str) -> DelegationZone {
    let knot_port = stack()
        .var("RFC2136_SERVER")
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let delegation = Delegation {
        zone: stack().var("TEST_ZONE"),
        provider: DelegationProvider::Rfc2136 {
            server: format!("{address}:{knot_port}").parse().unwrap(),
            key_name: stack().var("RFC2136_TSIG_KEY_NAME"),
            secret: TsigSecret::Inline(
                BASE64_STANDARD
                    .decode(stack().var("RFC2136_TSIG_SECRET"))
                    .unwrap(),
            ),
        },
        wait: Duration::from_secs(5),
    };
    DelegationZone::new(&delegation, &sdk_config(None).await).unwrap()
}

async fn publish_on(address: &str, name: &str, value: &str) {
    nameserver(address)
        .await
        .publish_txt(name, value)
        .await
        .unwrap();
}

fn record(start: &Value) -> (String, String) {
    (
        start["txt_record_name"].as_str().unwrap().to_owned(),
        start["txt_record_value"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn every_authoritative_server_must_answer_before_the_ca_is_asked() {
    let mut t = tenant().start().await;
    t.domain = format!("{}.{}", unique("shop"), stack().var("TEST_ZONE"));
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    let (name, value) = record(&start);

    // ns1 has the record, ns2 lags: not asked of the CA, and ns2 is named.
    publish_on("127.0.0.1", &name, &value).await;
    let (status, lagging) = t.complete().await;
    assert_eq!(status, 422, "{lagging}");
    assert_eq!(lagging["code"], "dns_not_propagated", "{lagging}");
    let message = lagging["message"].as_str().unwrap();
    assert!(
        message.contains("ns2.") && message.contains("127.0.0.2"),
        "{message}"
    );
    assert!(!message.contains("127.0.0.1)"), "{message}");
    let (_, status_now) = t.certificate_status().await;
    assert_eq!(
        status_now["next_action"]["action"], "publish_txt_record",
        "{status_now}"
    );

    // Both answer: the CA validates through unbound, which asks either.
    publish_on("127.0.0.2", &name, &value).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
}

#[tokio::test]
async fn an_acme_challenge_cname_is_followed_to_the_zone_that_serves_it() {
    let t = tenant().start().await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    let (name, value) = record(&start);
    // The tenant points _acme-challenge at a zone of its own (as with
    // acme-dns), whose servers are ns1 and ns2.
    let target = format!("{}.{}", unique("acme"), stack().var("TEST_ZONE"));
    set_cname(&name, &target).await;
    publish_on("127.0.0.1", &target, &value).await;
    let (status, lagging) = t.complete().await;
    assert_eq!(status, 422, "{lagging}");
    assert_eq!(lagging["code"], "dns_not_propagated", "{lagging}");
    let found = lagging["details"]["found"].as_array().unwrap();
    assert!(
        found
            .iter()
            .any(|o| o["authoritative"] == true && o["name"] == target.as_str()),
        "the target's authoritative servers were not asked: {lagging}"
    );

    publish_on("127.0.0.2", &target, &value).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    clear_cname(&name).await;
}

#[tokio::test]
async fn caa_records_that_forbid_the_ca_are_refused_before_it_is_asked() {
    let t = tenant().start().await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    t.publish(&start).await;
    set_caa(&t.domain, "pki.goog").await;
    let (status, refused) = t.complete().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "caa_forbids", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("pki.goog") && message.contains(&t.domain),
        "{message}"
    );
    let (_, status_now) = t.certificate_status().await;
    assert_eq!(
        status_now["next_action"]["action"], "publish_txt_record",
        "{status_now}"
    );

    // A CAA record naming the CA's identity lets it through.
    set_caa(&t.domain, "letsencrypt.org").await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    clear_caa(&t.domain).await;
}

/// `_acme-challenge` points, by CNAME, into another zone with servers of
/// its own (the delegation zone's Knot here, standing in for a tenant's
/// acme-dns): the first zone's servers answer only the CNAME, and the
/// record is decided by the target zone's servers.
#[tokio::test]
async fn a_cname_into_another_zone_is_decided_by_that_zones_servers() {
    let mut t = tenant().start().await;
    t.domain = format!("{}.cross.{}", unique("shop"), stack().var("TEST_ZONE"));
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    let (_, value) = record(&start);
    let target = format!("cross-target.{}", stack().var("DELEGATION_ZONE"));
    let zone = DelegationZone::new(
        &Delegation {
            zone: stack().var("DELEGATION_ZONE"),
            provider: DelegationProvider::Rfc2136 {
                server: stack().var("RFC2136_SERVER").parse().unwrap(),
                key_name: stack().var("RFC2136_TSIG_KEY_NAME"),
                secret: TsigSecret::Inline(
                    BASE64_STANDARD
                        .decode(stack().var("RFC2136_TSIG_SECRET"))
                        .unwrap(),
                ),
            },
            wait: Duration::from_secs(5),
        },
        &sdk_config(None).await,
    )
    .unwrap();
    zone.publish_txt(&target, &value).await.unwrap();
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    zone.remove_txt(&target, &value).await.unwrap();
}
