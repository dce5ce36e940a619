//! Which route a request is for: API Gateway's path matching, for the local
//! server.

use std::sync::OnceLock;

use custom_domains::routes::{Route, ROUTES};
use lambda_http::http::Method;

/// Every route's path in a `matchit` router (the one axum uses), whose
/// `{name}` parameters are API Gateway's syntax; each path maps to its
/// routes by method.
fn router() -> &'static matchit::Router<Vec<Route>> {
    static ROUTER: OnceLock<matchit::Router<Vec<Route>>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut by_path: Vec<(&str, Vec<Route>)> = Vec::new();
        for route in ROUTES {
            match by_path.iter_mut().find(|(p, _)| *p == route.path) {
                Some((_, routes)) => routes.push(*route),
                None => by_path.push((route.path, vec![*route])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, routes) in by_path {
            router
                .insert(path, routes)
                .unwrap_or_else(|e| panic!("route {path}: {e}"));
        }
        router
    })
}

/// Finds the route for a method and path; answers it with its path
/// parameters, percent-decoded (as API Gateway passes them).
pub fn match_route(method: &Method, path: &str) -> Option<(Route, Vec<(String, String)>)> {
    let matched = router().at(path.trim_end_matches('/')).ok()?;
    let route = matched.value.iter().find(|r| r.method == method.as_str())?;
    let params = matched
        .params
        .iter()
        .map(|(name, value)| (name.to_owned(), percent_decode(value)))
        .collect();
    Some((*route, params))
}

/// Decodes `%XX` escapes (as API Gateway does for path and query values).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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
