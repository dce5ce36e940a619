//! CORS for the platform's browser frontend, as the HTTP API's
//! `CorsConfiguration` answers it: a preflight from an allowed origin is
//! granted the routes' methods and the `authorization` and `content-type`
//! headers, before any token is looked at; a call from it carries the
//! grant; another origin gets none. (`infra/browser_test.py` checks the
//! same in headless Chromium, with `fetch` from a page of another origin.)

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::*;

/// Sends `method` to `url` from `origin` with `headers`; answers the status
/// and the answer's headers.
async fn from_origin(
    method: &str,
    url: &str,
    origin: &str,
    headers: &[(&str, &str)],
) -> (u16, hyper::HeaderMap) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("origin", origin);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let rsp = client
        .request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let (parts, body) = rsp.into_parts();
    let _ = body.collect().await;
    (parts.status.as_u16(), parts.headers)
}

#[tokio::test]
async fn an_allowed_origin_is_granted_and_another_is_not() {
    let t = tenant().start().await;
    let url = format!("{}/domains", t.base);
    let preflight = [
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization,content-type",
        ),
    ];
    // No token: a preflight never carries one, and API Gateway answers it
    // before its authorizer.
    let (code, granted) = from_origin("OPTIONS", &url, FRONTEND_ORIGIN, &preflight).await;
    assert_eq!(code, 204);
    assert_eq!(granted["access-control-allow-origin"], FRONTEND_ORIGIN);
    let methods = granted["access-control-allow-methods"].to_str().unwrap();
    for route in custom_domains::routes::ROUTES {
        assert!(
            methods.contains(route.method),
            "{methods} lacks {}",
            route.method
        );
    }
    let headers = granted["access-control-allow-headers"].to_str().unwrap();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert!(granted.contains_key("access-control-max-age"));

    let bearer = format!("Bearer {}", t.token);
    let (code, answer) =
        from_origin("GET", &url, FRONTEND_ORIGIN, &[("authorization", &bearer)]).await;
    assert_eq!(code, 200);
    assert_eq!(answer["access-control-allow-origin"], FRONTEND_ORIGIN);

    let other = "http://elsewhere.test:3000";
    let (code, refused) = from_origin("OPTIONS", &url, other, &preflight).await;
    assert_eq!(code, 204);
    assert!(!refused.contains_key("access-control-allow-origin"));
    let (code, answer) = from_origin("GET", &url, other, &[("authorization", &bearer)]).await;
    assert_eq!(
        code, 200,
        "the server answers; the browser keeps it from the page"
    );
    assert!(!answer.contains_key("access-control-allow-origin"));
}
