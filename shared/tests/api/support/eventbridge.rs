//! The product's EventBridge events, read back as a platform's consumer
//! reads them: the local stack's rule sends every event of source
//! `custom-domains` to an SQS queue (`infra/local/resources.py`,
//! `EVENTS_QUEUE_URL`), drained here into one list for the whole suite
//! (tests filter by their hostname). Every event read is checked against
//! its JSON Schema in `events/eventbridge/`: one that does not conform, or
//! whose detail-type has no schema, fails the test that reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use custom_domains::domain::announce::EventKind;

use super::stack;

/// Every event read so far: (detail-type, detail).
static SEEN: Mutex<Vec<(String, Value)>> = Mutex::new(Vec::new());
/// One drain at a time.
static DRAINING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The event's schema, by detail-type.
fn validator(detail_type: &str) -> Arc<jsonschema::Validator> {
    static CACHE: Mutex<Option<HashMap<String, Arc<jsonschema::Validator>>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap();
    let cache = cache.get_or_insert_with(|| {
        EventKind::ALL
            .iter()
            .map(|k| {
                let path = format!(
                    "{}/../events/eventbridge/{}.schema.json",
                    env!("CARGO_MANIFEST_DIR"),
                    k.slug()
                );
                let schema: Value = serde_json::from_str(
                    &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
                )
                .unwrap();
                (
                    k.detail_type().to_owned(),
                    Arc::new(jsonschema::draft202012::new(&schema).unwrap()),
                )
            })
            .collect()
    });
    cache
        .get(detail_type)
        .unwrap_or_else(|| panic!("an event {detail_type:?} has no schema in events/eventbridge/"))
        .clone()
}

/// An SQS request (AWS JSON 1.0) to the local AWS, which checks no
/// signature.
async fn sqs(action: &str, body: Value) -> Value {
    let s = stack();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::post(s.var("AWS_ENDPOINT_URL"))
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20260101/{}/sqs/aws4_request, SignedHeaders=host, Signature=0",
                s.var("AWS_REGION")
            ),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let rsp = client.request(req).await.unwrap();
    let bytes = rsp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Empties the events queue unread: for `make bench-year`, whose events no
/// one reads (moto's SQS walks every message held at each new one).
#[allow(dead_code)]
pub async fn purge() {
    sqs(
        "PurgeQueue",
        json!({"QueueUrl": stack().var("EVENTS_QUEUE_URL")}),
    )
    .await;
}

/// Reads what the queue holds into [`SEEN`], checking each event.
async fn drain() {
    let _one = DRAINING.lock().await;
    let queue = stack().var("EVENTS_QUEUE_URL");
    loop {
        let out = sqs(
            "ReceiveMessage",
            json!({"QueueUrl": queue, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
        )
        .await;
        let messages = out["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return;
        }
        let receipts: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| json!({"Id": i.to_string(), "ReceiptHandle": m["ReceiptHandle"]}))
            .collect();
        for m in messages {
            let event: Value = serde_json::from_str(m["Body"].as_str().unwrap()).unwrap();
            let detail_type = event["detail-type"].as_str().unwrap().to_owned();
            let detail = event["detail"].clone();
            let validator = validator(&detail_type);
            let problems: Vec<String> = validator
                .iter_errors(&detail)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                problems.is_empty(),
                "{detail_type} does not conform to its schema: {problems:?}\n{detail:#}"
            );
            SEEN.lock().unwrap().push((detail_type, detail));
        }
        sqs(
            "DeleteMessageBatch",
            json!({"QueueUrl": queue, "Entries": receipts}),
        )
        .await;
    }
}

/// The events told so far of `domain`, in the order they arrived:
/// (detail-type, detail).
pub async fn told(domain: &str) -> Vec<(String, Value)> {
    drain().await;
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(_, d)| d["domain"] == domain)
        .cloned()
        .collect()
}

/// The detail-types told of `domain`, in order.
pub async fn told_types(domain: &str) -> Vec<String> {
    told(domain).await.into_iter().map(|(t, _)| t).collect()
}

/// Waits (a few seconds at most) until `domain` has been told
/// `detail_type`; answers its detail.
pub async fn told_eventually(domain: &str, detail_type: &str) -> Value {
    for _ in 0..50 {
        if let Some((_, d)) = told(domain)
            .await
            .into_iter()
            .find(|(t, _)| t == detail_type)
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{domain} was never told {detail_type:?}; told {:?}",
        told_types(domain).await
    );
}

/// Waits (a few seconds at most) for an event of `detail_type` whose
/// detail `matches` (one about no hostname, say); answers its detail.
pub async fn told_such(detail_type: &str, matches: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..50 {
        drain().await;
        let found = SEEN
            .lock()
            .unwrap()
            .iter()
            .find(|(t, d)| t == detail_type && matches(d))
            .map(|(_, d)| d.clone());
        if let Some(d) = found {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {detail_type:?} event as expected was told");
}
