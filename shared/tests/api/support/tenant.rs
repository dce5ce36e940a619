//! The tenant under test: [`TenantBuilder`] (its own hostname, distribution
//! and, optionally, table, with the application serving every route on a
//! random local port), and [`Tenant`]'s routes, DNS-01 walk, scheduled jobs
//! and store look-ups.

use std::sync::Arc;

use custom_domains::domain::TenantId;
use custom_domains::App;
use serde_json::Value;

use super::{
    acme_proxy, config, create_distribution, create_table, get, post, sdk_config, sdk_config_with,
    serve, set_txt, stack, token_for, unique, FaultProxy,
};

/// One tenant with its own hostname and CloudFront distribution, and the
/// application serving every route on a random local port.
pub struct Tenant {
    pub app: Arc<App>,
    /// The configuration's overrides (the policies' local values too).
    pub overrides: Vec<(String, String)>,
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
        let mut owned = self.overrides;
        let own_table = self.own_table.then(|| unique("table-"));
        if let Some(table) = &own_table {
            owned.push(("DYNAMODB_TABLE".into(), table.clone()));
        }
        let sdk = sdk_config_with(None, &owned).await;
        let distribution_id = create_distribution(&sdk, &self.other_aliases).await;
        if let Some(table) = &own_table {
            create_table(&aws_sdk_dynamodb::Client::new(&sdk), table).await;
        }
        let overrides: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut app = App::new(config(&overrides), &sdk).unwrap();
        drop(overrides);
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
            overrides: owned,
        }
    }
}

/// Whether a start or a release is to be repeated, as the API says a
/// client should: a `502 upstream_unavailable` (moto serves DynamoDB one
/// request at a time, and the whole suite shares it: under load a request
/// can pass its timeout), at most 3 times in one walk. Anything else, or
/// more, fails the test. `complete_until_done` does not repeat it: the
/// lost-answer tests expect complete-certificate's 502.
pub fn to_repeat(status: u16, answer: &Value, repeats: &mut u32) -> bool {
    let timed_out = status == 502
        && answer["code"] == "upstream_unavailable"
        && answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("did not answer"));
    if timed_out && *repeats < 3 {
        *repeats += 1;
        return true;
    }
    false
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

    /// Releases the tenant's hostname, calling again while the release
    /// answers 202 (a tenant waits for CloudFront to deploy its disabling
    /// before it can be deleted; a detach for the previous certificate
    /// change); answers the final 200's body.
    pub async fn release_until_done(&self) -> Value {
        let mut repeats = 0;
        for _ in 0..100 {
            let (status, answer) =
                super::http::delete(&self.token, &self.release_url(&self.domain)).await;
            if status == 200 {
                return answer;
            }
            if to_repeat(status, &answer, &mut repeats) {
                continue;
            }
            assert_eq!(status, 202, "{answer}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("the release of {} did not finish", self.domain);
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
        let mut repeats = 0;
        let (status, start) = loop {
            let (status, start) = self.start().await;
            if !to_repeat(status, &start, &mut repeats) {
                break (status, start);
            }
        };
        assert_eq!(status, 200, "{start}");
        self.publish(&start).await;
        let (done, _) = self.complete_until_done().await;
        (start, done)
    }

    /// Calls complete until it stops answering 202 (or `409
    /// concurrent_update`, which the API says to repeat: a write that timed
    /// out under load may land after the next call has read); answers the
    /// last answer and how many calls it took.
    pub async fn complete_until_done(&self) -> ((u16, Value), usize) {
        let mut conflicts = 0;
        for calls in 1..=300 {
            let answer = self.complete().await;
            let repeat = answer.0 == 409 && answer.1["code"] == "concurrent_update" && {
                conflicts += 1;
                conflicts <= 3
            };
            if answer.0 != 202 && !repeat {
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
    /// call it makes, down to loading the ACME account, is its own; and,
    /// as a schedule does, once the index it reads shows the writes made
    /// before it.
    pub async fn sweep(&self) -> custom_domains::flows::acme::renew::SweepReport {
        index_caught_up().await;
        let app = App::new(
            self.app.config.clone(),
            &sdk_config_with(None, &self.overrides).await,
        )
        .unwrap();
        custom_domains::routes::scoped(
            "renewal-sweep",
            custom_domains::flows::acme::renew::sweep(&app),
        )
        .await
        .unwrap()
    }

    /// One round of DNS drift checks, as the scheduled `drift-check`
    /// function runs it, in a fresh container whose configuration `adjust`
    /// may change (e.g. a shorter grace period), once the index it reads
    /// shows the writes made before it.
    pub async fn drift_check_with(
        &self,
        adjust: impl FnOnce(&mut custom_domains::config::Config),
    ) -> custom_domains::flows::hostname::drift::CheckReport {
        index_caught_up().await;
        let mut config = self.app.config.clone();
        adjust(&mut config);
        let app = App::new(config, &sdk_config_with(None, &self.overrides).await).unwrap();
        custom_domains::routes::scoped(
            "drift-check",
            custom_domains::flows::hostname::drift::drift_check(&app),
        )
        .await
        .unwrap()
    }

    pub async fn drift_check(&self) -> custom_domains::flows::hostname::drift::CheckReport {
        self.drift_check_with(|_| {}).await
    }

    /// Runs drift-check with no grace left until the hostname's drift
    /// release is done (a few runs, spread over the seconds a distribution
    /// tenant takes to deploy its disabling before it can be deleted).
    pub async fn detach_for_drift(&self) {
        let name = custom_domains::domain::DomainName::parse(&self.domain).unwrap();
        for run in 0..40 {
            if run > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            self.make_dns_due(&self.domain).await;
            self.drift_check_with(|c| c.drift_grace = std::time::Duration::ZERO)
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

    /// A tenant whose EventBridge events go through `proxy`.
    pub async fn sending_events_through(builder: TenantBuilder, proxy: &FaultProxy) -> Tenant {
        let via_proxy = sdk_config(Some(&proxy.url)).await;
        builder
            .customise(move |app| {
                let bus = app.config.event_bus.clone();
                app.events = custom_domains::adapters::events::Events::new(
                    aws_sdk_eventbridge::Client::new(&via_proxy),
                    bus,
                );
            })
            .start()
            .await
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
                    app.config.stack_name.clone(),
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

/// Waits until the table's indexes show the writes made so far: they
/// answer behind the table (as DynamoDB's do, within about a second;
/// modelled by the local stack, `local_server::aws_rules::dynamodb`), and
/// the sweeps, the drift checks and the hostname list read them.
pub async fn index_caught_up() {
    tokio::time::sleep(local_server::aws_rules::dynamodb::index_lag()).await;
}
