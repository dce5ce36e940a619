//! Benchmark: one full DNS-01 issuance (start → TXT published → complete
//! until `SSL_VALIDATED`) over HTTP against the local stack, repeated.
//!
//! Run with `make bench` (starts the test stack). `BENCH_ISSUANCES` sets
//! the count (default 30). Prints min / median / p90 / max wall time, on each
//! edge: a classic distribution of the organisation's own, and the shared
//! edge (a distribution tenant on the multi-tenant distribution). With
//! `BENCH_AWS_TIMES=1` it also prints, per edge, the AWS requests of an
//! issuance by action, and the time they took.

#![allow(clippy::unwrap_used)]

#[path = "../tests/api/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: n={} min={:.1} ms median={:.1} ms p90={:.1} ms max={:.1} ms",
        times.len(),
        pick(0.0).as_secs_f64() * 1e3,
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.9).as_secs_f64() * 1e3,
        pick(1.0).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    // `make bench-nonces`: with Pebble rejecting a share of nonces
    // (`PEBBLE_WFE_NONCEREJECT`), how many issuances succeed, and how fast.
    if std::env::var("BENCH_NONCES").is_ok() {
        return nonces().await;
    }
    let n: usize = std::env::var("BENCH_ISSUANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    // Warm-up: registers the ACME account and opens connections.
    let warm = support::tenant().start().await;
    let t0 = Instant::now();
    issue(&warm).await;
    support::aws_calls::take_timings();
    println!(
        "first issuance (includes ACME account registration): {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );

    // `BENCH_EDGES=own`: the organisation's own distribution only.
    let edges: &[bool] = match std::env::var("BENCH_EDGES").as_deref() {
        Ok("own") => &[false],
        _ => &[false, true],
    };
    for &shared in edges {
        let edge = if shared {
            "shared edge (distribution tenant)"
        } else {
            "own distribution (alias)"
        };
        let mut full = Vec::with_capacity(n);
        let mut start_only = Vec::with_capacity(n);
        let mut calls = 0;
        for _ in 0..n {
            let builder = support::tenant();
            let t = if shared {
                builder.shared_edge()
            } else {
                builder
            }
            .start()
            .await;
            let began = Instant::now();
            let (start_time, c) = issue(&t).await;
            full.push(began.elapsed());
            start_only.push(start_time);
            calls += c;
        }
        summary(&format!("{edge}: start-certificate"), start_only);
        summary(
            &format!("{edge}: full issuance, start to SSL_VALIDATED"),
            full,
        );
        println!(
            "{edge}: complete-certificate calls per issuance: {:.2}",
            calls as f64 / n as f64
        );
        if std::env::var_os("BENCH_AWS_TIMES").is_some() {
            aws_breakdown(edge, n);
        }
    }
}

/// `BENCH_AWS_TIMES=1`: the AWS requests of the last `n` issuances, per
/// action: how many per issuance and how long they took.
fn aws_breakdown(edge: &str, n: usize) {
    let mut rows: Vec<_> = support::aws_calls::take_timings().into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1 .1));
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    let (count, total) = rows
        .iter()
        .fold((0, Duration::ZERO), |(c, t), (_, (k, d))| (c + k, t + *d));
    println!(
        "{edge}: AWS requests per issuance: {:.1}, taking {:.1} ms",
        count as f64 / n as f64,
        per(total)
    );
    for (action, (k, d)) in rows {
        println!(
            "  {:>5.2} × {action}: {:.1} ms",
            k as f64 / n as f64,
            per(d)
        );
    }
}

async fn issue(t: &support::Tenant) -> (Duration, usize) {
    let began = Instant::now();
    let (status, start) = t.start().await;
    assert_eq!(status, 200, "{start}");
    let start_time = began.elapsed();
    t.publish(&start).await;
    let ((status, done), calls) = t.complete_until_done().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["proxy_status"], "SSL_VALIDATED");
    (start_time, calls)
}

/// Issuances on the shared edge, each counted as a success or a failure
/// (not asserted), with Pebble rejecting `PEBBLE_WFE_NONCEREJECT` % of nonces.
async fn nonces() {
    let n: usize = std::env::var("BENCH_ISSUANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let rate = std::env::var("PEBBLE_WFE_NONCEREJECT").unwrap_or_else(|_| "?".into());
    let mut times = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..n {
        let t = support::tenant().shared_edge().start().await;
        let began = Instant::now();
        let (status, start) = t.start().await;
        if status != 200 {
            failures.push(format!("start {status}: {start}"));
            continue;
        }
        t.publish(&start).await;
        let ((status, done), _) = t.complete_until_done().await;
        if status == 200 && done["proxy_status"] == "SSL_VALIDATED" {
            times.push(began.elapsed());
        } else {
            failures.push(format!("complete {status}: {done}"));
        }
    }
    println!(
        "nonces rejected {rate}%: {} of {n} issuances succeeded",
        times.len()
    );
    for f in failures.iter().take(3) {
        println!("  failure: {f}");
    }
    if !times.is_empty() {
        summary(&format!("nonces rejected {rate}%: full issuance"), times);
    }
}
