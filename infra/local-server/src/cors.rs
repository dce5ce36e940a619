//! CORS as the HTTP API answers it (API Gateway's `CorsConfiguration`;
//! "Configuring CORS for an HTTP API" in the API Gateway developer guide):
//!
//! - a preflight (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) is answered by API Gateway itself,
//!   `204`, before any authorizer or route: with the grant
//!   (`Access-Control-Allow-Origin` naming the origin, the allowed methods
//!   and headers, `Access-Control-Max-Age`) when the origin is allowed, with
//!   none otherwise;
//! - any other request from an allowed origin gets
//!   `Access-Control-Allow-Origin` (and `Access-Control-Expose-Headers`)
//!   added to the function's answer; one from another origin gets nothing,
//!   so the browser keeps the answer from the page.
//!
//! Methods, headers, exposed headers and max age are read from
//! `template.yaml`'s `CorsConfiguration`, so the local server and the
//! deployed API cannot drift apart; the allowed origins are the template
//! parameter `CorsAllowedOrigins`, locally `CORS_ALLOWED_ORIGINS` (a comma
//! list; `make dev` allows `http://localhost:3000` unless told otherwise).

use hyper::header::{HeaderMap, HeaderValue};
use lambda_http::{Body, Response};

use crate::iam::policy::load_template;

/// The variable naming the allowed origins locally.
pub const ORIGINS_VARIABLE: &str = "CORS_ALLOWED_ORIGINS";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins (`scheme://host[:port]`), or `*`.
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    /// Lower case.
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<u64>,
}

/// Whether `origin` is an origin as a browser sends it: a scheme, a host,
/// maybe a port, and nothing else.
fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && origin.to_ascii_lowercase() == origin
}

impl Cors {
    /// The template's `CorsConfiguration` with `origins` allowed.
    pub fn from_template(text: &str, origins: &[String]) -> Result<Self, String> {
        let doc = load_template(text)?;
        let config = &doc["Resources"]["Api"]["Properties"]["CorsConfiguration"];
        if config.is_badvalue() {
            return Err("template.yaml's Api has no CorsConfiguration".into());
        }
        let list = |key: &str| -> Vec<String> {
            config[key]
                .as_vec()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        for origin in origins {
            if origin != "*" && !is_origin(origin) {
                return Err(format!(
                    "{ORIGINS_VARIABLE}: {origin:?} is not an origin (scheme://host[:port], lower case, no path)"
                ));
            }
        }
        Ok(Self {
            origins: origins.to_vec(),
            methods: list("AllowMethods"),
            headers: list("AllowHeaders")
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            expose: list("ExposeHeaders"),
            max_age: config["MaxAge"]
                .as_i64()
                .and_then(|n| u64::try_from(n).ok()),
        })
    }

    /// The template's configuration with the origins of
    /// `CORS_ALLOWED_ORIGINS` (none when unset).
    pub fn from_env() -> Result<Self, String> {
        let origins: Vec<String> = std::env::var(ORIGINS_VARIABLE)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        Self::from_template(include_str!("../../../template.yaml"), &origins)
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// API Gateway's own answer to a preflight, if `headers` with `method`
    /// make one.
    pub fn preflight(&self, method: &hyper::Method, headers: &HeaderMap) -> Option<Response<Body>> {
        let origin = headers.get("origin")?.to_str().ok()?;
        if method != hyper::Method::OPTIONS
            || !headers.contains_key("access-control-request-method")
        {
            return None;
        }
        let mut answer = Response::builder().status(204);
        if self.allows(origin) {
            let value = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
            answer = answer
                .header("access-control-allow-origin", value(origin))
                .header(
                    "access-control-allow-methods",
                    value(&self.methods.join(",")),
                )
                .header(
                    "access-control-allow-headers",
                    value(&self.headers.join(",")),
                );
            if let Some(age) = self.max_age {
                answer = answer.header("access-control-max-age", age);
            }
        }
        answer.body(Body::Empty).ok()
    }

    /// Adds the grant to a function's answer to a request from `origin`.
    pub fn grant(&self, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
        let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows(o))) else {
            return;
        };
        let headers = response.headers_mut();
        headers.insert("access-control-allow-origin", origin.clone());
        if !self.expose.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&self.expose.join(",")) {
                headers.insert("access-control-expose-headers", v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../template.yaml");

    #[test]
    fn origins_are_checked_and_the_template_gives_the_rest() {
        let cors = Cors::from_template(TEMPLATE, &["http://localhost:3000".into()]).unwrap();
        assert!(cors.headers.contains(&"authorization".to_owned()));
        assert!(cors.headers.contains(&"content-type".to_owned()));
        assert!(cors.max_age.is_some());
        for bad in [
            "localhost:3000",
            "http://localhost:3000/",
            "http://localhost:3000/app",
            "HTTP://LOCALHOST",
            "ftp://x",
        ] {
            assert!(
                Cors::from_template(TEMPLATE, &[bad.into()]).is_err(),
                "{bad} taken for an origin"
            );
        }
    }

    #[test]
    fn only_an_allowed_origin_gets_a_grant() {
        let cors = Cors::from_template(TEMPLATE, &["http://app.test:3000".into()]).unwrap();
        let preflight = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert("origin", HeaderValue::from_str(origin).unwrap());
            h.insert(
                "access-control-request-method",
                HeaderValue::from_static("POST"),
            );
            cors.preflight(&hyper::Method::OPTIONS, &h).unwrap()
        };
        let ok = preflight("http://app.test:3000");
        assert_eq!(ok.status(), 204);
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "http://app.test:3000"
        );
        let other = preflight("http://evil.test:3000");
        assert_eq!(other.status(), 204);
        assert!(!other.headers().contains_key("access-control-allow-origin"));
        // Not a preflight: an OPTIONS without the request method, or no origin.
        assert!(cors
            .preflight(&hyper::Method::OPTIONS, &HeaderMap::new())
            .is_none());
    }
}
