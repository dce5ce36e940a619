//! Records which AWS actions each function really calls.
//!
//! The test application's AWS clients send through [`Recording`], which
//! attributes every request to the function whose handler made it
//! (`routes::current_function`) and appends
//! `function<TAB>action<TAB>resource<TAB>context` to a file, context being
//! the condition keys IAM evaluated (JSON; a certificate's
//! `aws:ResourceTag/<key>` included, as the local server read them). A
//! request a test expects the policy to refuse ([`expect_refusal`]) is
//! recorded with a fifth field, `refused`, and counts as no call.
//! `template::policies_match_recorded_calls` then compares what the whole
//! suite recorded with the SAM template's policies: the policies are
//! checked against the code's real calls, not against a second list.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use local_server::iam::Need;

/// Where the suite's calls are recorded (cleared by `make test` first).
pub const RECORD: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/aws-calls.tsv");

/// The record's path: `AWS_CALLS_RECORD` if set (a second checkout that
/// shares the target directory keeps its own record), else [`RECORD`].
pub fn record_path() -> String {
    std::env::var("AWS_CALLS_RECORD").unwrap_or_else(|_| RECORD.to_owned())
}

/// An AWS action and the resource ARN it was called on.
pub type Call = (String, String);

static SENT_EVENTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Resources on which a test expects its function's policy to refuse a
/// request.
static EXPECTED_REFUSALS: std::sync::Mutex<BTreeSet<String>> =
    std::sync::Mutex::new(BTreeSet::new());

/// The fifth field of a request refused as a test expected.
const REFUSED: &str = "refused";

/// Declares that a function's request on `resource` is to be refused by its
/// policy: recorded as such (the after-suite replay checks that the
/// template still refuses it), not as a call.
pub fn expect_refusal(resource: &str) {
    EXPECTED_REFUSALS
        .lock()
        .unwrap()
        .insert(resource.to_owned());
}

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

/// DynamoDB write capacity units, estimated from the requests' sizes
/// (`BENCH_AWS_TIMES`): a write item costs a unit per KB, a transaction's
/// twice (DynamoDB's pricing). Measured on the request's JSON, which is
/// larger than the item DynamoDB sizes: an upper bound.
static WRITE_UNITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The write units estimated since the last call, reset.
#[allow(dead_code)]
pub fn take_write_units() -> u64 {
    WRITE_UNITS.swap(0, std::sync::atomic::Ordering::Relaxed)
}

/// The write units a DynamoDB request of `target` with `body` costs.
fn write_units(target: &str, body: &[u8]) -> u64 {
    let op = target
        .strip_prefix("DynamoDB_20120810.")
        .unwrap_or_default();
    let kb = |bytes: usize| (bytes as u64).div_ceil(1024).max(1);
    match op {
        "PutItem" | "UpdateItem" | "DeleteItem" => kb(body.len()),
        "TransactWriteItems" => {
            let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            parsed["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| 2 * kb(item.to_string().len()))
                .sum()
        }
        "BatchWriteItem" => kb(body.len()),
        _ => 0,
    }
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
    /// Records, then checks each request against its function's policy
    /// (`local_server::iam`), with `vars` the local values (the stack's
    /// environment and a test's overrides).
    pub fn new(vars: &std::collections::HashMap<String, String>) -> Self {
        let policies = local_server::iam::Policies::from_template(
            include_str!("../../../../template.yaml"),
            &|k| vars.get(k).cloned(),
        )
        .expect("template.yaml's policies resolve");
        // A test's own table or hosted zone is recorded as the stack's, so
        // the record replays against the stack's policies.
        let stack = &super::stack().vars;
        let renames: Vec<(String, String)> = [
            ("DYNAMODB_TABLE", ":table/"),
            ("ROUTE53_HOSTED_ZONE_ID", ":hostedzone/"),
            ("DELEGATION_ZONE", "."),
        ]
        .into_iter()
        .filter_map(|(var, prefix)| {
            let own = vars.get(var)?;
            let shared = stack.get(var).map(String::as_str).unwrap_or_default();
            (own != shared).then(|| (format!("{prefix}{own}"), format!("{prefix}{shared}")))
        })
        .collect();
        // The needs as the local server evaluated them (a certificate's
        // tags included), each request's when it is decided.
        let record = move |function: &str, all: &[Need], refused: Option<&Need>| {
            let expected =
                refused.filter(|r| EXPECTED_REFUSALS.lock().unwrap().contains(&r.resource));
            let line = |n: &Need, mark: &str| {
                let context = serde_json::to_string(&n.context).unwrap_or_default();
                let line = format!(
                    "{function}\t{}\t{}\t{context}{mark}\n",
                    n.action, n.resource
                );
                renames
                    .iter()
                    .fold(line, |l, (from, to)| l.replace(from, to))
            };
            let lines: String = match expected {
                // Not sent: its other needs are no calls either.
                Some(r) => line(r, &format!("\t{REFUSED}")),
                None => all.iter().map(|n| line(n, "")).collect(),
            };
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(record_path())
            {
                let _ = file.write_all(lines.as_bytes());
            }
        };
        let inner = local_server::iam::Enforcing::new(
            aws_smithy_http_client::Builder::new().build_http(),
            policies,
        )
        .observed(std::sync::Arc::new(record))
        .shared();
        Self { inner }
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
        let Some(action) = timed else {
            return self.inner.call(request);
        };
        if let (Some(target), Some(body)) = (
            request.headers().get("x-amz-target"),
            request.body().bytes(),
        ) {
            WRITE_UNITS.fetch_add(
                write_units(target, body),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
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

/// The IAM actions one HTTP request to AWS needs, each with its resource
/// ARN and condition keys (`local_server::iam::request`, the same reading
/// that enforces them).
pub fn needs(request: &HttpRequest) -> Vec<Need> {
    let header = |name: &str| request.headers().get(name).unwrap_or_default();
    let body = request
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let sent = local_server::iam::request::Sent::new(
        request.method(),
        request.uri(),
        header("authorization"),
        header("x-amz-target"),
        &body,
    );
    match local_server::iam::needs(&sent) {
        Ok(all) => all,
        Err(unknown) => panic!("unmapped AWS request: {unknown}"),
    }
}

/// The actions one request needs, with their resources.
pub fn calls(request: &HttpRequest) -> Vec<Call> {
    needs(request)
        .into_iter()
        .map(|n| (n.action, n.resource))
        .collect()
}

/// The recorded lines, each `(refused as expected, function, need)`.
fn record() -> Vec<(bool, String, Need)> {
    let text = std::fs::read_to_string(record_path()).unwrap_or_default();
    let mut all = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        let (fields, refused) = match parts.as_slice() {
            [fields @ .., last] if *last == REFUSED => (fields, true),
            fields => (fields, false),
        };
        if let [f, action, resource, rest @ ..] = fields {
            all.push((
                refused,
                (*f).to_owned(),
                Need {
                    action: (*action).to_owned(),
                    resource: (*resource).to_owned(),
                    context: rest
                        .first()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or_default(),
                },
            ));
        }
    }
    all
}

/// Function → needs, of the lines `refused` or not.
fn grouped(refused: bool) -> BTreeMap<String, BTreeSet<Need>> {
    let mut map: BTreeMap<String, BTreeSet<Need>> = BTreeMap::new();
    for (r, f, need) in record() {
        if r == refused {
            map.entry(f).or_default().insert(need);
        }
    }
    map
}

/// What the suite recorded: function → every request's needs, condition
/// keys included (the replay of `template.rs`); the refusals tests
/// expected are not among them.
pub fn recorded_needs() -> BTreeMap<String, BTreeSet<Need>> {
    grouped(false)
}

/// The requests tests expected their function's policy to refuse, and it
/// did: function → needs.
pub fn recorded_refusals() -> BTreeMap<String, BTreeSet<Need>> {
    grouped(true)
}

/// What the suite recorded: function → calls.
pub fn recorded() -> BTreeMap<String, BTreeSet<Call>> {
    recorded_needs()
        .into_iter()
        .map(|(f, needs)| {
            (
                f,
                needs.into_iter().map(|n| (n.action, n.resource)).collect(),
            )
        })
        .collect()
}
