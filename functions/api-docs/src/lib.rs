//! The API's documentation pages: Swagger UI at `/docs` (authorize with a
//! bearer token, then "try it out" against the API), ReDoc at `/redoc`, and
//! the OpenAPI document itself at `/openapi.json`, the one the test suite
//! checks every response against, with `servers` set to where it is served.
//!
//! The assets are the published npm packages' own files (`swagger-ui-dist`,
//! `redoc`, versions pinned in `infra/setup.sh`), embedded at build time:
//! nothing is fetched from a CDN at run time, and each page's content
//! security policy allows nothing from elsewhere (inline scripts included:
//! the pages' own script is a file of its own).

use std::borrow::Cow;

/// One answer: status, headers that matter, body.
pub struct Page {
    pub status: u16,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub content_security_policy: Option<&'static str>,
    pub body: Cow<'static, [u8]>,
}

/// The paths served (all `GET`), as the SAM template routes them to this
/// function, with no authorizer (the template test checks both).
pub const PATHS: &[&str] = &[
    "/docs",
    "/docs/{asset}",
    "/redoc",
    "/redoc/{asset}",
    "/openapi.json",
];

const OPENAPI: &str = include_str!("../../../openapi.json");
const VERSIONS: &str = include_str!("../../../.local/docs-assets/VERSIONS");

/// Nothing from elsewhere. ReDoc and Swagger UI set styles inline and
/// ReDoc runs its search in a worker made from a blob.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Assets change only with their pinned versions: cached for a day.
const ASSET_CACHE: &str = "public, max-age=86400";
/// Pages and the document: always revalidated.
const PAGE_CACHE: &str = "no-cache";

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>custom-domains API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"#;

const DOCS_INIT: &str = r##"window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  validatorUrl: null
});
"##;

const REDOC_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>custom-domains API</title>
<link rel="icon" href="data:,">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
"#;

impl Page {
    /// The HTTP answer, with its headers (the function and the local
    /// server both answer with this).
    pub fn into_response(self) -> lambda_http::Response<lambda_http::Body> {
        let mut builder = lambda_http::Response::builder()
            .status(self.status)
            .header("content-type", self.content_type)
            .header("cache-control", self.cache_control)
            .header("x-content-type-options", "nosniff");
        if let Some(csp) = self.content_security_policy {
            builder = builder.header("content-security-policy", csp);
        }
        builder
            .body(lambda_http::Body::Binary(self.body.into_owned()))
            .unwrap_or_else(|_| lambda_http::Response::new(lambda_http::Body::Empty))
    }
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Page {
    Page {
        status: 200,
        content_type,
        cache_control: ASSET_CACHE,
        content_security_policy: None,
        body: Cow::Borrowed(body),
    }
}

fn html(body: &'static str) -> Page {
    Page {
        status: 200,
        content_type: "text/html; charset=utf-8",
        cache_control: PAGE_CACHE,
        content_security_policy: Some(CSP),
        body: Cow::Borrowed(body.as_bytes()),
    }
}

/// The answer for `path`, with `base_url` (`https://api.example.com`) as
/// the document's server. Unknown paths are a JSON 404 in the API's error
/// shape.
pub fn respond(path: &str, base_url: &str) -> Page {
    match path.trim_end_matches('/') {
        "/docs" => html(DOCS_HTML),
        "/redoc" => html(REDOC_HTML),
        "/docs/init.js" => asset("text/javascript; charset=utf-8", DOCS_INIT.as_bytes()),
        "/docs/swagger-ui.css" => asset(
            "text/css; charset=utf-8",
            include_bytes!("../../../.local/docs-assets/swagger-ui.css"),
        ),
        "/docs/swagger-ui-bundle.js" => asset(
            "text/javascript; charset=utf-8",
            include_bytes!("../../../.local/docs-assets/swagger-ui-bundle.js"),
        ),
        "/docs/swagger-ui-standalone-preset.js" => asset(
            "text/javascript; charset=utf-8",
            include_bytes!("../../../.local/docs-assets/swagger-ui-standalone-preset.js"),
        ),
        "/redoc/redoc.standalone.js" => asset(
            "text/javascript; charset=utf-8",
            include_bytes!("../../../.local/docs-assets/redoc.standalone.js"),
        ),
        "/openapi.json" => Page {
            status: 200,
            content_type: "application/json",
            cache_control: PAGE_CACHE,
            content_security_policy: None,
            body: Cow::Owned(document(base_url)),
        },
        other => Page {
            status: 404,
            content_type: "application/json",
            cache_control: PAGE_CACHE,
            content_security_policy: None,
            body: Cow::Owned(
                serde_json::json!({
                    "status": "error",
                    "code": "not_found",
                    "message": format!("no documentation at {other}"),
                })
                .to_string()
                .into_bytes(),
            ),
        },
    }
}

/// The OpenAPI document, served from `base_url`.
pub fn document(base_url: &str) -> Vec<u8> {
    let mut doc: serde_json::Value =
        serde_json::from_str(OPENAPI).unwrap_or(serde_json::Value::Null);
    if let Some(map) = doc.as_object_mut() {
        map.insert(
            "servers".into(),
            serde_json::json!([{ "url": base_url, "description": format!("this deployment (docs assets: {})", VERSIONS.trim()) }]),
        );
    }
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_assets_and_document_are_served_with_their_types() {
        let docs = respond("/docs", "http://127.0.0.1:9000");
        assert_eq!(
            (docs.status, docs.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert!(docs
            .content_security_policy
            .unwrap()
            .contains("default-src 'none'"));
        let html = String::from_utf8(docs.body.to_vec()).unwrap();
        assert!(!html.contains("<script>"), "no inline script");
        for path in [
            "/docs/swagger-ui-bundle.js",
            "/docs/init.js",
            "/redoc/redoc.standalone.js",
        ] {
            let page = respond(path, "x");
            assert_eq!(page.status, 200, "{path}");
            assert!(page.content_type.starts_with("text/javascript"));
            assert!(page.body.len() > 10);
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&respond("/openapi.json", "https://api.example.com").body)
                .unwrap();
        assert_eq!(doc["servers"][0]["url"], "https://api.example.com");
        assert!(doc["paths"].as_object().unwrap().len() >= 8);
        assert_eq!(respond("/docs/../../etc/passwd", "x").status, 404);
    }
}
