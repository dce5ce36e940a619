//! The OpenAPI document and the route table describe the same API. (Each
//! response's shape is checked on every call the suite makes; see
//! `support::openapi`.)

use std::collections::BTreeSet;

use custom_domains::routes::ROUTES;

use crate::support::openapi::{check, document};

#[test]
fn every_route_is_documented_and_every_documented_path_is_served() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        let params: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_path: BTreeSet<&str> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(params, in_path, "{} {}", route.method, route.path);
    }
}

#[test]
fn the_checker_refuses_what_the_document_does_not_allow() {
    let schema = serde_json::json!({ "$ref": "#/components/schemas/Error" });
    assert!(check(
        &schema,
        &serde_json::json!({"status": "error", "code": "not_found", "message": "m"}),
        "b"
    )
    .is_ok());
    for bad in [
        serde_json::json!({"status": "error", "code": "not_found"}),
        serde_json::json!({"status": "error", "code": "no_such_code", "message": "m"}),
        serde_json::json!({"status": "error", "code": "not_found", "message": "m", "extra": 1}),
        serde_json::json!({"status": "error", "code": "not_found", "message": 5}),
    ] {
        assert!(check(&schema, &bad, "b").is_err(), "{bad}");
    }
}
