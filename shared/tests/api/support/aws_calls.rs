//! Records which AWS actions each function really calls.
//!
//! The test application's AWS clients send through [`Recording`], which
//! attributes every request to the function whose handler made it
//! (`routes::current_function`) and appends `function<TAB>action<TAB>resource`
//! to a file. `template::policies_match_recorded_calls` then compares what
//! the whole suite recorded with the SAM template's policies: the policies
//! are checked against the code's real calls, not against a second list.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Where the suite's calls are recorded (cleared by `make test` first).
pub const RECORD: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/aws-calls.tsv");

/// An AWS action, and for API Gateway (whose IAM actions are HTTP verbs)
/// the resource path it was called on.
pub type Call = (String, String);

static SENT_EVENTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Per action (or actions, for a transaction), how many requests and how
/// long they took, summed: kept when `BENCH_AWS_TIMES` is set (the issuance
/// benchmark's breakdown of where an issuance spends its time).
type Timings = BTreeMap<String, (u32, std::time::Duration)>;
static TIMINGS: std::sync::Mutex<Timings> = std::sync::Mutex::new(BTreeMap::new());

/// The timings kept since the last call (`BENCH_AWS_TIMES`), emptied.
#[allow(dead_code)]
pub fn take_timings() -> Timings {
    std::mem::take(&mut *TIMINGS.lock().unwrap())
}

fn timing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BENCH_AWS_TIMES").is_some())
}

/// The bodies of every EventBridge `PutEvents` request sent so far (moto
/// accepts them, but offers no way to read them back).
pub fn sent_events() -> Vec<String> {
    SENT_EVENTS.lock().unwrap().clone()
}

#[derive(Debug, Clone)]
pub struct Recording {
    inner: SharedHttpClient,
}

impl Recording {
    pub fn new() -> Self {
        Self {
            inner: aws_smithy_http_client::Builder::new().build_http(),
        }
    }
}

impl HttpClient for Recording {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.headers().get("x-amz-target") == Some("AWSEvents.PutEvents") {
            if let Some(body) = request.body().bytes() {
                SENT_EVENTS
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(body).into_owned());
            }
        }
        let timed = match custom_domains::routes::current_function() {
            Some(_) if timing() => Some(
                calls(&request)
                    .into_iter()
                    .map(|(action, _)| action)
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
            _ => None,
        };
        if let Some(function) = custom_domains::routes::current_function() {
            let lines: String = calls(&request)
                .into_iter()
                .map(|(action, resource)| format!("{function}\t{action}\t{resource}\n"))
                .collect();
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(RECORD)
            {
                let _ = file.write_all(lines.as_bytes());
            }
        }
        let Some(action) = timed else {
            return self.inner.call(request);
        };
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let began = std::time::Instant::now();
            let answer = sent.await;
            let mut timings = TIMINGS.lock().unwrap();
            let entry = timings.entry(action).or_default();
            entry.0 += 1;
            entry.1 += began.elapsed();
            answer
        })
    }
}

/// The IAM actions one HTTP request to AWS needs.
pub fn calls(request: &HttpRequest) -> Vec<Call> {
    let header = |name: &str| request.headers().get(name).unwrap_or_default().to_owned();
    // The SigV4 credential scope names the service: .../<region>/<service>/aws4_request
    let auth = header("authorization");
    let service = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or_default()
        .to_owned();
    let operation = header("x-amz-target")
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    let body = request
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let path = request
        .uri()
        .split("://")
        .nth(1)
        .and_then(|r| r.find('/').map(|i| r[i..].to_owned()))
        .unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default().to_owned();
    let action = |a: &str| (format!("{service}:{a}"), String::new());
    match service.as_str() {
        // A transaction needs PutItem or DeleteItem for its puts and deletes.
        "dynamodb" if operation == "TransactWriteItems" => [
            ("\"Put\"", "PutItem"),
            ("\"Delete\"", "DeleteItem"),
            ("\"Update\"", "UpdateItem"),
            ("\"ConditionCheck\"", "ConditionCheckItem"),
        ]
        .into_iter()
        .filter(|(key, _)| body.contains(key))
        .map(|(_, a)| action(a))
        .collect(),
        "dynamodb" | "kms" | "events" => vec![action(&operation)],
        "route53" => match (
            request.method(),
            path.contains("/rrset"),
            path.contains("/change/"),
        ) {
            ("POST", true, _) => vec![action("ChangeResourceRecordSets")],
            ("GET", _, true) => vec![action("GetChange")],
            (method, _, _) => panic!("unmapped Route 53 call {method} {path}"),
        },
        // Tags given with a new certificate need AddTagsToCertificate too.
        "acm" if body.contains("\"Tags\"") => {
            vec![action(&operation), action("AddTagsToCertificate")]
        }
        "acm" => vec![action(&operation)],
        "cloudfront" => {
            let rest = path.strip_prefix("/2020-05-31").unwrap_or(&path);
            match (request.method(), rest) {
                ("GET", p) if p.starts_with("/distribution/") && p.ends_with("/config") => {
                    vec![action("GetDistributionConfig")]
                }
                ("PUT", p) if p.starts_with("/distribution/") && p.ends_with("/config") => {
                    vec![action("UpdateDistribution")]
                }
                ("GET", p) if p.starts_with("/distribution/") => vec![action("GetDistribution")],
                ("POST", "/distribution-tenant") => vec![action("CreateDistributionTenant")],
                ("GET", "/distribution-tenant") => vec![action("GetDistributionTenantByDomain")],
                ("PUT", p) if p.starts_with("/distribution-tenant/") => {
                    vec![action("UpdateDistributionTenant")]
                }
                ("DELETE", p) if p.starts_with("/distribution-tenant/") => {
                    vec![action("DeleteDistributionTenant")]
                }
                ("POST", "/domain-conflicts") => vec![action("ListDomainConflicts")],
                ("GET", p) if p.starts_with("/connection-group/") => {
                    vec![action("GetConnectionGroup")]
                }
                (method, _) => panic!("unmapped CloudFront call {method} {path}"),
            }
        }
        "apigateway" => {
            vec![(
                format!("apigateway:{}", request.method()),
                path.strip_prefix("/v2").unwrap_or(&path).to_owned(),
            )]
        }
        other => panic!(
            "unmapped AWS service {other:?} ({} {path})",
            request.method()
        ),
    }
}

/// What the suite recorded: function → calls.
pub fn recorded() -> BTreeMap<String, BTreeSet<Call>> {
    let text = std::fs::read_to_string(RECORD).unwrap_or_default();
    let mut map: BTreeMap<String, BTreeSet<Call>> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split('\t');
        if let (Some(f), Some(a), Some(r)) = (parts.next(), parts.next(), parts.next()) {
            map.entry(f.to_owned())
                .or_default()
                .insert((a.to_owned(), r.to_owned()));
        }
    }
    map
}
