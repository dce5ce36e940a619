//! The OpenAPI document, checked against what the handlers really answer:
//! every response any test receives passes through [`assert_conforms`].

use serde_json::Value;

pub fn document() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("../../../../openapi.json")).expect("openapi.json parses")
    })
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref");
            resolve(
                root,
                root.pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {r}")),
            )
        }
        None => v,
    }
}

/// Checks `value` against `schema`, one of the document's schemas (OpenAPI
/// 3.1's are JSON Schema 2020-12), with the `jsonschema` crate: the
/// schema's local `$ref`s resolve into the document's `components`.
pub fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    static VALIDATORS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
    > = std::sync::OnceLock::new();
    let key = schema.to_string();
    let cache = VALIDATORS.get_or_init(Default::default);
    let cached = cache.lock().unwrap().get(&key).cloned();
    let validator = match cached {
        Some(v) => v,
        None => {
            let mut wrapped = serde_json::json!({ "allOf": [schema] });
            wrapped["components"] = document()["components"].clone();
            let built = std::sync::Arc::new(
                jsonschema::draft202012::new(&wrapped)
                    .unwrap_or_else(|e| panic!("openapi.json schema {schema}: {e}")),
            );
            cache.lock().unwrap().insert(key, built.clone());
            built
        }
    };
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{at}{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Panics unless the document lists this response for the route that
/// serves `path`, with a schema the body matches. Paths no route serves
/// (the 404 for an unknown route) are not checked.
pub fn assert_conforms(method: &str, path: &str, status: u16, body: &Value) {
    let Ok(m) = method.parse::<lambda_http::http::Method>() else {
        return;
    };
    let Some((route, _)) = local_server::router::match_route(&m, path) else {
        return;
    };
    let root = document();
    let operation = root["paths"][route.path][method.to_ascii_lowercase()].clone();
    assert!(
        operation.is_object(),
        "openapi.json has no {method} {}",
        route.path
    );
    let response = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| {
            panic!(
                "openapi.json does not document {status} for {method} {}: {body}",
                route.path
            )
        });
    let schema = &resolve(root, response)["content"]["application/json"]["schema"];
    if let Err(e) = check(schema, body, "body") {
        panic!(
            "{method} {} answered {status} not as openapi.json says: {e}\n{body}",
            route.path
        );
    }
}
