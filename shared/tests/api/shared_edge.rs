//! The shared edge: organisations without a distribution of their own get
//! one distribution tenant per hostname on the platform's multi-tenant
//! distribution (CloudFront SaaS Manager, served locally by ministack),
//! with the certificate the product imported into ACM (moto).

use custom_domains::domain::DomainName;

use crate::support::*;

/// The distribution tenant serving `domain`: its ID, distribution,
/// certificate ARN and whether it is enabled.
pub(crate) async fn distribution_tenant(
    domain: &str,
) -> Option<(String, String, Option<String>, bool)> {
    let cf = cloudfront_client(&sdk_config(None).await);
    let out = cf
        .get_distribution_tenant_by_domain()
        .domain(domain)
        .send()
        .await
        .ok()?;
    let t = out.distribution_tenant?;
    Some((
        t.id().unwrap_or_default().to_owned(),
        t.distribution_id().unwrap_or_default().to_owned(),
        t.customizations()
            .and_then(|c| c.certificate())
            .map(|c| c.arn().to_owned()),
        t.enabled() == Some(true),
    ))
}

#[tokio::test]
async fn twenty_organisations_share_the_edge_each_with_its_own_tenant_and_certificate() {
    let shared = stack().var("CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID");
    let mut tenants = Vec::new();
    for _ in 0..20 {
        tenants.push(tenant().shared_edge().start().await);
    }
    let done = futures_util::future::join_all(tenants.iter().map(|t| async move {
        let (_, done) = t.start_and_complete().await;
        done
    }))
    .await;
    let mut arns = std::collections::BTreeSet::new();
    let mut ids = std::collections::BTreeSet::new();
    for (t, (status, done)) in tenants.iter().zip(&done) {
        assert_eq!(*status, 200, "{done}");
        assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
        let arn = done["certificate_arn"].as_str().unwrap().to_owned();
        let (id, distribution, certificate, enabled) = distribution_tenant(&t.domain)
            .await
            .unwrap_or_else(|| panic!("no distribution tenant for {}", t.domain));
        assert_eq!(distribution, shared);
        assert_eq!(certificate.as_deref(), Some(arn.as_str()));
        assert!(enabled);
        // Where to point it: the connection group's routing endpoint.
        let target = done["dns_target"].as_str().unwrap();
        assert!(target.ends_with(".cloudfront.net"), "{done}");
        assert!(done["message"].as_str().unwrap().contains(target));
        let (_, st) = t.certificate_status().await;
        assert_eq!(st["edge"], "cloudfront_tenant", "{st}");
        assert_eq!(st["dns_target"], target);
        arns.insert(arn);
        ids.insert(id);
    }
    assert_eq!((arns.len(), ids.len()), (20, 20));
}

#[tokio::test]
async fn a_hostname_on_the_shared_edge_is_renewed_in_place_and_released_with_its_tenant() {
    let t = tenant().shared_edge().start().await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let (id, _, certificate, _) = distribution_tenant(&t.domain).await.unwrap();
    // Renewal re-imports into the same ARN: the tenant is not touched.
    let (status, start) = t.renew().await;
    assert!(status == 200 || status == 202, "{start}");
    if status == 202 {
        let name = start["txt_record_name"].as_str().unwrap();
        set_txt(name, start["txt_record_value"].as_str().unwrap()).await;
        let (status, renewed) = t.renew().await;
        assert_eq!(status, 200, "{renewed}");
    }
    let (same_id, _, same_certificate, _) = distribution_tenant(&t.domain).await.unwrap();
    assert_eq!((same_id, same_certificate), (id, certificate));

    // The drift check knows where it must point.
    let (_, st) = t.certificate_status().await;
    let target = st["dns_target"].as_str().unwrap().to_owned();
    set_cname(&t.domain, &target).await;
    assert!(t.drift_check_with(|_| {}).await.pointed >= 1);

    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    assert!(
        distribution_tenant(&t.domain).await.is_none(),
        "the distribution tenant is left"
    );
    assert!(crate::acme_path::acm_certificates_for(&t.domain)
        .await
        .is_empty());
    let name = DomainName::parse(&t.domain).unwrap();
    assert!(t
        .app
        .store
        .load_hostname(&name)
        .await
        .unwrap()
        .owner
        .is_none());
    clear_cname(&t.domain).await;
}

#[tokio::test]
async fn a_shared_edge_hostname_pointing_elsewhere_past_the_grace_loses_its_tenant() {
    let t = tenant().shared_edge().own_table().start().await;
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let target = done["dns_target"].as_str().unwrap().to_owned();
    set_cname(&t.domain, &target).await;
    assert_eq!(t.drift_check().await.pointed, 1);
    set_a("old-host.example.net", "192.0.2.98").await;
    set_cname(&t.domain, "old-host.example.net").await;
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
    assert!(distribution_tenant(&t.domain).await.is_none());
    clear_cname(&t.domain).await;
}

/// A distribution tenant already there for the name on the shared edge (a
/// call that made it and was cut off before saving, or one disabled by an
/// interrupted release) is brought to the new certificate and enabled, not
/// duplicated.
#[tokio::test]
async fn an_existing_distribution_tenant_for_the_name_is_updated_not_duplicated() {
    let t = tenant().shared_edge().start().await;
    let cf = cloudfront_client(&sdk_config(None).await);
    cf.create_distribution_tenant()
        .distribution_id(stack().var("CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID"))
        .name(&t.domain)
        .domains(
            aws_sdk_cloudfront::types::DomainItem::builder()
                .domain(&t.domain)
                .build()
                .unwrap(),
        )
        .enabled(false)
        .send()
        .await
        .unwrap();
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let (_, _, certificate, enabled) = distribution_tenant(&t.domain).await.unwrap();
    assert_eq!(certificate.as_deref(), done["certificate_arn"].as_str());
    assert!(enabled);
}

/// A hostname longer than a distribution tenant's `Name` may be (128
/// characters, which the local CloudFront enforces as AWS does) is served
/// on the shared edge under a shorter, deterministic tenant name; release
/// removes that tenant. (Named by the hostname, the tenant was refused:
/// `400 InvalidArgument`.)
#[tokio::test]
async fn a_hostname_longer_than_a_tenant_name_is_served_on_the_shared_edge() {
    let mut t = tenant().shared_edge().start().await;
    t.domain = format!(
        "{}.{}.{}.example.com",
        "a".repeat(60),
        "b".repeat(50),
        unique("long")
    );
    assert!(t.domain.len() > 128);
    let (_, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    let (id, _, certificate, enabled) = distribution_tenant(&t.domain)
        .await
        .expect("a distribution tenant for the long name");
    assert_eq!(certificate.as_deref(), done["certificate_arn"].as_str());
    assert!(enabled && !id.is_empty());
    let cf = cloudfront_client(&sdk_config(None).await);
    let name = cf
        .get_distribution_tenant()
        .identifier(&id)
        .send()
        .await
        .unwrap()
        .distribution_tenant
        .and_then(|d| d.name)
        .unwrap_or_default();
    assert!(name.len() <= 128, "{name}");
    assert_eq!(
        name,
        custom_domains::adapters::cloudfront::tenant_name(&DomainName::parse(&t.domain).unwrap())
    );
    let (status, released) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert!(status == 200 || status == 202, "{released}");
}
