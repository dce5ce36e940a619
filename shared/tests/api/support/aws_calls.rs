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
use local_server::iam::Need;

/// Where the suite's calls are recorded (cleared by `make test` first).
pub const RECORD: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/aws-calls.tsv");

/// An AWS action and the resource ARN it was called on.
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
    /// Resource names as recorded: a test's own table is recorded as the
    /// stack's, so the record reads as one deployment's requests.
    renames: Vec<(String, String)>,
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
        let inner = local_server::iam::Enforcing::new(
            aws_smithy_http_client::Builder::new().build_http(),
            policies,
        )
        .shared();
        // A test's own table or hosted zone is recorded as the stack's, so
        // the record replays against the stack's policies.
        let stack = &super::stack().vars;
        let renames = [
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
        Self { inner, renames }
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
            renames: self.renames.clone(),
        })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    renames: Vec<(String, String)>,
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
            let lines: String = needs(&request)
                .into_iter()
                .map(|n| {
                    let context = serde_json::to_string(&n.context).unwrap_or_default();
                    let line = format!("{function}\t{}\t{}\t{context}\n", n.action, n.resource);
                    self.renames
                        .iter()
                        .fold(line, |l, (from, to)| l.replace(from, to))
                })
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

/// What the suite recorded: function → every request's needs, condition
/// keys included (the replay of `template.rs`).
pub fn recorded_needs() -> BTreeMap<String, BTreeSet<Need>> {
    let text = std::fs::read_to_string(RECORD).unwrap_or_default();
    let mut map: BTreeMap<String, BTreeSet<Need>> = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        if let [f, action, resource, context] = parts.as_slice() {
            map.entry((*f).to_owned()).or_default().insert(Need {
                action: (*action).to_owned(),
                resource: (*resource).to_owned(),
                context: serde_json::from_str(context).unwrap_or_default(),
            });
        }
    }
    map
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
