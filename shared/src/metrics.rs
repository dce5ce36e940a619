//! CloudWatch metrics, written as Embedded Metric Format (EMF) lines on the
//! function's standard output: Lambda sends them to CloudWatch Logs, which
//! turns each line into metric data (no `PutMetricData` call, no IAM grant,
//! nothing on the request's critical path but a write to stdout).
//!
//! Through `metrics_cloudwatch_embedded`, a backend of the `metrics` facade,
//! rather than Amazon's `metrique`: it adds four small crates to the build
//! and no second version of any (metrique's writer brings `metrics-util`,
//! with second copies of `rand`, `getrandom` and `hashbrown`), and its model
//! (one collector, flushed once an invocation ends) is exactly Lambda's
//! (one invocation at a time per container). Where several requests run at
//! once in one process (the local server, the tests) a flush writes what
//! every request recorded since the last: each figure is still written once,
//! under its own dimensions.
//!
//! What is written (namespace `METRICS_NAMESPACE`, default
//! `CustomDomains`; README "Metrics and alarms"; [`WRITTEN`]):
//! - every route call: `Requests` (dimensions `Route`, `Status`) and
//!   `Latency` in milliseconds (`Route`);
//! - every scheduled run: `JobRuns` (`Job`), and the job's figures
//!   ([`sweep`], [`drift_check`]). A job's figures are written as one-value
//!   distributions, so each is written by the flush that follows it and
//!   never again (a gauge would be written again by every later flush).

use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use metrics_cloudwatch_embedded::Collector;

/// Every metric written, with its dimensions: what the template's alarms
/// and dashboard may name (a test holds them to it).
pub const WRITTEN: &[(&str, &[&str])] = &[
    ("Requests", &["Route", "Status"]),
    ("Latency", &["Route"]),
    ("JobRuns", &["Job"]),
    ("Hostnames", &["State"]),
    ("HostnamesServed", &["Job"]),
    ("RenewalsFailing", &["Job"]),
    ("CertificatesOverdue", &["Job"]),
    ("DaysToSoonestExpiry", &["Job"]),
    ("RenewalAttemptsFailed", &["Job"]),
    ("Renewed", &["Job"]),
    ("HostnamesDue", &["Job"]),
    ("DnsChecked", &["Job"]),
    ("DnsMisconfigured", &["Job"]),
    ("HostnamesDetached", &["Job"]),
];

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "CustomDomains";

/// Where flushed lines go: standard output (Lambda, the local server), or
/// what [`write_to`] set (the tests keep them with the product's logs).
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Takes the flushed lines.
type Sink = fn(&[u8]);

/// Sends every flushed line to `sink` instead of standard output.
pub fn write_to(sink: Sink) {
    if let Ok(mut s) = SINK.write() {
        *s = Some(sink);
    }
}

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// Makes the process's collector, writing under `namespace`
/// (`Config::metrics_namespace`), once: `App::new` calls it. Until then,
/// and if another `metrics` recorder is installed already, nothing is
/// recorded.
pub fn init(namespace: &str) {
    COLLECTOR.get_or_init(|| {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace.to_owned())
            .init()
            .ok()?;
        metrics::describe_histogram!("Latency", metrics::Unit::Milliseconds, "a route's latency");
        metrics::describe_counter!("Requests", metrics::Unit::Count, "route calls");
        metrics::describe_counter!("JobRuns", metrics::Unit::Count, "scheduled runs");
        Some(collector)
    });
}

fn collector() -> Option<&'static Collector> {
    COLLECTOR.get().copied().flatten()
}

/// Records one call of the route served by `function`.
pub fn request(function: &'static str, status: u16, elapsed: Duration) {
    if collector().is_none() {
        return;
    }
    metrics::counter!("Requests", "Route" => function, "Status" => status.to_string()).increment(1);
    metrics::histogram!("Latency", "Route" => function).record(elapsed.as_secs_f64() * 1000.0);
}

/// Records one run of the scheduled job `function`.
pub fn job_run(function: &'static str) {
    if collector().is_none() {
        return;
    }
    metrics::counter!("JobRuns", "Job" => function).increment(1);
}

/// One figure of a job's run (written once, by the next flush).
fn figure(job: &'static str, name: &'static str, value: f64) {
    metrics::histogram!(name, "Job" => job).record(value);
}

/// The aggregate figures of one renewal sweep.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SweepFigures {
    /// Hostnames in each state (the product's counts, kept as the states
    /// change: `Store::hostname_counts`), every state named.
    pub hostnames: std::collections::BTreeMap<&'static str, i64>,
    /// Hostnames served a certificate (ACME or ACM).
    pub served: i64,
    /// Hostnames whose renewal is failing (state `renewal_failing`).
    pub renewals_failing: i64,
    /// Certificates past their renewal time by more than its grace (a
    /// sixth of their lifetime: `ServedCertificate::overdue_at`).
    pub overdue: u64,
    /// Days until the `not_after` of the most urgent certificate (the one
    /// soonest overdue), if any is served.
    pub days_to_soonest_expiry: Option<f64>,
    /// Renewal attempts that failed in this run.
    pub attempts_failed: usize,
    pub renewed: usize,
    pub due: usize,
}

/// Records the figures of a renewal sweep.
pub fn sweep(figures: &SweepFigures) {
    const JOB: &str = "renewal-sweep";
    if collector().is_none() {
        return;
    }
    for (state, count) in &figures.hostnames {
        metrics::histogram!("Hostnames", "State" => *state).record(*count as f64);
    }
    figure(JOB, "HostnamesServed", figures.served as f64);
    figure(JOB, "RenewalsFailing", figures.renewals_failing as f64);
    figure(JOB, "CertificatesOverdue", figures.overdue as f64);
    if let Some(days) = figures.days_to_soonest_expiry {
        figure(JOB, "DaysToSoonestExpiry", days);
    }
    figure(JOB, "RenewalAttemptsFailed", figures.attempts_failed as f64);
    figure(JOB, "Renewed", figures.renewed as f64);
    figure(JOB, "HostnamesDue", figures.due as f64);
}

/// Records the figures of a drift check: hostnames checked, found
/// pointing elsewhere (misconfigured), and detached for drift.
pub fn drift_check(checked: usize, misconfigured: usize, detached: usize) {
    const JOB: &str = "drift-check";
    if collector().is_none() {
        return;
    }
    figure(JOB, "DnsChecked", checked as f64);
    figure(JOB, "DnsMisconfigured", misconfigured as f64);
    figure(JOB, "HostnamesDetached", detached as f64);
}

/// Writes what was recorded since the last flush, one EMF line per set of
/// dimensions, to standard output (or the sink of [`write_to`]).
pub fn flush() {
    let Some(collector) = collector() else {
        return;
    };
    let mut lines = Vec::new();
    if collector.flush(&mut lines).is_err() || lines.is_empty() {
        return;
    }
    match SINK.read().ok().and_then(|s| *s) {
        Some(sink) => sink(&lines),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&lines);
            let _ = out.flush();
        }
    }
}
