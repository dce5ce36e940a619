//! Which route a request is for: API Gateway's path matching, for the local
//! server.

use custom_domains::routes::{Route, ROUTES};
use lambda_http::http::Method;

/// Finds the route for a method and path; answers it with its path
/// parameters.
pub fn match_route(method: &Method, path: &str) -> Option<(Route, Vec<(String, String)>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    'routes: for route in ROUTES {
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        for (p, s) in pattern.iter().zip(&segments) {
            if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if s.is_empty() {
                    continue 'routes;
                }
                params.push((name.to_owned(), percent_decode(s)));
            } else if p != s {
                continue 'routes;
            }
        }
        if route.method != method.as_str() {
            continue;
        }
        return Some((*route, params));
    }
    None
}

/// Decodes `%XX` escapes (as API Gateway does for path and query values).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_parameters() {
        let (route, params) =
            match_route(&Method::POST, "/api/domain/start-certificate/org%2D1").unwrap();
        assert_eq!(route.function, "start-certificate");
        assert_eq!(params, vec![("org_id".to_string(), "org-1".to_string())]);
        assert!(match_route(&Method::GET, "/api/domain/start-certificate/org-1").is_none());
        assert!(match_route(&Method::POST, "/api/domain/start-certificate/").is_none());
        assert!(match_route(&Method::POST, "/nope").is_none());
    }
}
