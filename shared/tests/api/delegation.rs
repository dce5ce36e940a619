//! `_acme-challenge` delegation: a tenant publishes one CNAME into the
//! platform's delegation zone, and every validation after that, renewals
//! included, needs nobody. The zone is served by a real authoritative DNS
//! server (Knot, updated over RFC 2136 with TSIG); Pebble resolves through a
//! real recursive resolver (unbound) that follows the tenant's CNAME from
//! challtestsrv to Knot. The Route 53 provider's calls are checked against
//! moto, which serves no DNS.

use std::time::Duration;

use custom_domains::adapters::delegation::DelegationZone;
use custom_domains::adapters::dns::DnsPrecheck;
use custom_domains::config::{Delegation, DelegationProvider, TsigSecret};
use serde_json::Value;
use tokio::time::Instant;

use crate::support::*;

/// What the Knot primary answers for TXT at `name`.
async fn knot_txt(name: &str) -> Vec<String> {
    let server = stack().var("RFC2136_SERVER").parse().unwrap();
    DnsPrecheck::authoritative(server)
        .observe(name, Instant::now() + std::time::Duration::from_secs(5))
        .await
        .into_iter()
        .flat_map(|o| o.values)
        .collect()
}

/// Publishes the CNAME a start answer offers, as the tenant would.
async fn delegate(start: &Value) -> String {
    let name = start["cname_record_name"].as_str().unwrap_or_else(|| {
        panic!("start-certificate offered no CNAME: {start}");
    });
    let target = start["cname_record_value"].as_str().unwrap().to_owned();
    set_cname(name, &target).await;
    target
}

#[tokio::test]
async fn a_delegated_hostname_is_issued_and_renewed_with_no_tenant_action() {
    let t = tenant()
        .own_table()
        .env("RENEWAL_DNS_RECHECK_SECONDS", "0")
        .start()
        .await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    assert_eq!(
        start["cname_record_name"],
        format!("_acme-challenge.{}", t.domain)
    );
    let zone = stack().var("DELEGATION_ZONE");
    let target = delegate(&start).await;
    assert!(target.ends_with(&format!(".{zone}")), "{target}");
    assert!(start["message"].as_str().unwrap().contains(&target));

    // No TXT record published by anyone but the product.
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert!(
        knot_txt(&target).await.is_empty(),
        "the validation record was left in the delegation zone"
    );
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["delegation"], "active");
    assert_ne!(st["renewal_basis"], "dns_lead", "{st}");
    let before = t.served().await;
    assert!(before.delegated);
    let etag = distribution_etag(&t.distribution_id).await;

    // Due: one sweep renews it, with nobody publishing anything.
    t.make_due().await;
    let report = t.sweep().await;
    assert_eq!((report.due, report.renewed), (1, 1), "{report:?}");
    let after = t.served().await;
    assert_ne!(after.certificate.serial, before.certificate.serial);
    assert_eq!(after.certificate_arn, before.certificate_arn);
    assert_eq!(
        distribution_etag(&t.distribution_id).await,
        etag,
        "the distribution was written"
    );
    assert!(knot_txt(&target).await.is_empty());
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["next_action"]["actor"], "nobody", "{st}");

    // And renew-now, the same way.
    let (status, renewed) = t.renew().await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(
        t.served().await.certificate.serial,
        after.certificate.serial
    );
    clear_cname(start["cname_record_name"].as_str().unwrap()).await;
}

#[tokio::test]
async fn without_the_cname_the_tenant_is_asked_for_the_txt_record() {
    let t = tenant().start().await;
    let (_, start) = t.start().await;
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["delegation"], "missing");
    // The CNAME points somewhere else (a guess at another claim's label):
    // not delegated, the TXT record is still required.
    set_cname(
        start["cname_record_name"].as_str().unwrap(),
        &format!("{}.{}", "0".repeat(32), stack().var("DELEGATION_ZONE")),
    )
    .await;
    let (status, err) = t.complete().await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["code"], "dns_record_missing");
    clear_cname(start["cname_record_name"].as_str().unwrap()).await;
}

#[tokio::test]
async fn each_claim_gets_its_own_delegation_name() {
    let a = tenant().start().await;
    let (_, first) = a.start().await;
    let (_, again) = a.start().await;
    assert_eq!(first["cname_record_value"], again["cname_record_value"]);
    // Released (nothing live yet), then claimed by another tenant: a new
    // name, so a CNAME the first owner left does not validate for the second.
    let (status, _) = delete(&a.token, &a.release_url(&a.domain)).await;
    assert_eq!(status, 200);
    let b = tenant().start().await;
    let url = format!("{}/api/domain/start-certificate/{}", b.base, b.org);
    let (status, second) = post(&b.token, &url, &a.body()).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(first["cname_record_value"], second["cname_record_value"]);
    let other = tenant().start().await;
    let (_, third) = other.start().await;
    assert_ne!(third["cname_record_value"], first["cname_record_value"]);
}

#[tokio::test]
async fn without_a_delegation_zone_no_cname_is_offered() {
    let t = tenant().env("DELEGATION_ZONE", "").start().await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    assert!(start["cname_record_value"].is_null(), "{start}");
    let (_, st) = t.certificate_status().await;
    assert_eq!(st["delegation"], "not_configured");
}

fn rfc2136(secret: TsigSecret) -> Delegation {
    Delegation {
        zone: stack().var("DELEGATION_ZONE"),
        provider: DelegationProvider::Rfc2136 {
            server: stack().var("RFC2136_SERVER").parse().unwrap(),
            key_name: stack().var("RFC2136_TSIG_KEY_NAME"),
            secret,
        },
        wait: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn rfc2136_updates_need_the_tsig_key() {
    use base64::prelude::{Engine, BASE64_STANDARD};
    let sdk = sdk_config(None).await;
    let name = format!("{}.{}", unique("probe"), stack().var("DELEGATION_ZONE"));
    let secret = BASE64_STANDARD
        .decode(stack().var("RFC2136_TSIG_SECRET"))
        .unwrap();
    let good = DelegationZone::new(&rfc2136(TsigSecret::Inline(secret)), &sdk).unwrap();
    let published = good.publish_txt(&name, "v1").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    assert!(good
        .wait_published(&published, &name, "v1", deadline)
        .await
        .unwrap());
    // Publishing again replaces, never adds.
    good.publish_txt(&name, "v2").await.unwrap();
    assert_eq!(knot_txt(&name).await, ["v2"]);

    let forged =
        DelegationZone::new(&rfc2136(TsigSecret::Inline(b"not the key".to_vec())), &sdk).unwrap();
    let err = forged.publish_txt(&name, "forged").await.unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    assert_eq!(knot_txt(&name).await, ["v2"]);

    good.remove_txt(&name, "v2").await.unwrap();
    assert!(knot_txt(&name).await.is_empty());
    good.remove_txt(&name, "v2").await.unwrap();
}

/// The key's secret is read from Secrets Manager, as the template makes
/// the functions do (`Rfc2136TsigSecretArn`), on the first update: only
/// the functions that write or remove records may read it; a secret that
/// is not there, or holds no base64 secret, fails the update with a
/// message naming it, and nothing is written.
#[tokio::test]
async fn the_tsig_secret_is_read_from_secrets_manager_by_the_functions_that_write_records() {
    let sdk = sdk_config(None).await;
    let arn = stack().var("RFC2136_TSIG_SECRET_ARN");
    let from_secret = || {
        DelegationZone::new(
            &rfc2136(TsigSecret::SecretsManager {
                secret_id: arn.clone(),
            }),
            &sdk,
        )
        .unwrap()
    };
    for function in [
        "complete-certificate",
        "renew-certificate",
        "operator-renew",
        "renewal-sweep",
        "release-domain",
        "drift-check",
    ] {
        let name = format!("{}.{}", unique("secret"), stack().var("DELEGATION_ZONE"));
        let zone = from_secret();
        custom_domains::routes::scoped(function, async {
            zone.publish_txt(&name, "v1").await.unwrap();
            zone.remove_txt(&name, "v1").await.unwrap();
        })
        .await;
    }
    // A function with no record to write has no grant.
    let name = format!("{}.{}", unique("secret"), stack().var("DELEGATION_ZONE"));
    aws_calls::expect_refusal(&arn);
    let refused = custom_domains::routes::scoped("start-certificate", async {
        from_secret().publish_txt(&name, "v1").await.unwrap_err()
    })
    .await;
    assert_eq!(refused.status(), 502, "{refused}");
    assert!(refused.to_string().contains("Secrets Manager"), "{refused}");
    assert!(knot_txt(&name).await.is_empty());

    // A secret that is not there, or that holds something else.
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let wrong = secrets
        .create_secret()
        .name(unique("not-a-tsig-secret"))
        .secret_string("not base64 !")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    for (secret_id, says) in [
        (format!("{arn}-gone"), "Secrets Manager"),
        (wrong.clone(), wrong.as_str()),
    ] {
        let zone =
            DelegationZone::new(&rfc2136(TsigSecret::SecretsManager { secret_id }), &sdk).unwrap();
        let err = zone.publish_txt(&name, "v1").await.unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert!(knot_txt(&name).await.is_empty());
    }
}

#[tokio::test]
async fn route53_publishes_waits_for_insync_and_removes() {
    let sdk = sdk_config(None).await;
    let route53 = aws_sdk_route53::Client::new(&sdk);
    let zone = format!("{}.platform.example", unique("delegation"));
    let created = route53
        .create_hosted_zone()
        .name(&zone)
        .caller_reference(unique("ref-"))
        .send()
        .await
        .unwrap();
    let zone_id = created.hosted_zone.unwrap().id;
    // The functions' policies name this zone (the template's
    // DelegationHostedZoneId, set from ROUTE53_HOSTED_ZONE_ID).
    let bare_id = zone_id.trim_start_matches("/hostedzone/").to_owned();
    let product_sdk = sdk_config_with(
        None,
        &[
            ("ROUTE53_HOSTED_ZONE_ID".to_owned(), bare_id),
            ("DELEGATION_ZONE".to_owned(), zone.clone()),
        ],
    )
    .await;
    let delegation = DelegationZone::new(
        &Delegation {
            zone: zone.clone(),
            provider: DelegationProvider::Route53 {
                hosted_zone_id: zone_id.clone(),
            },
            wait: Duration::from_secs(5),
        },
        &product_sdk,
    )
    .unwrap();
    let name = delegation.target("abc123");
    // Read back outside any function's scope (a task of its own), so the
    // test's own reads are not taken for the product's calls.
    let txt_sets = || {
        let (route53, zone_id) = (route53.clone(), zone_id.clone());
        async move {
            tokio::spawn(async move {
                route53
                    .list_resource_record_sets()
                    .hosted_zone_id(&zone_id)
                    .send()
                    .await
                    .unwrap()
                    .resource_record_sets
                    .into_iter()
                    .filter(|r| r.r#type.as_str() == "TXT")
                    .map(|r| {
                        (
                            r.name,
                            r.resource_records
                                .unwrap_or_default()
                                .into_iter()
                                .map(|v| v.value)
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap()
        }
    };
    // Each function that validates through the delegation zone makes the
    // same calls; run them as each, so the template's policies are checked
    // against them.
    for function in [
        "complete-certificate",
        "renew-certificate",
        "operator-renew",
        "renewal-sweep",
    ] {
        custom_domains::routes::scoped(function, async {
            let published = delegation.publish_txt(&name, "token-1").await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            assert!(delegation
                .wait_published(&published, &name, "token-1", deadline)
                .await
                .unwrap());
            delegation.publish_txt(&name, "token-2").await.unwrap();
            assert_eq!(
                txt_sets().await,
                [(format!("{name}."), vec!["\"token-2\"".to_owned()])]
            );
            delegation.remove_txt(&name, "token-2").await.unwrap();
            assert!(txt_sets().await.is_empty());
            // Removing what is gone is not an error.
            delegation.remove_txt(&name, "token-2").await.unwrap();
        })
        .await;
    }
    // A release (by its owner, or by drift-check for drift) removes an
    // order in flight's record.
    for function in ["release-domain", "drift-check"] {
        custom_domains::routes::scoped(function, async {
            delegation.publish_txt(&name, "token-3").await.unwrap();
            delegation.remove_txt(&name, "token-3").await.unwrap();
            assert!(txt_sets().await.is_empty());
        })
        .await;
    }
}

#[tokio::test]
async fn drift_check_notices_a_delegation_cname_that_was_removed() {
    let t = tenant().own_table().start().await;
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    delegate(&start).await;
    let ((status, done), _) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    t.drift_check().await;
    let (_, st) = t.certificate_status().await;
    assert!(st["dns"]["delegation_missing_since"].is_null(), "{st}");

    // The tenant cleans up its DNS and removes the CNAME: renewals would
    // now need its TXT record, and the platform is told.
    clear_cname(start["cname_record_name"].as_str().unwrap()).await;
    t.make_dns_due(&t.domain).await;
    t.drift_check().await;
    let (_, st) = t.certificate_status().await;
    assert!(st["dns"]["delegation_missing_since"].is_string(), "{st}");
    let told: Vec<String> = crate::support::aws_calls::sent_events()
        .into_iter()
        .filter(|e| e.contains(&t.domain) && e.contains("Hostname DNS changed"))
        .collect();
    // The first is the hostname found pointing (challtestsrv's default
    // address is the distribution's too); the last, the CNAME gone.
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told[1].contains("delegation_missing_since\\\":\\\"20"),
        "{told:?}"
    );
}
