//! A tripwire for crash tests. The proxies in front of the CA and of AWS
//! report each request that changes something (an ACME order, challenge or
//! finalisation; a DynamoDB write; an ACM import; a CloudFront change) once
//! the upstream has answered it, and before the answer is passed on. When
//! the armed one comes, the tripwire kills the serving process (SIGKILL):
//! the side effect happened, the process never learnt it.

use std::process::Child;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Tripwire {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The requests reported since the tripwire was armed, in order.
    seen: Vec<String>,
    /// Kill after this many (0: never).
    at: usize,
    /// A run's requests that change something, as a run without a kill
    /// made them ([`Tripwire::plan`]): `at` then names the `at`-th of
    /// these, killed after the same occurrence of the same request in the
    /// armed run, whatever else that run did first (a call answered 202
    /// takes and gives back the lease once more on a slower machine).
    plan: Vec<String>,
    child: Option<Child>,
    fired: Option<String>,
}

impl Tripwire {
    pub fn new() -> Arc<Tripwire> {
        Arc::new(Tripwire::default())
    }

    /// Makes `at` name the `at`-th of `steps` (see `State::plan`).
    pub fn plan(&self, steps: &[String]) {
        self.state.lock().unwrap().plan = steps.to_vec();
    }

    /// Kills the process after the `at`-th request that changes something
    /// (0: never), counting from now.
    pub fn arm(&self, at: usize) {
        let mut s = self.state.lock().unwrap();
        s.seen.clear();
        s.at = at;
        s.fired = None;
    }

    /// The process to kill.
    pub fn watch(&self, child: Child) {
        self.state.lock().unwrap().child = Some(child);
    }

    /// Kills the watched process, if any (at the end of a test).
    pub fn stop(&self) {
        if let Some(mut child) = self.state.lock().unwrap().child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the watched process has exited.
    pub fn dead(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        match s.child.as_mut() {
            Some(child) => child.try_wait().ok().flatten().is_some(),
            None => true,
        }
    }

    /// A proxy reports a request that changed something, answered
    /// upstream; answers whether the process was killed for it (the proxy
    /// then drops the answer).
    pub fn after_upstream(&self, label: String) -> bool {
        let mut s = self.state.lock().unwrap();
        s.seen.push(label.clone());
        let due = match s.at.checked_sub(1).and_then(|i| s.plan.get(i)) {
            Some(kind) => {
                let occurrence = s.plan[..s.at].iter().filter(|k| *k == kind).count();
                s.fired.is_none()
                    && kind == &label
                    && s.seen.iter().filter(|k| **k == label).count() == occurrence
            }
            None => s.seen.len() == s.at,
        };
        if !due {
            return false;
        }
        if let Some(child) = s.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        s.fired = Some(label);
        true
    }

    pub fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The request after which the process was killed, if it was.
    pub fn fired(&self) -> Option<String> {
        self.state.lock().unwrap().fired.clone()
    }
}

/// What an AWS request changes, if anything: a label for the tripwire.
pub fn aws_change(parts: &hyper::http::request::Parts) -> Option<String> {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or_default();
    let changes = matches!(
        operation,
        "PutItem"
            | "UpdateItem"
            | "DeleteItem"
            | "TransactWriteItems"
            | "ImportCertificate"
            | "AddTagsToCertificate"
            | "RequestCertificate"
            | "DeleteCertificate"
    );
    if changes {
        return Some(target.to_owned());
    }
    let rest = parts.method != hyper::Method::GET && parts.method != hyper::Method::HEAD;
    let path = parts.uri.path();
    // ListDomainConflicts is a POST that changes nothing.
    if path.ends_with("/domain-conflicts") {
        return None;
    }
    // The label names the operation, not the resource: IDs and names
    // become `*`, so runs on different resources compare.
    let operation: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(
            |(i, s)| match i <= 1 || s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                true => s,
                false => "*",
            },
        )
        .collect();
    (rest && target.is_empty() && (path.starts_with("/2020-05-31/") || path.starts_with("/v2/")))
        .then(|| format!("{} {}", parts.method, operation.join("/")))
}
