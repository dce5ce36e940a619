//! HTTP: tokens, the application served on a local port, requests to it
//! (every answer checked against `openapi.json`), and HTTPS to the local CA's
//! servers (Pebble's management interface).

use std::sync::Arc;

use custom_domains::App;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_server::LocalJwt;
use serde_json::Value;

use super::{openapi, stack};

/// The local stack's token signing key.
pub fn local_jwt() -> LocalJwt {
    let secret = std::fs::read(stack().var("LOCAL_JWT_SECRET_FILE")).unwrap();
    LocalJwt::new(secret.trim_ascii())
}

/// A token naming `tenant` as the caller.
pub fn token_for(tenant: &str) -> String {
    local_jwt().mint("tenant_id", tenant, 600)
}

/// The browser origin the tests' servers allow (`CORS_ALLOWED_ORIGINS`).
pub const FRONTEND_ORIGIN: &str = "http://frontend.test:3000";

/// Serves `app` on a random local port; answers its base URL.
pub async fn serve(app: Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cors = local_server::Cors::from_template(
        include_str!("../../../../template.yaml"),
        &[FRONTEND_ORIGIN.to_owned()],
    )
    .unwrap();
    tokio::spawn(local_server::serve(app, local_jwt(), cors, listener));
    format!("http://{addr}")
}

pub async fn get(token: &str, url: &str) -> (u16, Value) {
    request("GET", url, "", None, Some(token)).await
}

pub async fn delete(token: &str, url: &str) -> (u16, Value) {
    request("DELETE", url, "", None, Some(token)).await
}

pub async fn post(token: &str, url: &str, body: &str) -> (u16, Value) {
    request("POST", url, body, Some("application/json"), Some(token)).await
}

pub async fn request(
    method: &str,
    url: &str,
    body: &str,
    content_type: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    try_request(method, url, body, content_type, token)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// As [`request`], answering `Err` when the server cannot be reached or its
/// answer breaks off (a crashed server).
pub async fn try_request(
    method: &str,
    url: &str,
    body: &str,
    content_type: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, Value), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let rsp = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = rsp.status().as_u16();
    let is_json = rsp.headers().get("content-type").is_some_and(|v| {
        v.to_str()
            .unwrap_or_default()
            .starts_with("application/json")
    });
    let bytes = rsp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    assert!(
        is_json,
        "every answer is JSON; got {status} {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    // Every answer any test receives must be as openapi.json says.
    let path = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    openapi::assert_conforms(
        method,
        path.split('?').next().unwrap_or(path),
        status,
        &body,
    );
    Ok((status, body))
}

/// GETs a URL of Pebble's management interface (HTTPS with the local CA).
pub async fn pebble_management(path: &str) -> String {
    let client = local_ca_https_client::<Full<Bytes>>();
    let url = format!("{}{path}", stack().var("PEBBLE_MANAGEMENT_URL"));
    let rsp = client.get(url.parse().unwrap()).await.unwrap();
    assert!(rsp.status().is_success(), "{url}: {}", rsp.status());
    String::from_utf8(rsp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// An HTTPS client that trusts the local stack's throwaway CA (Pebble's,
/// and the ACME proxy's, certificates), and nothing else.
pub fn local_ca_https_client<B>(
) -> Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(stack().var("ACME_CA_BUNDLE")).unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}
