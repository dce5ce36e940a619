//! Benchmark: one renewal sweep over a table of many served certificates,
//! few of them due. Shows that the sweep reads O(due) items (through the
//! sparse `RenewalDue` index), not O(all).
//!
//! Run with `make bench-sweep` (starts the test stack). Seeds a table of its
//! own with `BENCH_SWEEP_HOSTNAMES` served certificates (default 10,000), of
//! which `BENCH_SWEEP_DUE_PERCENT` percent (default 1) are due, then runs one
//! sweep and prints the items it read and its wall time. Each due hostname
//! is not delegated, so its renewal places a real order at Pebble and stops
//! at "awaiting the tenant's TXT record", as it would in production.

#![allow(clippy::unwrap_used)]

#[path = "../tests/api/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use custom_domains::adapters::store::{to_item, Versioned};
use custom_domains::domain::renewal::RenewalBasis;
use custom_domains::domain::{DomainName, RenewalState, ServedCertificate, TenantId, Timestamp};
use futures_util::stream::{self, StreamExt};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let total = env("BENCH_SWEEP_HOSTNAMES", 10_000);
    let percent = env("BENCH_SWEEP_DUE_PERCENT", 1);
    let due = total * percent / 100;
    let t = support::tenant().own_table().start().await;
    let table = t.app.config.table_name.clone();
    let org = TenantId::parse("org", &t.org).unwrap();
    let sdk = support::sdk_config(None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);

    let seeding = Instant::now();
    let now = Timestamp::now();
    let run = support::unique("b");
    let items: Vec<HashMap<String, AttributeValue>> = (0..total)
        .flat_map(|i| {
            let domain = DomainName::parse(&format!("h{i}-{run}.example.com")).unwrap();
            let renew_after = if i < due {
                now.minus(Duration::from_secs(60))
            } else {
                now.plus(Duration::from_secs(30 * 86400 + i as u64))
            };
            seed(&domain, &org, renew_after)
        })
        .collect();
    let written: Vec<()> = stream::iter(items.chunks(25).map(|c| c.to_vec()))
        .map(|chunk| {
            let (ddb, table) = (&ddb, &table);
            async move {
                let mut requests: Vec<WriteRequest> = chunk
                    .into_iter()
                    .map(|item| {
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder().set_item(Some(item)).build().unwrap(),
                            )
                            .build()
                    })
                    .collect();
                while !requests.is_empty() {
                    let out = ddb
                        .batch_write_item()
                        .request_items(table.clone(), requests)
                        .send()
                        .await
                        .unwrap();
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(table.as_str()))
                        .unwrap_or_default();
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    println!(
        "seeded {total} served certificates ({} items, {due} due) in {:.1} s",
        written.len() * 25,
        seeding.elapsed().as_secs_f64()
    );

    let began = Instant::now();
    let report = t.sweep().await;
    let elapsed = began.elapsed();
    println!(
        "one sweep: due={} awaiting_dns={} failed={} items_read={} wall={:.0} ms ({:.2} items read per due hostname; the table holds {} items)",
        report.due,
        report.awaiting_dns,
        report.failed,
        report.items_read,
        elapsed.as_secs_f64() * 1e3,
        report.items_read as f64 / report.due.max(1) as f64,
        total * 2,
    );
    assert_eq!(
        report.due, due,
        "the index gave another count of due hostnames"
    );
    assert!(
        report.items_read <= 8 * due as u64 + 8,
        "the sweep read {} items for {due} due hostnames",
        report.items_read
    );

    // A second sweep right away: every due renewal now waits for its TXT
    // record (re-checked after RENEWAL_DNS_RECHECK_SECONDS), so nothing is due.
    let began = Instant::now();
    let again = t.sweep().await;
    println!(
        "second sweep: due={} items_read={} wall={:.0} ms",
        again.due,
        again.items_read,
        began.elapsed().as_secs_f64() * 1e3
    );
}

/// The `OWNER` and `CERT` items of one served hostname.
fn seed(
    domain: &DomainName,
    org: &TenantId,
    renew_after: Timestamp,
) -> Vec<HashMap<String, AttributeValue>> {
    let now = Timestamp::now();
    let pk = AttributeValue::S(format!("DOMAIN#{domain}"));
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let owner = HashMap::from([
        ("pk".to_owned(), pk.clone()),
        ("sk".to_owned(), s("OWNER")),
        ("tenant_id".to_owned(), s(org.as_str())),
        ("owner_tenant".to_owned(), s(org.as_str())),
        ("claimed_at".to_owned(), s(&now.to_string())),
    ]);
    let served = ServedCertificate {
        domain: domain.clone(),
        org_id: org.clone(),
        certificate_arn: format!("arn:aws:acm:us-east-1:123456789012:certificate/{domain}"),
        distribution_id: "EBENCH".into(),
        edge: Default::default(),
        dns_target: None,
        names: Vec::new(),
        profile: None,
        certificate: custom_domains::domain::IssuedCertificate {
            chain_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
            sealed_key: "c2VhbGVk".into(),
            serial: "01".into(),
            not_before: now.minus(Duration::from_secs(60 * 86400)),
            not_after: now.plus(Duration::from_secs(4 * 365 * 86400)),
        },
        ari_id: None,
        order_url: None,
        renewal: RenewalState {
            renew_after,
            basis: RenewalBasis::Lifetime,
            window: None,
            window_recheck_at: None,
            failures: 0,
            last_error: None,
            not_before: None,
            escalated: false,
            reminded_at_days: None,
            in_flight_since: None,
        },
        delegated: false,
        issued_recently: Vec::new(),
        version: 1,
        served_since: now,
        updated_at: now,
    };
    let mut cert = to_item(&served).unwrap();
    cert.insert("pk".into(), pk);
    cert.insert("sk".into(), s("CERT"));
    cert.extend(
        served
            .index_attributes()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    vec![owner, cert]
}
