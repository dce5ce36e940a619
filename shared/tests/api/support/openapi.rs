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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `value` against `schema` (the subset of JSON Schema the document
/// uses: $ref, type, enum, required, properties, additionalProperties, items).
pub fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let root = document();
    let schema = resolve(root, schema);
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = type_name(value);
        if !allowed
            .iter()
            .any(|a| *a == actual || (*a == "number" && actual == "integer"))
        {
            return Err(format!(
                "{at}: expected {allowed:?}, got {actual} ({value})"
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return Err(format!("{at}: {value} is not one of {options:?}"));
        }
    }
    if let Value::Object(map) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = req.as_str().unwrap_or_default();
            if !map.contains_key(name) {
                return Err(format!("{at}: required field {name} missing"));
            }
        }
        for (k, v) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, v, &format!("{at}.{k}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: undocumented field {k}"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(s, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
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
