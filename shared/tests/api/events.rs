//! The sample events in `events/` (one per route, as API Gateway sends them)
//! run through the real handlers, as `cargo lambda invoke` would run them.

use std::sync::Arc;

use custom_domains::routes::{dispatch, ROUTES};
use custom_domains::App;
use lambda_http::{Body, RequestExt};
use local_server::router::match_route;

use crate::support::openapi::assert_conforms;
use crate::support::{config, sdk_config};

#[tokio::test]
async fn every_route_has_a_sample_event_that_its_handler_answers() {
    let app = Arc::new(App::new(config(&[]), &sdk_config(None).await).unwrap());
    for route in ROUTES {
        let file = format!(
            "{}/../events/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            route.function
        );
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not an API Gateway event: {e}"));
        assert_eq!(req.method().as_str(), route.method, "{file}");
        let path = req.uri().path().to_owned();
        let (matched, params) = match_route(req.method(), &path)
            .unwrap_or_else(|| panic!("{file}: no route for {path}"));
        assert_eq!(matched.function, route.function, "{file}");
        for (name, value) in params {
            assert_eq!(
                req.path_parameters().first(&name),
                Some(value.as_str()),
                "{file}: pathParameters.{name}"
            );
        }
        let method = req.method().as_str().to_owned();
        let rsp = dispatch(&app, route.function, req).await;
        let status = rsp.status().as_u16();
        let body: serde_json::Value = match rsp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{file}: answer is not JSON text: {other:?}"),
        };
        assert!(status < 500, "{file}: {status} {body}");
        assert_conforms(&method, &path, status, &body);
    }
}
