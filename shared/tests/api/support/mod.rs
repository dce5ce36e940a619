//! Test support: the local stack by URL, the real application served on a
//! random port, and helpers to act as the tenant (publish TXT records) and
//! to read back what the product wrote to AWS.
//!
//! The stack is started by `make test` (`infra/stack.sh up test`); its
//! addresses come from the environment or, failing that, from
//! `.local/test/env`, so `cargo test` works once the stack is up.

#![allow(dead_code, clippy::unwrap_used)]

pub mod acme_proxy;
pub mod aws_calls;
pub mod openapi;
pub mod tripwire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use aws_sdk_cloudfront::types::{
    Aliases, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin,
    OriginProtocolPolicy, Origins, ViewerProtocolPolicy,
};
use custom_domains::config::Config;
use custom_domains::domain::TenantId;
use custom_domains::App;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_server::LocalJwt;
use serde_json::Value;

pub struct Stack {
    vars: HashMap<String, String>,
}

impl Stack {
    pub fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_else(|| {
            panic!(
                "{name} is not set: start the stack with `make test` (or infra/stack.sh up test)"
            )
        })
    }
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Everything the product has logged in this test process so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

struct LogCapture;

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        print!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        // The product's logs (its own at debug): shown with a failing test's
        // output, and kept, so a test can check they hold no secret.
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogCapture)
            .with_ansi(false)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,custom_domains=debug".into()),
            )
            .try_init();
        let mut vars = HashMap::new();
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/test/env");
        if let Ok(text) = std::fs::read_to_string(file) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        for key in ["ACME_DIRECTORY_URL", "AWS_ENDPOINT_URL", "CHALLTESTSRV_URL"] {
            if let Ok(v) = std::env::var(key) {
                vars.insert(key.to_owned(), v);
            }
        }
        assert!(
            vars.contains_key("ACME_DIRECTORY_URL"),
            "the local stack is not running: start it with `make test` (or infra/stack.sh up test)"
        );
        Stack { vars }
    })
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{}x{nanos:x}", N.fetch_add(1, Ordering::Relaxed))
}

pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let s = stack();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(s.var("AWS_REGION")))
        .endpoint_url(
            endpoint
                .map(str::to_owned)
                .unwrap_or_else(|| s.var("AWS_ENDPOINT_URL")),
        )
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        // Attributes every AWS call to the function that made it.
        .http_client(aws_calls::Recording::new())
        .load()
        .await
}

/// A CloudFront client for the stack's CloudFront (ministack), through
/// `sdk`'s HTTP client (so its calls are recorded).
pub fn cloudfront_client(sdk: &aws_config::SdkConfig) -> aws_sdk_cloudfront::Client {
    cloudfront_via(sdk, &stack().var("AWS_ENDPOINT_URL_CLOUDFRONT"))
}

/// A CloudFront client whose requests go to `endpoint` (a fault proxy).
pub fn cloudfront_via(sdk: &aws_config::SdkConfig, endpoint: &str) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build(),
    )
}

pub fn config(overrides: &[(&str, &str)]) -> Config {
    let s = stack();
    let mut vars = s.vars.clone();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

/// One tenant with its own hostname and CloudFront distribution, and the
/// application serving every route on a random local port.
pub struct Tenant {
    pub app: Arc<App>,
    pub base: String,
    pub org: String,
    pub domain: String,
    pub distribution_id: String,
    /// A bearer token naming `org` as the caller's tenant.
    pub token: String,
}

type Customise = Box<dyn FnOnce(&mut App) + Send>;

pub struct TenantBuilder {
    own_table: bool,
    shared_edge: bool,
    overrides: Vec<(String, String)>,
    other_aliases: Vec<String>,
    customise: Option<Customise>,
}

pub fn tenant() -> TenantBuilder {
    TenantBuilder {
        own_table: false,
        shared_edge: false,
        overrides: Vec::new(),
        other_aliases: Vec::new(),
        customise: None,
    }
}

impl TenantBuilder {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.overrides.push((key.into(), value.into()));
        self
    }

    /// A DynamoDB table of the tenant's own (with the template's indexes),
    /// so that a renewal sweep sees this tenant's hostnames only.
    pub fn own_table(mut self) -> Self {
        self.own_table = true;
        self
    }

    /// An organisation without a distribution of its own: its hostnames go
    /// to the shared edge (a distribution tenant each on the multi-tenant
    /// distribution).
    pub fn shared_edge(mut self) -> Self {
        self.shared_edge = true;
        self
    }

    /// ACME through the test proxy in front of Pebble (ARI, CA faults).
    pub fn acme_via(self, proxy: &acme_proxy::AcmeProxy) -> Self {
        self.env("ACME_DIRECTORY_URL", &proxy.directory_url())
    }

    /// Hostnames already on the tenant's distribution.
    pub fn distribution_aliases(mut self, aliases: &[&str]) -> Self {
        self.other_aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Changes the application before it serves (e.g. a faulty client).
    pub fn customise(mut self, f: impl FnOnce(&mut App) + Send + 'static) -> Self {
        self.customise = Some(Box::new(f));
        self
    }

    pub async fn start(self) -> Tenant {
        let org = unique("org-");
        let domain = format!("{}.example.com", unique("shop"));
        let sdk = sdk_config(None).await;
        let distribution_id = create_distribution(&sdk, &self.other_aliases).await;
        let mut owned = self.overrides;
        if self.own_table {
            let table = unique("table-");
            create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
            owned.push(("DYNAMODB_TABLE".into(), table));
        }
        let overrides: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut app = App::new(config(&overrides), &sdk).unwrap();
        if !self.shared_edge {
            app.store
                .set_org_distribution(&TenantId::parse("org", &org).unwrap(), &distribution_id)
                .await
                .unwrap();
        }
        if let Some(f) = self.customise {
            f(&mut app);
        }
        let app = Arc::new(app);
        Tenant {
            base: serve(app.clone()).await,
            app,
            token: token_for(&org),
            org,
            domain,
            distribution_id,
        }
    }
}

/// A distribution's ETag: changes with every write of its configuration.
pub async fn distribution_etag(id: &str) -> String {
    let sdk = sdk_config(None).await;
    cloudfront_client(&sdk)
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap()
}

/// A table shaped as the template's: `pk`/`sk` and its sparse, keys-only
/// indexes.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let index = |name: &str, hash: &str, range: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key(range, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .set_attribute_definitions(Some(
            [
                "pk",
                "sk",
                "due_shard",
                "due_at",
                "owner_tenant",
                "pending_tenant",
                "check_shard",
                "check_at",
            ]
            .map(attr)
            .to_vec(),
        ))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index("RenewalDue", "due_shard", "due_at"))
        .global_secondary_indexes(index("ByTenant", "owner_tenant", "pk"))
        .global_secondary_indexes(index("PendingByTenant", "pending_tenant", "pk"))
        .global_secondary_indexes(index("DriftCheck", "check_shard", "check_at"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// The local stack's token signing key.
pub fn local_jwt() -> LocalJwt {
    let secret = std::fs::read(stack().var("LOCAL_JWT_SECRET_FILE")).unwrap();
    LocalJwt::new(secret.trim_ascii())
}

/// A token naming `tenant` as the caller.
pub fn token_for(tenant: &str) -> String {
    local_jwt().mint("tenant_id", tenant, 600)
}

/// Serves `app` on a random local port; answers its base URL.
pub async fn serve(app: Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(local_server::serve(app, local_jwt(), listener));
    format!("http://{addr}")
}

pub async fn create_distribution(sdk: &aws_config::SdkConfig, aliases: &[String]) -> String {
    let cloudfront = cloudfront_client(sdk);
    let mut config = DistributionConfig::builder()
        .caller_reference(unique("ref-"))
        .comment("test distribution")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("platform")
                        .domain_name("app.platform.example")
                        .custom_origin_config(
                            CustomOriginConfig::builder()
                                .http_port(80)
                                .https_port(443)
                                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("platform")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        );
    if !aliases.is_empty() {
        config = config.aliases(
            Aliases::builder()
                .quantity(aliases.len() as i32)
                .set_items(Some(aliases.to_vec()))
                .build()
                .unwrap(),
        );
    }
    let out = cloudfront
        .create_distribution()
        .distribution_config(config.build().unwrap())
        .send()
        .await
        .unwrap();
    out.distribution.unwrap().id
}

impl Tenant {
    pub fn start_url(&self) -> String {
        format!("{}/api/domain/start-certificate/{}", self.base, self.org)
    }

    pub fn request_url(&self) -> String {
        format!("{}/domains/request", self.base)
    }

    pub fn request_body(&self) -> String {
        serde_json::json!({ "domain": self.domain, "workspace_id": self.org }).to_string()
    }

    pub fn status_url(&self, request_id: &str) -> String {
        format!(
            "{}/domains/status/{request_id}?domain={}",
            self.base, self.domain
        )
    }

    pub fn release_url(&self, domain: &str) -> String {
        format!("{}/domains/{domain}", self.base)
    }

    pub fn complete_url(&self) -> String {
        format!("{}/api/domain/complete-certificate/{}", self.base, self.org)
    }

    pub fn body(&self) -> String {
        serde_json::json!({ "domain": self.domain }).to_string()
    }

    pub async fn start(&self) -> (u16, Value) {
        post(&self.token, &self.start_url(), &self.body()).await
    }

    pub async fn complete(&self) -> (u16, Value) {
        post(&self.token, &self.complete_url(), &self.body()).await
    }

    /// Publishes the TXT record the start answer asked for, as the tenant would.
    pub async fn publish(&self, start: &Value) {
        assert!(
            start["txt_record_name"].is_string(),
            "start-certificate did not answer a record: {start}"
        );
        set_txt(
            start["txt_record_name"].as_str().unwrap(),
            start["txt_record_value"].as_str().unwrap(),
        )
        .await;
    }

    /// The whole DNS-01 walk as the tenant does it: start, publish the TXT
    /// record, complete until done. Answers the start answer and the last
    /// complete answer.
    pub async fn start_and_complete(&self) -> (Value, (u16, Value)) {
        let (status, start) = self.start().await;
        assert_eq!(status, 200, "{start}");
        self.publish(&start).await;
        let (done, _) = self.complete_until_done().await;
        (start, done)
    }

    /// Calls complete until it stops answering 202; answers the last answer
    /// and how many calls it took.
    pub async fn complete_until_done(&self) -> ((u16, Value), usize) {
        for calls in 1..=300 {
            let answer = self.complete().await;
            if answer.0 != 202 {
                return (answer, calls);
            }
            // As a client would, a moment before asking again.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("complete-certificate still in progress after 300 calls");
    }

    pub fn renew_url(&self) -> String {
        format!("{}/api/domain/renew-certificate/{}", self.base, self.org)
    }

    pub fn certificate_status_url(&self) -> String {
        format!(
            "{}/api/domain/status/{}?domain={}",
            self.base, self.org, self.domain
        )
    }

    pub async fn renew(&self) -> (u16, Value) {
        post(&self.token, &self.renew_url(), &self.body()).await
    }

    pub async fn certificate_status(&self) -> (u16, Value) {
        get(&self.token, &self.certificate_status_url()).await
    }

    /// One renewal sweep, as the scheduled function runs it: in a fresh
    /// container (its own application, same configuration), so that every
    /// call it makes, down to loading the ACME account, is its own.
    pub async fn sweep(&self) -> custom_domains::flows::renewal::SweepReport {
        let app = App::new(self.app.config.clone(), &sdk_config(None).await).unwrap();
        custom_domains::routes::scoped(
            "renew-certificates",
            custom_domains::flows::renewal::sweep(&app),
        )
        .await
        .unwrap()
    }

    /// One round of DNS drift checks, as the scheduled `check-domains`
    /// function runs it, in a fresh container whose configuration `adjust`
    /// may change (e.g. a shorter grace period).
    pub async fn check_domains_with(
        &self,
        adjust: impl FnOnce(&mut custom_domains::config::Config),
    ) -> custom_domains::flows::check_domains::CheckReport {
        let mut config = self.app.config.clone();
        adjust(&mut config);
        let app = App::new(config, &sdk_config(None).await).unwrap();
        custom_domains::routes::scoped(
            "check-domains",
            custom_domains::flows::check_domains::check_domains(&app),
        )
        .await
        .unwrap()
    }

    pub async fn check_domains(&self) -> custom_domains::flows::check_domains::CheckReport {
        self.check_domains_with(|_| {}).await
    }

    /// Runs check-domains with no grace left until the hostname's drift
    /// release is done (a few runs at most).
    pub async fn detach_for_drift(&self) {
        let name = custom_domains::domain::DomainName::parse(&self.domain).unwrap();
        for _ in 0..5 {
            self.make_dns_due(&self.domain).await;
            self.check_domains_with(|c| c.drift_grace = std::time::Duration::ZERO)
                .await;
            if self
                .app
                .store
                .load_hostname(&name)
                .await
                .unwrap()
                .owner
                .is_none()
            {
                return;
            }
        }
        panic!("{} was not released for drift", self.domain);
    }

    /// A tenant whose imports into ACM (us-east-1) go through `proxy`.
    pub async fn importing_through(builder: TenantBuilder, proxy: &FaultProxy) -> Tenant {
        let via_proxy = sdk_config(Some(&proxy.url)).await;
        builder
            .customise(move |app| {
                app.edge_certificates = custom_domains::adapters::acm::Certificates::new(
                    aws_sdk_acm::Client::from_conf(
                        aws_sdk_acm::config::Builder::from(&via_proxy)
                            .region(aws_config::Region::new("us-east-1"))
                            .build(),
                    ),
                );
            })
            .start()
            .await
    }

    /// Makes the hostname's next DNS check due now, as time passing would.
    pub async fn make_dns_due(&self, domain: &str) {
        aws_sdk_dynamodb::Client::new(&sdk_config(None).await)
            .update_item()
            .table_name(&self.app.config.table_name)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("DOMAIN#{domain}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("DNS".into()),
            )
            .update_expression("SET check_at = :then")
            .expression_attribute_values(
                ":then",
                aws_sdk_dynamodb::types::AttributeValue::S("2000-01-01T00:00:00Z".into()),
            )
            .send()
            .await
            .unwrap();
    }

    /// Moves the served certificate's renewal time to the past, as time
    /// passing would (Pebble's certificates live five years).
    pub async fn make_due(&self) {
        let name = custom_domains::domain::DomainName::parse(&self.domain).unwrap();
        let mut served = self
            .app
            .store
            .load_hostname(&name)
            .await
            .unwrap()
            .served
            .unwrap();
        served.renewal.renew_after =
            custom_domains::domain::Timestamp::now().minus(std::time::Duration::from_secs(1));
        served.renewal.window_recheck_at = None;
        self.app.store.save_served(&mut served).await.unwrap();
    }

    /// The served certificate as stored.
    pub async fn served(&self) -> custom_domains::domain::ServedCertificate {
        let name = custom_domains::domain::DomainName::parse(&self.domain).unwrap();
        self.app
            .store
            .load_hostname(&name)
            .await
            .unwrap()
            .served
            .expect("nothing served")
    }

    pub fn sdk_region(&self) -> String {
        stack().var("AWS_REGION")
    }
}

pub async fn get(token: &str, url: &str) -> (u16, Value) {
    request("GET", url, "", None, Some(token)).await
}

pub async fn delete(token: &str, url: &str) -> (u16, Value) {
    request("DELETE", url, "", None, Some(token)).await
}

pub async fn post(token: &str, url: &str, body: &str) -> (u16, Value) {
    request("POST", url, body, Some("application/json"), Some(token)).await
}

pub async fn request(
    method: &str,
    url: &str,
    body: &str,
    content_type: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    try_request(method, url, body, content_type, token)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// As [`request`], answering `Err` when the server cannot be reached or its
/// answer breaks off (a crashed server).
pub async fn try_request(
    method: &str,
    url: &str,
    body: &str,
    content_type: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, Value), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let rsp = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = rsp.status().as_u16();
    let is_json = rsp.headers().get("content-type").is_some_and(|v| {
        v.to_str()
            .unwrap_or_default()
            .starts_with("application/json")
    });
    let bytes = rsp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    assert!(
        is_json,
        "every answer is JSON; got {status} {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    // Every answer any test receives must be as openapi.json says.
    let path = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    openapi::assert_conforms(
        method,
        path.split('?').next().unwrap_or(path),
        status,
        &body,
    );
    Ok((status, body))
}

async fn challtestsrv(path: &str, body: Value) {
    let url = format!("{}{path}", stack().var("CHALLTESTSRV_URL"));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::post(url)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let rsp = client.request(req).await.unwrap();
    assert!(
        rsp.status().is_success(),
        "challtestsrv {path}: {}",
        rsp.status()
    );
}

/// Replaces the TXT records at `name` with `value` in the test DNS server.
pub async fn set_txt(name: &str, value: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-txt", serde_json::json!({ "host": host })).await;
    challtestsrv(
        "/set-txt",
        serde_json::json!({ "host": host, "value": value }),
    )
    .await;
}

/// Points `name` at `target` with a CNAME in the test DNS server, as a
/// tenant delegating `_acme-challenge` would.
pub async fn set_cname(name: &str, target: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    let target = format!("{}.", target.trim_end_matches('.'));
    challtestsrv(
        "/set-cname",
        serde_json::json!({ "host": host, "target": target }),
    )
    .await;
}

pub async fn clear_cname(name: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-cname", serde_json::json!({ "host": host })).await;
}

/// Sets the CAA records at `name` to one `0 issue "<issuer>"`.
pub async fn set_caa(name: &str, issuer: &str) {
    clear_caa(name).await;
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv(
        "/add-caa",
        serde_json::json!({ "host": host, "policies": [{ "tag": "issue", "value": issuer }] }),
    )
    .await;
}

pub async fn clear_caa(name: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-caa", serde_json::json!({ "host": host })).await;
}

/// Sets `name`'s A record (instead of challtestsrv's default address).
pub async fn set_a(name: &str, address: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-a", serde_json::json!({ "host": host })).await;
    challtestsrv(
        "/add-a",
        serde_json::json!({ "host": host, "addresses": [address] }),
    )
    .await;
}

/// Makes the test DNS server answer SERVFAIL for `name` (`fail`), or stop.
pub async fn servfail(name: &str, fail: bool) {
    let host = format!("{}.", name.trim_end_matches('.'));
    let path = if fail {
        "/set-servfail"
    } else {
        "/clear-servfail"
    };
    challtestsrv(path, serde_json::json!({ "host": host })).await;
}

pub async fn clear_txt(name: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-txt", serde_json::json!({ "host": host })).await;
}

/// GETs a URL of Pebble's management interface (HTTPS with the local CA).
pub async fn pebble_management(path: &str) -> String {
    let client = local_ca_https_client::<Full<Bytes>>();
    let url = format!("{}{path}", stack().var("PEBBLE_MANAGEMENT_URL"));
    let rsp = client.get(url.parse().unwrap()).await.unwrap();
    assert!(rsp.status().is_success(), "{url}: {}", rsp.status());
    String::from_utf8(rsp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// An HTTPS client that trusts the local stack's throwaway CA (Pebble's,
/// and the ACME proxy's, certificates), and nothing else.
pub fn local_ca_https_client<B>(
) -> Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(stack().var("ACME_CA_BUNDLE")).unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// What a [`FaultProxy`] does to a request it matches.
#[derive(Clone, Copy)]
pub enum Fault {
    /// Answer this instead of forwarding.
    Answer {
        status: u16,
        content_type: &'static str,
        body: &'static str,
    },
    /// Forward (so the change happens), then answer this status instead of
    /// the real answer: a lost response.
    ForwardThenFail { status: u16 },
    /// Wait this long, then forward: a slow call under way.
    Delay { millis: u64 },
}

/// A fault proxy rule: ACM's ImportCertificate.
pub fn is_import(req: &hyper::http::request::Parts) -> bool {
    req.headers
        .get("x-amz-target")
        .is_some_and(|t| t == "CertificateManager.ImportCertificate")
}

/// An HTTP proxy in front of the local AWS that injects a fault into the
/// first requests matching a rule, for failures moto cannot produce.
pub struct FaultProxy {
    pub url: String,
    matched: Arc<AtomicU32>,
}

impl FaultProxy {
    /// Faults the first request matching `rule`.
    pub async fn start(rule: fn(&hyper::http::request::Parts) -> bool, fault: Fault) -> FaultProxy {
        Self::start_n(rule, fault, 1).await
    }

    /// Faults the first `times` requests matching `rule`.
    pub async fn start_n(
        rule: fn(&hyper::http::request::Parts) -> bool,
        fault: Fault,
        times: u32,
    ) -> FaultProxy {
        Self::start_with(rule, fault, times, None).await
    }

    /// Forwards everything, reporting each request that changes something
    /// to `tripwire` once answered (see `tripwire`).
    pub async fn tripwired(tripwire: Arc<tripwire::Tripwire>) -> FaultProxy {
        Self::start_with(|_| false, Fault::Delay { millis: 0 }, 0, Some(tripwire)).await
    }

    async fn start_with(
        rule: fn(&hyper::http::request::Parts) -> bool,
        fault: Fault,
        times: u32,
        tripwire: Option<Arc<tripwire::Tripwire>>,
    ) -> FaultProxy {
        // CloudFront's REST paths go to the stack's CloudFront (ministack),
        // everything else to moto.
        let upstream = stack().var("AWS_ENDPOINT_URL");
        let cloudfront_upstream = stack().var("AWS_ENDPOINT_URL_CLOUDFRONT");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let matched = Arc::new(AtomicU32::new(0));
        let counter = matched.clone();
        tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (client, upstream, cloudfront_upstream, counter, tripwire) = (
                    client.clone(),
                    upstream.clone(),
                    cloudfront_upstream.clone(),
                    counter.clone(),
                    tripwire.clone(),
                );
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (client, counter, tripwire) =
                            (client.clone(), counter.clone(), tripwire.clone());
                        let upstream = if req.uri().path().starts_with("/2020-05-31/") {
                            cloudfront_upstream.clone()
                        } else {
                            upstream.clone()
                        };
                        async move {
                            let (mut parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let first =
                                rule(&parts) && counter.fetch_add(1, Ordering::SeqCst) < times;
                            if let (
                                true,
                                Fault::Answer {
                                    status,
                                    content_type,
                                    body,
                                },
                            ) = (first, fault)
                            {
                                return Ok::<_, hyper::Error>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", content_type)
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                );
                            }
                            if let (true, Fault::Delay { millis }) = (first, fault) {
                                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                            }
                            let change = tripwire::aws_change(&parts);
                            parts.uri =
                                format!("{upstream}{}", parts.uri.path_and_query().unwrap())
                                    .parse()
                                    .unwrap();
                            let rsp = client
                                .request(hyper::Request::from_parts(parts, Full::new(body)))
                                .await
                                .unwrap();
                            let (parts, body) = rsp.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            if let (Some(t), Some(change)) = (&tripwire, change) {
                                if t.after_upstream(change) {
                                    return Ok(hyper::Response::builder()
                                        .status(502)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap());
                                }
                            }
                            if let (true, Fault::ForwardThenFail { status }) = (first, fault) {
                                return Ok(hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/x-amz-json-1.1")
                                    .body(Full::new(Bytes::from(
                                        "{\"__type\":\"InternalFailure\"}",
                                    )))
                                    .unwrap());
                            }
                            Ok(hyper::Response::from_parts(parts, Full::new(body)))
                        }
                    },
                );
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { url, matched }
    }

    /// How many requests matched the rule so far.
    pub fn matched(&self) -> u32 {
        self.matched.load(Ordering::SeqCst)
    }
}

/// ACM in us-east-1, where CloudFront's certificates are imported.
pub async fn acm_us_east_1() -> aws_sdk_acm::Client {
    let sdk = sdk_config(None).await;
    aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(&sdk)
            .region(aws_config::Region::new("us-east-1"))
            .build(),
    )
}

/// Asserts that ACM (through `acm`) holds the certificate `arn` for `domain`.
pub async fn assert_acm_certificate(acm: &aws_sdk_acm::Client, arn: &str, domain: &str) {
    let described = acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.certificate().unwrap().domain_name(), Some(domain));
}
