//! ACME profiles and lifetimes: a certificate keeps the profile it was
//! issued under through its renewals, whatever the deployment's default
//! says later (other clients lose it, and tenants' certificates change
//! lifetime silently); every renewal threshold is relative to the
//! certificate's own lifetime, tested against the stack's second CA, whose
//! certificates last `shortlived`'s 160 hours (Pebble 2.4.0 sets one
//! lifetime per process), beside the main CA's 5 years.

use std::time::Duration;

use custom_domains::domain::{DomainName, ServedCertificate, TenantId};

use crate::support::*;

/// The share of `served`'s lifetime that passes before it renews, and
/// before it reads overdue.
fn shares(served: &ServedCertificate) -> (f64, f64) {
    let c = &served.certificate;
    let lifetime = c.not_before.until(c.not_after).as_secs_f64();
    let renew = c.not_before.until(served.renewal.renew_after).as_secs_f64();
    let overdue = c.not_before.until(served.overdue_at()).as_secs_f64();
    (renew / lifetime, overdue / lifetime)
}

#[tokio::test]
async fn a_short_lived_certificate_renews_in_its_own_time_and_keeps_its_profile_when_the_default_changes(
) {
    let t = tenant()
        .own_table()
        .env(
            "ACME_DIRECTORY_URL",
            &stack().var("ACME_DIRECTORY_URL_SHORTLIVED"),
        )
        .env("ACME_PROFILE", "shortlived")
        .start()
        .await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let served = t.served().await;
    assert_eq!(served.profile.as_deref(), Some("shortlived"));
    let c = &served.certificate;
    let lifetime = c.not_before.until(c.not_after);
    assert!(
        lifetime > Duration::from_secs(159 * 3600) && lifetime < Duration::from_secs(161 * 3600),
        "{lifetime:?}"
    );
    // Renewed half-way (RENEWAL_DNS_LEAD_DAYS' 30 days, capped at half the
    // lifetime, leave the tenant time for its TXT record), overdue a sixth
    // later: days, not the weeks a fixed threshold would give.
    let (renew, overdue) = shares(&served);
    assert!(
        (0.45..=0.67).contains(&renew),
        "renews at {renew} of its lifetime"
    );
    assert!(
        (overdue - renew - 1.0 / 6.0).abs() < 0.01,
        "overdue at {overdue}"
    );

    // The platform's default changes; the renewal asks for the certificate's
    // own profile, and the CA (the stack's Boulder proxy) says it got it.
    let mut config = t.app.config.clone();
    config.acme_profile = Some("classic".into());
    let app = custom_domains::App::new(config, &sdk_config_with(None, &t.overrides).await).unwrap();
    let org = TenantId::parse("org", &t.org).unwrap();
    let name = DomainName::parse(&t.domain).unwrap();
    let mut outcome = None;
    for _ in 0..3 {
        let renewed = custom_domains::routes::scoped(
            "renew-certificate",
            custom_domains::flows::acme::renew::renew_now(&app, &org, &name),
        )
        .await
        .unwrap();
        if let custom_domains::flows::acme::renew::Outcome::AwaitingDns(order) = &renewed {
            assert_eq!(order.profile.as_deref(), Some("shortlived"));
            set_txt(&order.challenge.txt_name, &order.challenge.txt_value).await;
            continue;
        }
        outcome = Some(renewed);
        break;
    }
    assert!(
        matches!(
            outcome,
            Some(custom_domains::flows::acme::renew::Outcome::Renewed(_))
        ),
        "the renewal did not finish"
    );
    let renewed = t.served().await;
    assert_ne!(renewed.certificate.serial, served.certificate.serial);
    assert_eq!(renewed.profile.as_deref(), Some("shortlived"));
    let lifetime = renewed
        .certificate
        .not_before
        .until(renewed.certificate.not_after);
    assert!(lifetime < Duration::from_secs(161 * 3600), "{lifetime:?}");
}

#[tokio::test]
async fn a_long_lived_certificate_keeps_its_profile_and_is_not_renewed_early() {
    let t = tenant()
        .own_table()
        .env("ACME_PROFILE", "classic")
        .start()
        .await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let served = t.served().await;
    assert_eq!(served.profile.as_deref(), Some("classic"));
    // The main CA's 5 years: renewed two thirds in, not 30 days before.
    let (renew, overdue) = shares(&served);
    assert!((renew - 2.0 / 3.0).abs() < 0.01, "renews at {renew}");
    assert!((overdue - 5.0 / 6.0).abs() < 0.01, "overdue at {overdue}");
}
