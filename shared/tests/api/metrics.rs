//! The product's CloudWatch metrics, as the lines (Embedded Metric Format)
//! a function writes: a route call's, a drift check's, and a sweep's
//! aggregate figures
//! (hostnames by state, kept as the states change; the overdue
//! certificates, from their index), never counted by a Scan.

use serde_json::Value;

use crate::support::*;
use custom_domains::domain::census::CountedState;
use custom_domains::domain::Timestamp;

/// Every EMF line the product wrote in this process so far.
fn emf_lines() -> Vec<Value> {
    logs()
        .lines()
        .filter(|l| l.starts_with("{\"_aws\""))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The metric definitions of an EMF line: (name, unit) pairs, after
/// checking the line's shape (CloudWatch's EMF specification: one
/// namespace, dimension sets naming members of the line, every metric a
/// member).
fn definitions(line: &Value) -> Vec<(String, String)> {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "CustomDomains", "{line}");
    assert!(line["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
    for set in directive["Dimensions"].as_array().unwrap() {
        for name in set.as_array().unwrap() {
            assert!(line[name.as_str().unwrap()].is_string(), "{line}");
        }
    }
    directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap().to_owned();
            assert!(!line[&name].is_null(), "{line}");
            (name, m["Unit"].as_str().unwrap_or("None").to_owned())
        })
        .collect()
}

/// The values of `metric` in `line` (a number or a list of them).
fn values(line: &Value, metric: &str) -> Vec<f64> {
    match &line[metric] {
        Value::Array(v) => v.iter().filter_map(Value::as_f64).collect(),
        v => v.as_f64().into_iter().collect(),
    }
}

#[tokio::test]
async fn a_route_call_writes_its_count_and_latency_by_route_and_status() {
    let t = tenant().start().await;
    // A tenant's token on an operator route: 403, a status few calls get.
    let (code, _) = get(&t.token, &format!("{}/operator/hostnames", t.base)).await;
    assert_eq!(code, 403);
    let lines = emf_lines();
    let counted = lines
        .iter()
        .find(|l| l["Route"] == "operator-hostnames" && l["Status"] == "403")
        .unwrap_or_else(|| panic!("no Requests line for the call: {lines:#?}"));
    assert!(definitions(counted).contains(&("Requests".into(), "Count".into())));
    assert!(values(counted, "Requests").iter().sum::<f64>() >= 1.0);
    let timed = lines
        .iter()
        .find(|l| l["Route"] == "operator-hostnames" && !l["Latency"].is_null())
        .unwrap_or_else(|| panic!("no Latency line for the call: {lines:#?}"));
    assert!(definitions(timed).contains(&("Latency".into(), "Milliseconds".into())));
    assert!(values(timed, "Latency").iter().all(|ms| *ms >= 0.0));
}

#[tokio::test]
async fn hostnames_are_counted_by_state_as_their_state_changes() {
    let t = tenant().own_table().start().await;
    let counts = || async { t.app.store.hostname_counts().await.unwrap() };
    assert!(counts().await.values().all(|n| *n == 0));

    let (code, start) = t.start().await;
    assert_eq!(code, 200, "{start}");
    let now = counts().await;
    assert_eq!(now[&CountedState::PendingValidation], 1, "{now:?}");
    assert_eq!(now.values().sum::<i64>(), 1, "{now:?}");
    // A repeated start counts nothing twice.
    assert_eq!(t.start().await.0, 200);
    assert_eq!(counts().await, now);

    t.publish(&start).await;
    let ((code, done), _) = t.complete_until_done().await;
    assert_eq!(code, 200, "{done}");
    let now = counts().await;
    assert_eq!(now[&CountedState::Active], 1, "{now:?}");
    assert_eq!(now.values().sum::<i64>(), 1, "{now:?}");

    t.release_until_done().await;
    let now = counts().await;
    assert!(now.values().all(|n| *n == 0), "{now:?}");
}

#[tokio::test]
async fn a_sweep_writes_hostnames_by_state_and_the_overdue_certificate_a_backoff_hides() {
    let t = tenant().own_table().start().await;
    let (start, (code, done)) = t.start_and_complete().await;
    assert_eq!(code, 200, "{start} {done}");

    let report = t.sweep().await;
    let figures = &report.figures;
    assert_eq!(figures.hostnames["active"], 1, "{figures:?}");
    assert_eq!(figures.served, 1);
    assert_eq!(figures.overdue, 0);
    assert_eq!(figures.renewals_failing, 0);
    let days = figures
        .days_to_soonest_expiry
        .expect("a certificate is served");
    let not_after = t.served().await.certificate.not_after;
    let expected = (not_after.unix() - Timestamp::now().unix()) as f64 / 86400.0;
    assert!((days - expected).abs() < 0.01, "{days} vs {expected}");

    // Its renewal time long past, and a backoff keeping the sweep away: the
    // sweep does not look at it, and still counts it overdue.
    let mut served = t.served().await;
    let now = Timestamp::now();
    served.renewal.renew_after = now.minus(std::time::Duration::from_secs(400 * 86400));
    served.renewal.not_before = Some(now.plus(std::time::Duration::from_secs(86400)));
    served.renewal.window_recheck_at = None;
    t.app.store.save_served(&mut served).await.unwrap();
    let report = t.sweep().await;
    assert_eq!(report.due, 0, "{report:?}");
    assert_eq!(report.figures.overdue, 1, "{report:?}");

    // The lines: the sweep's figures under `Job`, the counts under `State`.
    let lines = emf_lines();
    let sweep_line = lines
        .iter()
        .find(|l| l["Job"] == "renewal-sweep" && values(l, "CertificatesOverdue").contains(&1.0))
        .unwrap_or_else(|| panic!("no sweep line with the overdue certificate: {lines:#?}"));
    let names: Vec<String> = definitions(sweep_line)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for metric in [
        "HostnamesServed",
        "RenewalsFailing",
        "CertificatesOverdue",
        "DaysToSoonestExpiry",
        "RenewalAttemptsFailed",
    ] {
        assert!(
            names.iter().any(|n| n == metric),
            "{metric} missing: {sweep_line}"
        );
    }
    let by_state = lines
        .iter()
        .find(|l| l["State"] == "active")
        .unwrap_or_else(|| panic!("no Hostnames line by state: {lines:#?}"));
    assert!(definitions(by_state).iter().any(|(n, _)| n == "Hostnames"));
    assert!(lines
        .iter()
        .any(|l| l["Job"] == "renewal-sweep" && !l["JobRuns"].is_null()));

    // A drift check writes its own run and figures.
    t.drift_check().await;
    let lines = emf_lines();
    let drift = lines
        .iter()
        .find(|l| l["Job"] == "drift-check" && !l["DnsChecked"].is_null())
        .unwrap_or_else(|| panic!("no drift-check line: {lines:#?}"));
    let names: Vec<String> = definitions(drift).into_iter().map(|(n, _)| n).collect();
    for metric in ["DnsChecked", "DnsMisconfigured", "HostnamesDetached"] {
        assert!(
            names.iter().any(|n| n == metric),
            "{metric} missing: {drift}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l["Job"] == "drift-check" && !l["JobRuns"].is_null()));
}
