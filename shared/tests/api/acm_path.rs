//! The ACM path: request-domain and domain-status, with API Gateway custom
//! domains and the domain → workspace mapping.

use std::sync::Arc;
use std::time::Duration;

use custom_domains::adapters::acm::Certificates;
use custom_domains::adapters::apigateway::ApiDomains;
use custom_domains::domain::{DomainName, Edge};
use custom_domains::App;
use serde_json::Value;

use crate::support::*;

pub(crate) async fn apigw() -> aws_sdk_apigatewayv2::Client {
    aws_sdk_apigatewayv2::Client::new(&sdk_config(None).await)
}

/// Whether API Gateway has a custom domain named `domain`.
async fn api_domain_exists(domain: &str) -> bool {
    apigw()
        .await
        .get_domain_name()
        .domain_name(domain)
        .send()
        .await
        .is_ok()
}

/// How many API mappings API Gateway holds for a custom domain.
pub(crate) async fn api_mappings(domain: &str) -> usize {
    let out = apigw()
        .await
        .get_api_mappings()
        .domain_name(domain)
        .send()
        .await
        .unwrap();
    out.items().len()
}

/// Publishes the validation CNAMEs an answer (the request's or the status
/// route's) shows, as the tenant would at its DNS host; answers whether it
/// showed any.
pub(crate) async fn publish_cnames(answer: &Value) -> bool {
    let records = answer["validation_records"]
        .as_array()
        .into_iter()
        .flatten();
    let mut published = false;
    for r in records.filter(|r| r["type"] == "CNAME") {
        set_cname(r["name"].as_str().unwrap(), r["value"].as_str().unwrap()).await;
        published = true;
    }
    published
}

/// Polls the status route until it leaves PENDING, the validation CNAMEs
/// it shows published first, as a tenant does: ACM issues once its CNAME
/// answers (the local server's rule), and moto after
/// MOTO_ACM_VALIDATION_WAIT seconds. Answers every answer seen.
async fn poll_past_pending(token: &str, url: &str) -> Vec<(u16, Value)> {
    let mut seen = Vec::new();
    let mut published = false;
    for _ in 0..120 {
        let answer = get(token, url).await;
        let pending = answer.0 == 200 && answer.1["status"] == "PENDING";
        if pending && !published {
            published = publish_cnames(&answer.1).await;
        }
        seen.push(answer);
        if !pending {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("still PENDING after 30 s: {:?}", seen.last());
}

/// As [`poll_past_pending`], then on through `CONFIGURING` (API Gateway's
/// paced domain creation, shared by every test's setup, or another poll
/// holding the hostname), as a client polls until the setup is done.
/// Answers every answer seen.
pub(crate) async fn poll_status(token: &str, url: &str) -> Vec<(u16, Value)> {
    let mut seen = poll_past_pending(token, url).await;
    for _ in 0..120 {
        match seen.last() {
            Some((200, last)) if last["status"] == "CONFIGURING" => {}
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        seen.push(get(token, url).await);
    }
    seen
}

async fn request(t: &Tenant) -> Value {
    let (status, answer) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test]
async fn acm_path_requests_validates_and_configures() {
    let t = tenant().start().await;
    let first = request(&t).await;
    assert_eq!(first["status"], "PENDING_VALIDATION");
    assert_eq!(first["domain"], t.domain.as_str());
    assert_eq!(first["workspace_id"], t.org.as_str());
    let records = first["validation_records"].as_array().unwrap();
    assert!(!records.is_empty(), "{first}");
    for r in records {
        assert_eq!(r["type"], "CNAME");
        assert!(r["name"].as_str().unwrap().ends_with(&t.domain), "{r}");
        assert!(!r["value"].as_str().unwrap().is_empty());
    }
    assert!(first["message"]
        .as_str()
        .unwrap()
        .contains(records[0]["name"].as_str().unwrap()));
    let id = first["request_id"].as_str().unwrap().to_owned();

    // A repeat request answers the same request.
    let again = request(&t).await;
    assert_eq!(again["request_id"], id.as_str());
    assert_eq!(again["validation_records"], first["validation_records"]);

    let seen = poll_status(&t.token, &t.status_url(&id)).await;
    let (status, done) = seen.last().unwrap().clone();
    assert_eq!(status, 200, "{done}");
    if seen.len() > 1 {
        let pending = &seen[0].1;
        assert_eq!(pending["certificate_status"], "PENDING_VALIDATION");
        assert!(
            pending["message"].as_str().unwrap().contains("CNAME"),
            "{pending}"
        );
    }
    assert_eq!(done["status"], "CONFIGURED", "{done}");
    assert_eq!(done["certificate_status"], "ISSUED");
    let target = done["api_gateway_domain"].as_str().unwrap().to_owned();
    assert!(!target.is_empty());
    assert!(done["message"].as_str().unwrap().contains(&target));

    // Read back what was made.
    let arn = t
        .app
        .store
        .load_acm_request(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .unwrap()
        .certificate_arn;
    let acm = aws_sdk_acm::Client::new(&sdk_config(None).await);
    assert_acm_certificate(&acm, &arn, &t.domain).await;
    let api = apigw().await;
    let domain = api
        .get_domain_name()
        .domain_name(&t.domain)
        .send()
        .await
        .unwrap();
    let config = &domain.domain_name_configurations()[0];
    assert_eq!(config.certificate_arn(), Some(arn.as_str()));
    assert_eq!(config.endpoint_type().map(|e| e.as_str()), Some("REGIONAL"));
    assert_eq!(
        config.security_policy().map(|p| p.as_str()),
        Some("TLS_1_2")
    );
    assert_eq!(config.api_gateway_domain_name(), Some(target.as_str()));
    let mappings = api
        .get_api_mappings()
        .domain_name(&t.domain)
        .send()
        .await
        .unwrap();
    assert_eq!(mappings.items().len(), 1);
    assert_eq!(
        mappings.items()[0].api_id(),
        Some(stack().var("API_GATEWAY_ID").as_str())
    );
    assert_eq!(mappings.items()[0].stage(), Some("$default"));
    let mapping = t
        .app
        .store
        .mapping_for(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mapping.tenant_id.as_str(), t.org);
    assert_eq!(mapping.edge, Edge::ApiGateway);
    assert_eq!(mapping.target, target);

    // Polling again, or requesting again, creates nothing more.
    let (status, repeat) = get(&t.token, &t.status_url(&id)).await;
    assert_eq!(
        (status, repeat["status"].as_str()),
        (200, Some("CONFIGURED"))
    );
    let again = request(&t).await;
    assert_eq!(
        (again["request_id"].as_str(), again["status"].as_str()),
        (Some(id.as_str()), Some("CONFIGURED"))
    );
    assert_eq!(api_mappings(&t.domain).await, 1);
    let certs = acm.list_certificates().send().await.unwrap();
    let ours = certs
        .certificate_summary_list()
        .iter()
        .filter(|c| c.domain_name() == Some(t.domain.as_str()))
        .count();
    assert_eq!(ours, 1);
}

/// The setup calls reach AWS but their answers are lost (a crash right
/// after each call): later polls find what was made and make nothing twice.
#[tokio::test]
async fn acm_path_resumes_after_lost_answers_without_duplicates() {
    let proxy = FaultProxy::start_n(
        |req| req.method == hyper::Method::POST && req.uri.path().starts_with("/v2/domainnames"),
        Fault::ForwardThenFail { status: 400 },
        2,
    )
    .await;
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let t = tenant()
        .customise(move |app| {
            app.api_domains = ApiDomains::new(aws_sdk_apigatewayv2::Client::new(&via_proxy))
        })
        .start()
        .await;
    let id = request(&t).await["request_id"].as_str().unwrap().to_owned();
    let mut failures = 0;
    let done = loop {
        let seen = poll_past_pending(&t.token, &t.status_url(&id)).await;
        let (status, answer) = seen.last().unwrap().clone();
        if status == 502 {
            assert_eq!(answer["code"], "upstream_unavailable");
            failures += 1;
            assert!(failures <= 2, "{answer}");
            continue;
        }
        // Another poll's setup still holds the hostname (a failed call's
        // lease not yet given back, under load): asked again, as a client
        // polls until CONFIGURED.
        if status == 200 && answer["status"] == "CONFIGURING" {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        break answer;
    };
    assert_eq!(
        failures, 2,
        "both the domain and the mapping answer were lost once"
    );
    assert_eq!(proxy.matched(), 2, "neither was created a second time");
    assert_eq!(done["status"], "CONFIGURED", "{done}");
    assert_eq!(api_mappings(&t.domain).await, 1);
    assert!(t
        .app
        .store
        .mapping_for(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn acm_failure_is_reported_with_its_reason() {
    let t = tenant().start().await;
    let id = request(&t).await["request_id"].as_str().unwrap().to_owned();
    // ACM in moto never fails a certificate: a proxy answers DescribeCertificate
    // as ACM does for a name whose CAA records forbid Amazon.
    let proxy = FaultProxy::start_n(
        |req| req.headers.get("x-amz-target").is_some_and(|t| t == "CertificateManager.DescribeCertificate"),
        Fault::Answer {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"Certificate":{"Status":"FAILED","FailureReason":"CAA_ERROR","DomainValidationOptions":[]}}"#,
        },
        u32::MAX,
    )
    .await;
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let mut app = App::new(config(&[]), &sdk_config(None).await).unwrap();
    app.regional_certificates = Certificates::new(
        aws_sdk_acm::Client::new(&via_proxy),
        app.config.stack_name.clone(),
    );
    let base = serve(Arc::new(app)).await;
    let url = format!("{base}/domains/status/{id}?domain={}", t.domain);
    let (status, answer) = get(&t.token, &url).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "FAILED");
    assert_eq!(answer["failure_reason"], "CAA_ERROR");
    assert!(answer["message"].as_str().unwrap().contains("CAA_ERROR"));
    // The failure is recorded: the healthy instance reports it too.
    let (_, again) = get(&t.token, &t.status_url(&id)).await;
    assert_eq!(again["status"], "FAILED");
    let failed_arn = t
        .app
        .store
        .load_acm_request(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .unwrap()
        .certificate_arn;
    // A new request replaces the failed one, and leaves nothing of it:
    // neither its certificate in ACM nor its request ID.
    let retry = request(&t).await;
    assert_ne!(retry["request_id"], id.as_str());
    assert_eq!(retry["status"], "PENDING_VALIDATION");
    let sdk = sdk_config(None).await;
    assert!(aws_sdk_acm::Client::new(&sdk)
        .describe_certificate()
        .certificate_arn(&failed_arn)
        .send()
        .await
        .is_err());
    let (status, _) = get(&t.token, &t.status_url(&id)).await;
    assert_eq!(status, 404, "the failed request's ID still answers");
}

#[tokio::test]
async fn acm_path_conflicts_and_unknown_requests() {
    let t = tenant().start().await;
    let id = request(&t).await["request_id"].as_str().unwrap().to_owned();

    // Another workspace cannot request the hostname, on this path or the ACME one.
    let other_workspace = unique("ws-");
    let other =
        serde_json::json!({ "domain": t.domain, "workspace_id": other_workspace }).to_string();
    let (status, err) = post(&token_for(&other_workspace), &t.request_url(), &other).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("domain_taken")),
        "{err}"
    );
    let other_org = unique("org-");
    let start = format!("{}/api/domain/start-certificate/{other_org}", t.base);
    let (status, _) = post(&token_for(&other_org), &start, &t.body()).await;
    assert_eq!(status, 409);

    // Unknown IDs and mismatched domains are 404; a missing domain is 400.
    let (status, err) = get(&t.token, &t.status_url("0123456789abcdef0123456789abcdef")).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
    let (status, _) = get(
        &t.token,
        &format!("{}/domains/status/{id}?domain=other.example.com", t.base),
    )
    .await;
    assert_eq!(status, 404);
    let (status, err) = get(&t.token, &format!("{}/domains/status/{id}", t.base)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("missing_parameter"))
    );
    let (status, err) = get(
        &t.token,
        &format!("{}/domains/status/{id}?domain=not_a_host", t.base),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("invalid_domain"))
    );

    // Bad bodies.
    let ws = &t.org;
    for (body, code) in [
        ("{\"domain\": \"x.example.com\"}".to_owned(), "invalid_json"),
        (format!("{{\"workspace_id\": \"{ws}\"}}"), "invalid_json"),
        (
            "{\"domain\": \"x.example.com\", \"workspace_id\": \"a b\"}".to_owned(),
            "invalid_tenant",
        ),
        (
            format!("{{\"domain\": \"1.2.3.4\", \"workspace_id\": \"{ws}\"}}"),
            "invalid_domain",
        ),
    ] {
        let (status, err) = post(&t.token, &t.request_url(), &body).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some(code)),
            "{body}: {err}"
        );
    }
}

/// ACM publishes the validation records a moment after the request; the
/// request waits and reads again, so its answer always carries them.
#[tokio::test]
async fn a_request_waits_for_acm_to_publish_the_validation_records() {
    let proxy = FaultProxy::start_n(
        |req| {
            req.headers
                .get("x-amz-target")
                .is_some_and(|t| t == "CertificateManager.DescribeCertificate")
        },
        Fault::Answer {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"Certificate":{"Status":"PENDING_VALIDATION","DomainValidationOptions":[{"DomainName":"x","ValidationStatus":"PENDING_VALIDATION"}]}}"#,
        },
        2,
    )
    .await;
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let t = tenant()
        .customise(move |app| {
            app.regional_certificates = Certificates::new(
                aws_sdk_acm::Client::new(&via_proxy),
                app.config.stack_name.clone(),
            );
        })
        .start()
        .await;
    let answer = request(&t).await;
    assert_eq!(
        proxy.matched(),
        3,
        "two answers without records, then the real one"
    );
    assert_eq!(
        answer["validation_records"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );
}

#[tokio::test]
async fn a_name_longer_than_acm_takes_is_refused_before_anything_is_claimed() {
    let t = tenant().start().await;
    // 70 characters: a valid hostname, too long for an ACM certificate's
    // common name.
    let long = format!("{}.{}.example.com", "a".repeat(40), unique("l"));
    let long = format!("{}{}", "b".repeat(70usize.saturating_sub(long.len())), long);
    assert!(long.len() > 64, "{long}");
    let body = serde_json::json!({ "domain": long, "workspace_id": t.org }).to_string();
    let (status, err) = post(&t.token, &t.request_url(), &body).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "domain_too_long_for_acm");
    let name = custom_domains::domain::DomainName::parse(&long).unwrap();
    assert!(t.app.store.owner_of(&name).await.unwrap().is_none());
}

/// ACM's certificate quota is used up: `409 quota_exhausted` naming the
/// quota, nothing requested. The SDK takes `LimitExceededException` for
/// throttling and would try again; the product's ACM client does not (only
/// the first request is refused here: a second would pass, and the test
/// would fail).
#[tokio::test]
async fn an_exhausted_acm_quota_is_its_own_refusal() {
    let proxy = FaultProxy::start_n(
        |req| {
            req.headers
                .get("x-amz-target")
                .is_some_and(|t| t == "CertificateManager.RequestCertificate")
        },
        Fault::Answer {
            status: 400,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"__type":"LimitExceededException","message":"the account's certificate quota is used up"}"#,
        },
        1,
    )
    .await;
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let t = tenant()
        .customise(move |app| {
            app.regional_certificates = Certificates::new(
                custom_domains::adapters::acm::client(&via_proxy, None),
                app.config.stack_name.clone(),
            );
        })
        .start()
        .await;
    let (status, err) = post(&t.token, &t.request_url(), &t.request_body()).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "quota_exhausted");
    assert_eq!(err["details"]["quota"], "ACM certificates");
    assert!(t
        .app
        .store
        .load_acm_request(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .is_none());
}

/// ACM's validation CNAME is the same for every certificate of a name in
/// one account, so the record a previous owner left in DNS would validate a
/// new claimant's certificate: the new claimant must publish a record of its
/// own before anything is configured. Here the previous claim ended over 30
/// days ago; the record answering before it was shown is the reason.
#[tokio::test]
async fn a_new_claimant_is_not_configured_on_a_previous_owners_acm_record() {
    // A requests, publishes ACM's CNAME, is configured, then releases; the
    // CNAME stays in DNS (tenants rarely clean up).
    let a = tenant().start().await;
    let first = request(&a).await;
    let record = &first["validation_records"][0];
    let (cname, target) = (
        record["name"].as_str().unwrap().to_owned(),
        record["value"].as_str().unwrap().to_owned(),
    );
    set_cname(&cname, &target).await;
    let seen = poll_status(
        &a.token,
        &a.status_url(first["request_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        seen.last().unwrap().1["status"],
        "CONFIGURED",
        "{:?}",
        seen.last()
    );
    let (status, released) = delete(&a.token, &a.release_url(&a.domain)).await;
    assert_eq!(status, 200, "{released}");
    crate::claims::age_previous_claim(&a, &a.domain, 31).await;

    // B claims the name: the same CNAME is asked for, and is already there,
    // so B is also asked for its own TXT record.
    let mut b = tenant().start().await;
    b.domain = a.domain.clone();
    let requested = request(&b).await;
    let records = requested["validation_records"].as_array().unwrap();
    assert_eq!(records[0]["name"], cname.as_str());
    assert_eq!(
        requested["claim_record"]["reason"], "record_already_answers",
        "{requested}"
    );
    let ownership = records
        .iter()
        .find(|r| r["type"] == "TXT")
        .unwrap_or_else(|| panic!("no ownership record asked for: {requested}"));
    assert_eq!(
        ownership["name"],
        format!("_custom-domains-claim.{}", b.domain)
    );
    // ACM issues on the old CNAME, but nothing is configured for B.
    let url = b.status_url(requested["request_id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, pending) = get(&b.token, &url).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["certificate_status"], "ISSUED", "{pending}");
    assert_eq!(pending["status"], "PENDING", "{pending}");
    assert!(
        pending["message"]
            .as_str()
            .unwrap()
            .contains("_custom-domains-claim"),
        "{pending}"
    );
    let name = DomainName::parse(&b.domain).unwrap();
    assert!(b.app.store.mapping_for(&name).await.unwrap().is_none());
    assert_eq!(api_mappings(&b.domain).await, 0);

    // B publishes its record: configured.
    set_txt(
        ownership["name"].as_str().unwrap(),
        ownership["value"].as_str().unwrap(),
    )
    .await;
    let seen = poll_status(&b.token, &url).await;
    let (status, configured) = seen.last().unwrap().clone();
    assert_eq!(status, 200, "{configured}");
    assert_eq!(configured["status"], "CONFIGURED", "{configured}");
    assert!(configured["validation_records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["type"] == "CNAME"));
    clear_cname(&cname).await;
}

/// ACM's view of the certificate `arn` through the local server's rules
/// (as the product reads it), and moto's own, without them: each
/// `(Status, [ValidationStatus])`.
async fn acm_and_moto_status(arn: &str) -> ((String, Vec<String>), (String, Vec<String>)) {
    let s = stack();
    let moto_alone = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(s.var("AWS_REGION")))
        .endpoint_url(s.var("AWS_ENDPOINT_URL"))
        .credentials_provider(aws_sdk_acm::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let mut both = Vec::new();
    for sdk in [sdk_config(None).await, moto_alone] {
        let described = aws_sdk_acm::Client::new(&sdk)
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .unwrap();
        let c = described.certificate().unwrap();
        both.push((
            c.status().unwrap().as_str().to_owned(),
            c.domain_validation_options()
                .iter()
                .map(|o| o.validation_status().unwrap().as_str().to_owned())
                .collect(),
        ));
    }
    let moto = both.pop().unwrap();
    (both.pop().unwrap(), moto)
}

/// Longer than moto takes to issue a requested certificate
/// (`MOTO_ACM_VALIDATION_WAIT`, 2 s under `make test`).
const MOTO_ISSUES_BY: Duration = Duration::from_secs(3);

/// ACM issues only once it sees its validation CNAME in DNS (the local
/// server's rule in front of moto, which issues after a wait whatever DNS
/// holds): until then the request stays pending and nothing is made in API
/// Gateway; a CNAME with another value does not count; once published the
/// request is configured, and the certificate stays issued when the
/// record later goes.
#[tokio::test]
async fn an_acm_request_stays_pending_until_its_validation_cname_is_published() {
    let t = tenant().start().await;
    let first = request(&t).await;
    let id = first["request_id"].as_str().unwrap().to_owned();
    let record = &first["validation_records"][0];
    let (name, value) = (
        record["name"].as_str().unwrap().to_owned(),
        record["value"].as_str().unwrap().to_owned(),
    );
    // ACM's shape: `_<32 hex>.<name>` → `_<32 hex>.<label>.acm-validations.aws`.
    let label = name.strip_suffix(&format!(".{}", t.domain)).unwrap();
    assert!(label.starts_with('_') && label.len() == 33, "{name}");
    assert!(
        value.starts_with('_') && value.ends_with(".acm-validations.aws"),
        "{value}"
    );
    let arn = t
        .app
        .store
        .load_acm_request(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .unwrap()
        .certificate_arn;

    // moto has issued; ACM has not: its record is not in DNS.
    tokio::time::sleep(MOTO_ISSUES_BY).await;
    let not_configured = |answer: &Value| {
        assert_eq!(answer["status"], "PENDING", "{answer}");
        assert_eq!(
            answer["certificate_status"], "PENDING_VALIDATION",
            "{answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains(&name),
            "{answer}"
        );
    };
    let (status, pending) = get(&t.token, &t.status_url(&id)).await;
    assert_eq!(status, 200, "{pending}");
    not_configured(&pending);
    let (acm, moto) = acm_and_moto_status(&arn).await;
    assert_eq!(moto.0, "ISSUED", "moto alone would have issued");
    assert_eq!(
        acm,
        (
            "PENDING_VALIDATION".to_owned(),
            vec!["PENDING_VALIDATION".to_owned()]
        )
    );
    assert!(!api_domain_exists(&t.domain).await);

    // A CNAME pointing elsewhere is not ACM's record.
    set_cname(&name, &format!("_elsewhere.{}", t.domain)).await;
    let (_, pending) = get(&t.token, &t.status_url(&id)).await;
    not_configured(&pending);

    set_cname(&name, &value).await;
    let seen = poll_status(&t.token, &t.status_url(&id)).await;
    let (status, done) = seen.last().unwrap().clone();
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "CONFIGURED", "{done}");
    assert_eq!(done["certificate_status"], "ISSUED", "{done}");
    assert_eq!(api_mappings(&t.domain).await, 1);

    // Issued stays issued.
    clear_cname(&name).await;
    let (acm, _) = acm_and_moto_status(&arn).await;
    assert_eq!(acm, ("ISSUED".to_owned(), vec!["SUCCESS".to_owned()]));
}

/// A's claim ends (released) with A's ACM CNAME left in DNS; ACM's CNAME
/// being the same for B's certificate, ACM issues B's at once. B had
/// another tenant claim the name within 30 days: its request asks for B's
/// claim record, and nothing is configured until that record answers.
#[tokio::test]
async fn a_recent_claimants_acm_cname_does_not_configure_the_next_claimant() {
    let a = tenant().start().await;
    let a_requested = request(&a).await;
    assert!(publish_cnames(&a_requested).await, "{a_requested}");
    let (status, released) = delete(&a.token, &a.release_url(&a.domain)).await;
    assert_eq!(status, 200, "{released}");

    let mut b = tenant().start().await;
    b.domain = a.domain.clone();
    let requested = request(&b).await;
    assert_eq!(
        requested["validation_records"][0], a_requested["validation_records"][0],
        "ACM's record is the same for every certificate of the name"
    );
    let claim = &requested["claim_record"];
    assert_eq!(claim["reason"], "recent_claimant", "{requested}");
    assert_eq!(claim["type"], "TXT");
    assert_eq!(claim["domain"], b.domain.as_str());
    let (claim_name, claim_value) = (
        claim["name"].as_str().unwrap().to_owned(),
        claim["value"].as_str().unwrap().to_owned(),
    );
    assert_eq!(claim_name, format!("_custom-domains-claim.{}", b.domain));
    assert!(
        requested["validation_records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == claim_name.as_str() && r["value"] == claim_value.as_str()),
        "{requested}"
    );
    assert!(
        requested["message"].as_str().unwrap().contains(&claim_name),
        "{requested}"
    );

    // ACM issues B's certificate on A's CNAME; B is not configured.
    tokio::time::sleep(MOTO_ISSUES_BY).await;
    let url = b.status_url(requested["request_id"].as_str().unwrap());
    let (status, pending) = get(&b.token, &url).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["certificate_status"], "ISSUED", "{pending}");
    assert_eq!(pending["status"], "PENDING", "{pending}");
    assert_eq!(
        pending["claim_record"]["reason"], "recent_claimant",
        "{pending}"
    );
    let name = DomainName::parse(&b.domain).unwrap();
    assert!(b.app.store.mapping_for(&name).await.unwrap().is_none());
    assert!(!api_domain_exists(&b.domain).await);
    let (status, listed) = get(&b.token, &format!("{}/domains", b.base)).await;
    assert_eq!(status, 200, "{listed}");
    let next = &listed["domains"][0]["next_action"];
    assert!(
        next["message"].as_str().unwrap().contains(&claim_name),
        "{listed}"
    );

    // B publishes its claim record: configured.
    set_txt(&claim_name, &claim_value).await;
    let seen = poll_status(&b.token, &url).await;
    let (status, configured) = seen.last().unwrap().clone();
    assert_eq!(status, 200, "{configured}");
    assert_eq!(configured["status"], "CONFIGURED", "{configured}");
    assert!(configured.get("claim_record").is_none(), "{configured}");
    clear_txt(&claim_name).await;
    clear_cname(
        a_requested["validation_records"][0]["name"]
            .as_str()
            .unwrap(),
    )
    .await;
}

/// A cleans up its ACM CNAME when it releases the name, so B's request
/// finds nothing in DNS; then A's CNAME comes back (A's DNS automation
/// puts it back). ACM issues B's certificate on it: B, a claimant within
/// 30 days of A, is still not configured until its own claim record
/// answers.
#[tokio::test]
async fn a_recent_claimants_acm_cname_put_back_later_does_not_configure_the_next_claimant() {
    let a = tenant().start().await;
    let a_requested = request(&a).await;
    assert!(publish_cnames(&a_requested).await, "{a_requested}");
    let cname = a_requested["validation_records"][0].clone();
    let (status, released) = delete(&a.token, &a.release_url(&a.domain)).await;
    assert_eq!(status, 200, "{released}");
    clear_cname(cname["name"].as_str().unwrap()).await;

    let mut b = tenant().start().await;
    b.domain = a.domain.clone();
    let requested = request(&b).await;
    assert_eq!(
        requested["claim_record"]["reason"], "recent_claimant",
        "{requested}"
    );
    set_cname(
        cname["name"].as_str().unwrap(),
        cname["value"].as_str().unwrap(),
    )
    .await;
    tokio::time::sleep(MOTO_ISSUES_BY).await;
    let url = b.status_url(requested["request_id"].as_str().unwrap());
    let (status, pending) = get(&b.token, &url).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["certificate_status"], "ISSUED", "{pending}");
    assert_eq!(pending["status"], "PENDING", "{pending}");
    assert!(!api_domain_exists(&b.domain).await);
    clear_cname(cname["name"].as_str().unwrap()).await;
}

/// A request-domain whose ACM certificate is issued, with API Gateway
/// reached through `proxy`: answers the tenant and the request's ID.
async fn issued_through(proxy: &FaultProxy) -> (Tenant, String) {
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let t = tenant()
        .customise(move |app| {
            app.api_domains =
                ApiDomains::new(custom_domains::adapters::apigateway::client(&via_proxy))
        })
        .start()
        .await;
    let id = request(&t).await["request_id"].as_str().unwrap().to_owned();
    (t, id)
}

fn is_create_domain(req: &hyper::http::request::Parts) -> bool {
    req.method == hyper::Method::POST && req.uri.path() == "/v2/domainnames"
}

/// API Gateway answering the first `times` CreateDomainName requests with
/// `status` and `body` (REST-JSON: the error type in `__type`).
async fn creating_domains_answers(status: u16, body: &'static str, times: u32) -> FaultProxy {
    FaultProxy::start_n(
        is_create_domain,
        Fault::Answer {
            status,
            content_type: "application/json",
            body,
        },
        times,
    )
    .await
}

/// API Gateway takes one CreateDomainName per 30 s per account
/// (`TooManyRequestsException`). Refused past the SDK's own three
/// attempts, the poll answers CONFIGURING with the issued certificate kept
/// (never a 5xx), and a later poll creates the domain.
#[tokio::test]
async fn a_paced_domain_creation_is_made_by_a_later_poll() {
    // More refusals than one poll's SDK attempts.
    const PACED: u32 = 5;
    let proxy = creating_domains_answers(
        429,
        r#"{"__type":"TooManyRequestsException","message":"Too Many Requests"}"#,
        PACED,
    )
    .await;
    let (t, id) = issued_through(&proxy).await;
    let seen = poll_past_pending(&t.token, &t.status_url(&id)).await;
    let (status, paced) = seen.last().unwrap().clone();
    assert_eq!(status, 200, "{paced}");
    assert_eq!(paced["status"], "CONFIGURING", "{paced}");
    let mut polls = 0;
    let done = loop {
        let (status, answer) = get(&t.token, &t.status_url(&id)).await;
        assert_eq!(status, 200, "never a 5xx for a paced request: {answer}");
        if answer["status"] == "CONFIGURED" {
            break answer;
        }
        assert_eq!(answer["status"], "CONFIGURING", "{answer}");
        polls += 1;
        assert!(polls < 20, "never configured: {answer}");
    };
    assert!(proxy.matched() > PACED, "created after the paced attempts");
    assert_eq!(done["workspace_id"], t.org.as_str(), "{done}");
    assert_eq!(api_mappings(&t.domain).await, 1);
}

/// API Gateway's custom domain quota (120 per Region) reached:
/// `409 quota_exhausted` naming it, the certificate kept, and the
/// hostname can be released.
#[tokio::test]
async fn an_exhausted_api_gateway_domain_quota_is_named_and_releasable() {
    let proxy = creating_domains_answers(
        429,
        r#"{"__type":"TooManyRequestsException","message":"Maximum number of custom domain names reached","limitType":"DomainNames"}"#,
        1000,
    )
    .await;
    let (t, id) = issued_through(&proxy).await;
    let seen = poll_status(&t.token, &t.status_url(&id)).await;
    let (status, refused) = seen.last().unwrap().clone();
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "quota_exhausted", "{refused}");
    assert_eq!(
        refused["details"]["quota"],
        "Custom domains per account per Region"
    );
    assert_eq!(proxy.matched(), 1, "a quota is not retried");
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
}

/// A name API Gateway holds for another account or API
/// (`ConflictException`, and no custom domain of ours to be found): a code
/// of its own, not a 502 that repeating never passes.
#[tokio::test]
async fn a_domain_name_held_elsewhere_in_api_gateway_is_its_own_refusal() {
    let proxy = creating_domains_answers(
        409,
        r#"{"__type":"ConflictException","message":"The domain name you provided already exists."}"#,
        1000,
    )
    .await;
    let (t, id) = issued_through(&proxy).await;
    let seen = poll_status(&t.token, &t.status_url(&id)).await;
    let (status, refused) = seen.last().unwrap().clone();
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "api_domain_exists", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("another AWS account"),
        "{refused}"
    );
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
}

/// API Gateway takes one DeleteDomainName per 30 s per account: a release
/// refused for it past the SDK's attempts answers 202 with the detach
/// still to do, and the next call deletes the domain.
#[tokio::test]
async fn a_paced_domain_deletion_is_made_by_the_next_release_call() {
    let proxy = FaultProxy::start_n(
        |req| {
            req.method == hyper::Method::DELETE
                && req.uri.path().starts_with("/v2/domainnames/")
                && !req.uri.path().contains("/apimappings")
        },
        Fault::Answer {
            status: 429,
            content_type: "application/json",
            body: r#"{"__type":"TooManyRequestsException","message":"Too Many Requests"}"#,
        },
        5,
    )
    .await;
    let (t, id) = issued_through(&proxy).await;
    let seen = poll_status(&t.token, &t.status_url(&id)).await;
    assert_eq!(seen.last().unwrap().1["status"], "CONFIGURED");
    let (status, first) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["remaining"][0], "detached", "{first}");
    let released = t.release_until_done().await;
    assert_eq!(released["status"], "released", "{released}");
    assert!(proxy.matched() > 5, "deleted after the paced attempts");
    assert!(apigw()
        .await
        .get_domain_name()
        .domain_name(&t.domain)
        .send()
        .await
        .is_err());
}

/// Whether the racing poll's CreateDomainName is kept in flight (see the
/// test below).
static HOLDING_CREATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// A status poll creating the API Gateway domain while the owner releases
/// the name: the release waits for the poll (one lease for both), then
/// removes what it made; the name ends released, with no domain left.
#[tokio::test]
async fn a_status_poll_racing_a_release_ends_released() {
    use std::sync::atomic::Ordering;
    let proxy = FaultProxy::start(
        |req| req.method == hyper::Method::POST && req.uri.path() == "/v2/domainnames",
        Fault::HoldWhile {
            held: || HOLDING_CREATE.load(Ordering::SeqCst),
        },
    )
    .await;
    let t = tenant().start().await;
    let requested = request(&t).await;
    let id = requested["request_id"].as_str().unwrap().to_owned();
    // ACM issues once its validation CNAME answers.
    if !publish_cnames(&requested).await {
        let (_, seen) = get(&t.token, &t.status_url(&id)).await;
        assert!(publish_cnames(&seen).await, "no validation record: {seen}");
    }
    // The poller: the same deployment, its CreateDomainName through the
    // proxy that holds it.
    let via_proxy = sdk_config(Some(&proxy.url)).await;
    let mut poller =
        custom_domains::App::new(t.app.config.clone(), &sdk_config(None).await).unwrap();
    poller.api_domains = ApiDomains::new(aws_sdk_apigatewayv2::Client::new(&via_proxy));
    let poller = serve(std::sync::Arc::new(poller)).await;
    let status_url = t.status_url(&id).replace(&t.base, &poller);
    let token = t.token.clone();
    let polling = tokio::spawn(async move {
        for _ in 0..200 {
            let (status, answer) = get(&token, &status_url).await;
            if status != 200 || answer["status"] == "CONFIGURED" {
                return (status, answer);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the poll never ended");
    });
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while proxy.matched() == 0 {
        assert!(
            std::time::Instant::now() < until,
            "the poll never created the domain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The poll's CreateDomainName is under way: the release is asked now.
    let (status, first) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert!(status == 200 || status == 202, "{first}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let first_status = |s: u16| if s == 200 { 404 } else { s };
    HOLDING_CREATE.store(false, Ordering::SeqCst);
    let _ = polling.await.unwrap();
    // Repeated until done (202 while it waits): released, or found
    // released already.
    let mut last = (first_status(status), first);
    for _ in 0..100 {
        if last.0 != 202 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        last = delete(&t.token, &t.release_url(&t.domain)).await;
    }
    assert!(last.0 == 200 || last.0 == 404, "{last:?}");
    let (status, _) = delete(&t.token, &t.release_url(&t.domain)).await;
    assert_eq!(status, 404, "the release did not end");
    assert!(
        apigw()
            .await
            .get_domain_name()
            .domain_name(&t.domain)
            .send()
            .await
            .is_err(),
        "the poll's API Gateway domain outlived the release"
    );
    let name = custom_domains::domain::DomainName::parse(&t.domain).unwrap();
    let records = t.app.store.load_hostname(&name).await.unwrap();
    assert!(
        records.owner.is_none() && records.acm_request.is_none() && records.mapping.is_none(),
        "{records:?}"
    );
}
