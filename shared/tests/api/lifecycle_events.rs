//! An event for every change of a hostname's life, on both paths: each
//! told once (a repeated or resumed call tells nothing twice), read back
//! from EventBridge through the local stack's rule to an SQS queue, and
//! valid against its JSON Schema in `events/eventbridge/`
//! (`support::eventbridge` checks every event any test reads).

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::eventbridge::{told, told_eventually, told_types};
use crate::support::*;

/// Polls the ACME status route until CloudFront has deployed the hostname.
async fn until_deployed(t: &Tenant) -> Value {
    for _ in 0..200 {
        let (code, status) = t.certificate_status().await;
        assert_eq!(code, 200, "{status}");
        if status["edge_status"] == "deployed" {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never deployed", t.domain);
}

/// The detail of the one event of `detail_type` told of `domain`.
async fn only(domain: &str, detail_type: &str) -> Value {
    let all: Vec<Value> = told(domain)
        .await
        .into_iter()
        .filter(|(t, _)| t == detail_type)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        all.len(),
        1,
        "{detail_type} told {} times: {all:?}",
        all.len()
    );
    all.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_change_of_an_acme_hostnames_life_is_told_once() {
    let t = tenant().start().await;
    let metadata = json!({"site_id": "s-1"});
    let body = json!({"domain": t.domain, "custom_metadata": metadata}).to_string();
    let (code, start) = post(&t.token, &t.start_url(), &body).await;
    assert_eq!(code, 200, "{start}");
    // The metadata is set after the claim: the claim's own event may
    // predate it; every later one carries it.
    let needed = told_eventually(&t.domain, "DNS record needed").await;
    assert_eq!(needed["tenant_id"], t.org.as_str());
    assert_eq!(needed["path"], "acme");
    assert_eq!(needed["next_action"]["actor"], "tenant");
    assert_eq!(
        needed["records"][0]["txt_record_value"],
        start["txt_record_value"]
    );
    // A repeated start tells nothing new.
    let (code, _) = t.start().await;
    assert_eq!(code, 200);

    t.publish(&start).await;
    let ((code, done), _) = t.complete_until_done().await;
    assert_eq!(code, 200, "{done}");
    let issued = told_eventually(&t.domain, "Certificate issued").await;
    assert_eq!(issued["certificate_arn"], done["certificate_arn"]);
    assert_eq!(issued["custom_metadata"], metadata);
    let status = until_deployed(&t).await;
    let active = told_eventually(&t.domain, "Hostname active").await;
    assert_eq!(active["state"], "active");
    assert_eq!(active["edge"], status["edge"]);
    // Read again: told already.
    until_deployed(&t).await;

    let (code, renewed) = t.renew().await;
    assert_eq!(code, 200, "{renewed}");
    let told_renewal = told_eventually(&t.domain, "Certificate renewed").await;
    assert_eq!(told_renewal["serial"], renewed["serial"]);
    assert_ne!(told_renewal["serial"], issued["serial"]);

    t.release_until_done().await;
    let released = told_eventually(&t.domain, "Hostname released").await;
    assert_eq!(released["state"], "released");
    assert_eq!(released["custom_metadata"], metadata);

    let mut types = told_types(&t.domain).await;
    types.sort();
    let mut expected = vec![
        "Hostname claimed",
        "DNS record needed",
        "Hostname validated",
        "Certificate issued",
        "Hostname active",
        "Certificate renewed",
        "Hostname released",
    ];
    expected.sort();
    assert_eq!(types, expected, "each change told once");
    // A repeat delivery would carry the same event_id; none came.
    for t_ in expected {
        only(&t.domain, t_).await;
    }
}

#[tokio::test]
async fn every_change_of_an_acm_hostnames_life_is_told_once() {
    let t = tenant().start().await;
    let body =
        json!({"domain": t.domain, "workspace_id": t.org, "custom_metadata": {"k": 1}}).to_string();
    let (code, answer) = post(&t.token, &t.request_url(), &body).await;
    assert_eq!(code, 200, "{answer}");
    let id = answer["request_id"].as_str().unwrap().to_owned();
    let seen = crate::acm_path::poll_status(&t.token, &t.status_url(&id)).await;
    assert_eq!(seen.last().unwrap().1["status"], "CONFIGURED");
    let needed = only(&t.domain, "DNS record needed").await;
    assert_eq!(needed["path"], "acm");
    assert_eq!(needed["records"][0]["type"], "CNAME");
    let active = told_eventually(&t.domain, "Hostname active").await;
    assert_eq!(active["edge"], "api_gateway");
    assert_eq!(
        active["dns_target"],
        seen.last().unwrap().1["api_gateway_domain"]
    );
    // Polled again: nothing new.
    let (code, _) = get(&t.token, &t.status_url(&id)).await;
    assert_eq!(code, 200);
    t.release_until_done().await;
    told_eventually(&t.domain, "Hostname released").await;
    for detail_type in [
        "Hostname claimed",
        "DNS record needed",
        "Hostname validated",
        "Certificate issued",
        "Hostname active",
        "Hostname released",
    ] {
        only(&t.domain, detail_type).await;
    }
    assert_eq!(told(&t.domain).await.len(), 6);
}

/// EventBridge refuses the first event (the claim's): the call goes on, the
/// event stays in the hostname's outbox, and a later call, once the
/// refused call's lease grace has passed, sends it, once.
#[tokio::test]
async fn an_event_a_call_could_not_send_is_sent_by_a_later_call_once() {
    let refusing = FaultProxy::start_n(
        |req| {
            req.headers
                .get("x-amz-target")
                .is_some_and(|t| t == "AWSEvents.PutEvents")
        },
        Fault::Answer {
            status: 400,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"__type":"ValidationException","message":"refused by the test"}"#,
        },
        1,
    )
    .await;
    let t = Tenant::sending_events_through(tenant().env("LEASE_GRACE_MS", "300"), &refusing).await;
    let (code, start) = t.start().await;
    assert_eq!(code, 200, "{start}");
    assert_eq!(refusing.matched(), 1, "the claim's event was refused");
    assert!(!told_types(&t.domain)
        .await
        .contains(&"Hostname claimed".to_owned()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (code, _) = t.certificate_status().await;
    assert_eq!(code, 200);
    only(&t.domain, "Hostname claimed").await;
    // And never again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    t.certificate_status().await;
    only(&t.domain, "Hostname claimed").await;
    only(&t.domain, "DNS record needed").await;
}

/// Every event has its schema, named as its detail-type, and the README's
/// table lists exactly the schemas, each with its description.
#[test]
fn the_readme_lists_every_event_as_its_schema_says() {
    use custom_domains::domain::announce::EventKind;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let rows: Vec<(String, String)> = readme
        .lines()
        .skip_while(|l| *l != "## Events")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            Some((name.to_owned(), (*cells.get(1)?).to_owned()))
        })
        .collect();
    let files = std::fs::read_dir(format!("{root}/events/eventbridge"))
        .unwrap()
        .count();
    assert_eq!(files, EventKind::ALL.len(), "one schema per event");
    assert_eq!(rows.len(), EventKind::ALL.len(), "{rows:?}");
    for kind in EventKind::ALL {
        let path = format!("{root}/events/eventbridge/{}.schema.json", kind.slug());
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(schema["title"], kind.detail_type(), "{path}");
        let row = rows
            .iter()
            .find(|(name, _)| name == kind.detail_type())
            .unwrap_or_else(|| panic!("the README does not list {}", kind.detail_type()));
        assert_eq!(row.1, schema["description"].as_str().unwrap(), "{path}");
    }
}
