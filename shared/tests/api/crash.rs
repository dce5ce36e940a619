//! Crash at every step. The local server runs as a separate process behind
//! a proxy in front of the CA and one in front of AWS. For each request of
//! the ACME path that changes something (the CA's order, challenge and
//! finalisation; every DynamoDB write; the ACM import; the CloudFront
//! change), a run kills the server with SIGKILL right after the upstream
//! answered that request and before the answer reaches the server: after
//! each outside side effect and before its save, and after each save
//! before the next step. The server is started again and the tenant's
//! call repeated until the hostname is served. Every run must end served,
//! with one certificate in ACM, the hostname on its distribution with that
//! certificate, one CA order (two when the kill came right after the CA
//! created the order, whose answer then never arrived: see below), and no
//! order left in flight. The ACM path's setup is killed the same way,
//! after each of its requests that change something: every run ends
//! configured with one certificate, one custom domain and one API mapping.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};

use custom_domains::domain::{DomainName, TenantId};

use crate::support::acme_proxy::AcmeProxy;
use crate::support::tripwire::Tripwire;
use crate::support::*;

/// The local server's binary (`make test` builds it before the suite).
fn server_binary() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let binary = target.join("debug/local-server");
    assert!(
        binary.exists(),
        "{} is missing: `cargo build -p local-server` first (make test does)",
        binary.display()
    );
    binary
}

/// The local server as a child process, pointed at the proxies.
struct Server {
    tripwire: Arc<Tripwire>,
    env: Vec<(String, String)>,
    base: String,
    starts: usize,
}

impl Server {
    async fn new(tripwire: Arc<Tripwire>, aws: &str, acme: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/test/env");
        let mut env: Vec<(String, String)> = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        env.extend(
            [
                ("AWS_ENDPOINT_URL", aws),
                ("AWS_ENDPOINT_URL_CLOUDFRONT", aws),
                ("ACME_DIRECTORY_URL", acme),
                ("LOCAL_ADDR", &format!("127.0.0.1:{port}")),
                ("LOCAL_SWEEP_INTERVAL_MS", "0"),
                // A killed call's lease blocks the next one for a second,
                // not for the production grace.
                ("COMPLETE_TIME_BUDGET_MS", "1000"),
                ("LEASE_GRACE_MS", "0"),
                ("RUST_LOG", "warn"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let mut server = Server {
            tripwire,
            env,
            base: format!("http://127.0.0.1:{port}"),
            starts: 0,
        };
        server.start().await;
        server
    }

    async fn start(&mut self) {
        // The server's own thread stacks, not the test harness's larger
        // ones (`.cargo/config.toml`): as `make dev` runs it.
        let child = Command::new(server_binary())
            .env_remove("RUST_MIN_STACK")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.tripwire.watch(child);
        self.starts += 1;
        for _ in 0..500 {
            let url = format!("{}/openapi.json", self.base);
            if try_request("GET", &url, "", None, None).await.is_ok() {
                return;
            }
            assert!(
                !self.tripwire.dead(),
                "the local server exited while starting"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the local server did not start");
    }

    /// The tenant's call, repeated (after starting the server again) until
    /// an answer comes back whole.
    async fn call(&mut self, token: &str, path: &str, body: &str) -> (u16, Value) {
        self.call_as("POST", token, path, body).await
    }

    async fn call_as(&mut self, method: &str, token: &str, path: &str, body: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let content_type = (method == "POST").then_some("application/json");
        for _ in 0..20 {
            match try_request(method, &url, body, content_type, Some(token)).await {
                Ok(answer) if answer.0 != 502 || !self.tripwire.dead() => return answer,
                _ => {}
            }
            if self.tripwire.dead() {
                self.start().await;
            }
        }
        panic!("{path} never answered");
    }
}

impl Drop for Server {
    /// A failing run leaves no server behind.
    fn drop(&mut self) {
        self.tripwire.stop();
    }
}

/// The run's requests that changed something and the one the kill
/// followed, with the server stopped.
fn end_run(tripwire: &Tripwire, server: &Server) -> (Vec<String>, Option<String>) {
    let (seen, fired) = (tripwire.seen(), tripwire.fired());
    tripwire.stop();
    assert!(
        fired.is_none() || server.starts > 1,
        "killed, never started again"
    );
    (seen, fired)
}

/// Every kind of request that changes something (its label) was killed
/// after at least once: the runs covered every step.
fn assert_every_step_killed(steps: &[String], killed: &[Option<String>]) {
    println!("killed after each of {} steps: {killed:?}", steps.len());
    let kinds: std::collections::BTreeSet<&String> = steps.iter().collect();
    let hit: std::collections::BTreeSet<&String> = killed.iter().flatten().collect();
    let missed: Vec<&&String> = kinds.difference(&hit).collect();
    assert!(missed.is_empty(), "no run was killed after {missed:?}");
    let kills = killed.iter().flatten().count();
    assert!(
        kills + 2 >= steps.len(),
        "only {kills} of {} runs were killed",
        steps.len()
    );
}

/// One issuance with the server killed after the `at`-th request that
/// changes something (0: never): answers the requests seen, and which one
/// the kill followed.
async fn issue_with_crash(
    at: usize,
    aws: &FaultProxy,
    acme: &AcmeProxy,
    tripwire: &Arc<Tripwire>,
) -> (Vec<String>, Option<String>) {
    let sdk = sdk_config(None).await;
    let org = unique("org-");
    let domain = format!("{}.example.com", unique("crash"));
    let distribution = create_distribution(&sdk, &[]).await;
    let app = custom_domains::App::new(config(&[]), &sdk).unwrap();
    app.store
        .set_org_distribution(&TenantId::parse("org", &org).unwrap(), &distribution)
        .await
        .unwrap();
    let orders_before = acme.new_orders().len();
    tripwire.arm(at);
    let mut server = Server::new(tripwire.clone(), &aws.url, &acme.directory_url()).await;
    let token = token_for(&org);
    let body = json!({ "domain": domain }).to_string();
    let start_path = format!("/api/domain/start-certificate/{org}");
    let (code, start) = server.call(&token, &start_path, &body).await;
    assert_eq!(code, 200, "kill after #{at}: {start}");
    set_txt(
        start["txt_record_name"].as_str().unwrap(),
        start["txt_record_value"].as_str().unwrap(),
    )
    .await;
    let complete_path = format!("/api/domain/complete-certificate/{org}");
    let mut done = None;
    for _ in 0..400 {
        let (code, answer) = server.call(&token, &complete_path, &body).await;
        match code {
            200 => {
                done = Some(answer);
                break;
            }
            202 => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            _ => panic!("kill after #{at} ({:?}): {code} {answer}", tripwire.fired()),
        }
    }
    let (seen, fired) = end_run(tripwire, &server);
    let done = done.unwrap_or_else(|| panic!("kill after #{at} ({fired:?}): never served"));
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    let arn = done["certificate_arn"].as_str().unwrap();

    // Served, nothing left in flight.
    let records = app
        .store
        .load_hostname(&DomainName::parse(&domain).unwrap())
        .await
        .unwrap();
    assert!(
        records.served.is_some() && records.order.is_none(),
        "kill after #{at} ({fired:?})"
    );
    assert!(
        records.mapping.is_some(),
        "kill after #{at} ({fired:?}): no mapping"
    );
    // One certificate in ACM for the name, the one served.
    let listed = acm_us_east_1()
        .await
        .list_certificates()
        .max_items(1000)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .certificate_summary_list()
        .iter()
        .filter(|c| c.domain_name() == Some(domain.as_str()))
        .filter_map(|c| c.certificate_arn())
        .collect();
    assert_eq!(
        arns,
        [arn],
        "kill after #{at} ({fired:?}): ACM holds {arns:?}"
    );
    // The name on its distribution, with that certificate.
    let config = cloudfront_client(&sdk)
        .get_distribution_config()
        .id(&distribution)
        .send()
        .await
        .unwrap()
        .distribution_config
        .unwrap();
    let aliases = config.aliases.and_then(|a| a.items).unwrap_or_default();
    assert_eq!(
        aliases,
        std::slice::from_ref(&domain),
        "kill after #{at} ({fired:?})"
    );
    assert_eq!(
        config
            .viewer_certificate
            .and_then(|v| v.acm_certificate_arn)
            .as_deref(),
        Some(arn),
        "kill after #{at} ({fired:?})"
    );
    // One CA order; two only when the kill took the new order's answer
    // (ACME has no way to find an order whose answer was lost; the one left
    // pending expires unused, and Let's Encrypt answers a repeated order for
    // the same names with the pending one).
    let orders = acme.new_orders().len() - orders_before;
    let lost_order_answer = fired.as_deref() == Some("acme newOrder");
    assert_eq!(
        orders,
        1 + usize::from(lost_order_answer),
        "kill after #{at} ({fired:?}): {orders} CA orders"
    );
    (seen, fired)
}

#[tokio::test]
async fn a_server_killed_after_any_step_of_an_issuance_ends_served_once() {
    let tripwire = Tripwire::new();
    let aws = FaultProxy::tripwired(tripwire.clone()).await;
    let acme = AcmeProxy::start().await;
    acme.set_tripwire(tripwire.clone());
    // The first run registers the account for the proxy's directory; the
    // second, without a kill, lists the requests that change something.
    issue_with_crash(0, &aws, &acme, &tripwire).await;
    let (steps, fired) = issue_with_crash(0, &aws, &acme, &tripwire).await;
    assert_eq!(fired, None);
    tripwire.plan(&steps);
    for expected in [
        "acme newOrder",
        "acme challenge",
        "acme finalize",
        "ImportCertificate",
    ] {
        assert!(
            steps.iter().any(|s| s.ends_with(expected)),
            "{expected} not among {steps:?}"
        );
    }
    let mut killed = Vec::new();
    for at in 1..=steps.len() {
        killed.push(issue_with_crash(at, &aws, &acme, &tripwire).await.1);
    }
    assert_every_step_killed(&steps, &killed);
}

/// The ACM path's setup with the server killed after the `at`-th request
/// that changes something (0: never).
async fn configure_with_crash(
    at: usize,
    aws: &FaultProxy,
    acme: &AcmeProxy,
    tripwire: &Arc<Tripwire>,
) -> (Vec<String>, Option<String>) {
    let workspace = unique("ws-");
    let domain = format!("{}.example.com", unique("crash-acm"));
    tripwire.arm(at);
    let mut server = Server::new(tripwire.clone(), &aws.url, &acme.directory_url()).await;
    let token = token_for(&workspace);
    let body = json!({ "domain": domain, "workspace_id": workspace }).to_string();
    let (code, requested) = server.call(&token, "/domains/request", &body).await;
    assert_eq!(code, 200, "kill after #{at}: {requested}");
    assert!(
        crate::acm_path::publish_cnames(&requested).await,
        "kill after #{at}: no validation record to publish: {requested}"
    );
    let id = requested["request_id"].as_str().unwrap().to_owned();
    let status_path = format!("/domains/status/{id}?domain={domain}");
    let mut done = None;
    for _ in 0..200 {
        let (code, answer) = server.call_as("GET", &token, &status_path, "").await;
        assert_eq!(
            code,
            200,
            "kill after #{at} ({:?}): {answer}",
            tripwire.fired()
        );
        if answer["status"] == "CONFIGURED" {
            done = Some(answer);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (seen, fired) = end_run(tripwire, &server);
    done.unwrap_or_else(|| panic!("kill after #{at} ({fired:?}): never configured"));

    let sdk = sdk_config(None).await;
    let listed = aws_sdk_acm::Client::new(&sdk)
        .list_certificates()
        .max_items(1000)
        .send()
        .await
        .unwrap();
    let certificates = listed
        .certificate_summary_list()
        .iter()
        .filter(|c| c.domain_name() == Some(domain.as_str()))
        .count();
    assert_eq!(
        certificates, 1,
        "kill after #{at} ({fired:?}): {certificates} ACM certificates"
    );
    let custom = crate::acm_path::apigw()
        .await
        .get_domain_name()
        .domain_name(&domain)
        .send()
        .await;
    assert!(
        custom.is_ok(),
        "kill after #{at} ({fired:?}): no custom domain"
    );
    assert_eq!(
        crate::acm_path::api_mappings(&domain).await,
        1,
        "kill after #{at} ({fired:?})"
    );
    let app = custom_domains::App::new(config(&[]), &sdk).unwrap();
    let mapping = app
        .store
        .mapping_for(&DomainName::parse(&domain).unwrap())
        .await
        .unwrap();
    assert!(
        mapping.is_some(),
        "kill after #{at} ({fired:?}): no mapping"
    );
    (seen, fired)
}

#[tokio::test]
async fn a_server_killed_after_any_step_of_the_acm_path_ends_configured_once() {
    let tripwire = Tripwire::new();
    let aws = FaultProxy::tripwired(tripwire.clone()).await;
    let acme = AcmeProxy::start().await;
    let (steps, fired) = configure_with_crash(0, &aws, &acme, &tripwire).await;
    assert_eq!(fired, None);
    assert!(
        steps.iter().any(|s| s.ends_with("RequestCertificate")),
        "{steps:?}"
    );
    let mut killed = Vec::new();
    for at in 1..=steps.len() {
        killed.push(configure_with_crash(at, &aws, &acme, &tripwire).await.1);
    }
    assert_every_step_killed(&steps, &killed);
}
