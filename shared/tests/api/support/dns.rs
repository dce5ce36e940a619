//! DNS as the tenant scripts it: TXT, CNAME, CAA and A records and SERVFAIL
//! answers in the test DNS server (pebble-challtestsrv's management API).

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::stack;

async fn challtestsrv(path: &str, body: Value) {
    let url = format!("{}{path}", stack().var("CHALLTESTSRV_URL"));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::post(url)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let rsp = client.request(req).await.unwrap();
    assert!(
        rsp.status().is_success(),
        "challtestsrv {path}: {}",
        rsp.status()
    );
}

/// Replaces the TXT records at `name` with `value` in the test DNS server.
pub async fn set_txt(name: &str, value: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-txt", serde_json::json!({ "host": host })).await;
    challtestsrv(
        "/set-txt",
        serde_json::json!({ "host": host, "value": value }),
    )
    .await;
}

/// Points `name` at `target` with a CNAME in the test DNS server, as a
/// tenant delegating `_acme-challenge` would.
pub async fn set_cname(name: &str, target: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    let target = format!("{}.", target.trim_end_matches('.'));
    challtestsrv(
        "/set-cname",
        serde_json::json!({ "host": host, "target": target }),
    )
    .await;
}

pub async fn clear_cname(name: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-cname", serde_json::json!({ "host": host })).await;
}

/// Sets the CAA records at `name` to one `0 issue "<issuer>"`.
pub async fn set_caa(name: &str, issuer: &str) {
    clear_caa(name).await;
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv(
        "/add-caa",
        serde_json::json!({ "host": host, "policies": [{ "tag": "issue", "value": issuer }] }),
    )
    .await;
}

pub async fn clear_caa(name: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-caa", serde_json::json!({ "host": host })).await;
}

/// Sets `name`'s A record (instead of challtestsrv's default address).
pub async fn set_a(name: &str, address: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-a", serde_json::json!({ "host": host })).await;
    challtestsrv(
        "/add-a",
        serde_json::json!({ "host": host, "addresses": [address] }),
    )
    .await;
}

/// Makes the test DNS server answer SERVFAIL for `name` (`fail`), or stop.
pub async fn servfail(name: &str, fail: bool) {
    let host = format!("{}.", name.trim_end_matches('.'));
    let path = if fail {
        "/set-servfail"
    } else {
        "/clear-servfail"
    };
    challtestsrv(path, serde_json::json!({ "host": host })).await;
}

pub async fn clear_txt(name: &str) {
    let host = format!("{}.", name.trim_end_matches('.'));
    challtestsrv("/clear-txt", serde_json::json!({ "host": host })).await;
}
