//! The HTTP API: the route table, request parsing and the response shape.
//!
//! Every route is listed once in [`ROUTES`] and has one module here whose
//! `handle` serves it. A Lambda binary runs its one handler through
//! [`serve_as`]; the local server (`infra/local-server`) and the tests reach
//! the same handlers through [`dispatch`]; the template and OpenAPI tests
//! read [`ROUTES`].
//! Handlers authenticate the caller, parse the request into domain types,
//! call one flow and map its result; they hold no SDK types.
//!
//! Error bodies have one shape on every route:
//! `{"status": "error", "code": "<stable_code>", "message": "<for people>"}`,
//! plus `details` where the error has structured facts to give.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::app::App;
use crate::domain::DomainName;
use crate::error::Code;
use crate::error::Error;

pub mod certificate_status;
pub mod complete_certificate;
pub mod dns_view;
pub mod domain_status;
pub mod list_domains;
pub(crate) mod managed_view;
pub mod operator_hostnames;
pub mod operator_renew;
pub mod operator_usage;
pub mod release_domain;
pub mod renew_certificate;
pub mod request_domain;
pub mod start_certificate;
pub mod update_domain;

/// Bodies larger than this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// One HTTP route and the Lambda function that serves it.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway's path syntax: `{name}` for a path parameter.
    pub path: &'static str,
    /// The function crate (and binary) under `functions/`.
    pub function: &'static str,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/domain/start-certificate/{org_id}",
        function: "start-certificate",
    },
    Route {
        method: "POST",
        path: "/api/domain/complete-certificate/{org_id}",
        function: "complete-certificate",
    },
    Route {
        method: "POST",
        path: "/api/domain/renew-certificate/{org_id}",
        function: "renew-certificate",
    },
    Route {
        method: "GET",
        path: "/api/domain/status/{org_id}",
        function: "certificate-status",
    },
    Route {
        method: "GET",
        path: "/domains",
        function: "list-domains",
    },
    Route {
        method: "POST",
        path: "/domains/request",
        function: "request-domain",
    },
    Route {
        method: "GET",
        path: "/domains/status/{request_id}",
        function: "domain-status",
    },
    Route {
        method: "DELETE",
        path: "/domains/{domain}",
        function: "release-domain",
    },
    Route {
        method: "PATCH",
        path: "/domains/{domain}",
        function: "update-domain",
    },
    Route {
        method: "GET",
        path: "/operator/hostnames",
        function: "operator-hostnames",
    },
    Route {
        method: "POST",
        path: "/operator/hostnames/{domain}/renew",
        function: "operator-renew",
    },
    Route {
        method: "GET",
        path: "/operator/usage",
        function: "operator-usage",
    },
];

/// Functions run by a schedule, not by a route (the function crate and
/// binary under `functions/`): the template test requires each to have a
/// schedule event.
pub const SCHEDULED: &[&str] = &["renewal-sweep", "drift-check"];

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// The function whose handler is running in this task, if any: lets the
/// tests attribute every AWS call to the function that made it, which is
/// how the SAM template's policies are checked against the code.
pub fn current_function() -> Option<&'static str> {
    FUNCTION.try_with(|f| *f).ok()
}

/// Runs the handler of `function` on a request, as its Lambda would.
pub async fn dispatch(app: &App, function: &str, req: Request) -> Response<Body> {
    let Some(route) = ROUTES.iter().find(|r| r.function == function) else {
        return error_response(&Error::Internal(format!(
            "no handler for function {function}"
        )));
    };
    let started = std::time::Instant::now();
    let response = FUNCTION
        .scope(route.function, run(app, route.function, req))
        .await;
    measured(route.function, started, response)
}

/// Records a route call's metrics (`crate::metrics`) and writes them, as
/// the invocation ends.
fn measured(
    function: &'static str,
    started: std::time::Instant,
    response: Response<Body>,
) -> Response<Body> {
    crate::metrics::request(function, response.status().as_u16(), started.elapsed());
    crate::metrics::flush();
    response
}

/// Runs `work` as the function `function` (so its AWS calls are attributed
/// to it), then writes the metrics it recorded: what a scheduled function
/// does, and the local server for the scheduled sweep.
pub async fn scoped<F: std::future::Future>(function: &'static str, work: F) -> F::Output {
    use tracing::Instrument;
    let output = FUNCTION
        .scope(function, work)
        .instrument(tracing::info_span!("function", name = function))
        .await;
    crate::metrics::flush();
    output
}

/// Runs one handler's future as the function `function` (what a Lambda
/// binary does for its one route): attributes its AWS calls to the
/// function and turns an error into the error response.
pub async fn serve_as(
    function: &'static str,
    handler: impl std::future::Future<Output = Result<Response<Body>, Error>>,
) -> Response<Body> {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let response = FUNCTION
        .scope(function, async move {
            handler.await.unwrap_or_else(|e| error_response(&e))
        })
        .instrument(tracing::info_span!("function", name = function))
        .await;
    measured(function, started, response)
}

async fn run(app: &App, function: &'static str, req: Request) -> Response<Body> {
    let result = match function {
        "start-certificate" => start_certificate::handle(app, req).await,
        "complete-certificate" => complete_certificate::handle(app, req).await,
        "request-domain" => request_domain::handle(app, req).await,
        "domain-status" => domain_status::handle(app, req).await,
        "release-domain" => release_domain::handle(app, req).await,
        "update-domain" => update_domain::handle(app, req).await,
        "operator-hostnames" => operator_hostnames::handle(app, req).await,
        "operator-renew" => operator_renew::handle(app, req).await,
        "operator-usage" => operator_usage::handle(app, req).await,
        "renew-certificate" => renew_certificate::handle(app, req).await,
        "certificate-status" => certificate_status::handle(app, req).await,
        "list-domains" => list_domains::handle(app, req).await,
        other => Err(Error::Internal(format!("no handler for function {other}"))),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// A hostname a tenant may claim: a valid [`DomainName`] that is not one of
/// the platform's own domains (`PLATFORM_DOMAINS`) or under one of them.
pub(crate) fn tenant_domain(app: &App, input: &str) -> Result<DomainName, Error> {
    let domain = DomainName::parse(input)?;
    let reserved = app
        .config
        .platform_domains
        .iter()
        .find(|p| domain.as_str() == p.as_str() || domain.as_str().ends_with(&format!(".{p}")));
    if let Some(p) = reserved {
        return Err(Error::validation(
            Code::ReservedDomain,
            format!("{domain} is the platform's own domain {p} or under it"),
        ));
    }
    Ok(domain)
}

/// A hostname a route acts on that `tenant` may hold already: accepted as
/// [`tenant_domain`] accepts a new one, or, when today's rules refuse it (a
/// newer Public Suffix List, say), as stored, if `tenant` holds it: a name
/// accepted under older rules stays releasable and renewable.
pub(crate) async fn held_domain(
    app: &App,
    tenant: &crate::domain::TenantId,
    input: &str,
) -> Result<DomainName, Error> {
    let refused = match tenant_domain(app, input) {
        Ok(domain) => return Ok(domain),
        Err(refused) => refused,
    };
    let lower = input.trim_end_matches('.').to_ascii_lowercase();
    let Ok(stored) = DomainName::stored(&lower) else {
        return Err(refused);
    };
    match app.store.owner_of(&stored).await? {
        Some(owner) if &owner == tenant => Ok(stored),
        _ => Err(refused),
    }
}

/// A list route's `limit`: `default` when not given, else 1 to
/// [`MAX_PAGE`](crate::flows::hostname::status::MAX_PAGE).
pub(crate) fn page_limit(given: Option<&str>, default: usize) -> Result<usize, Error> {
    use crate::flows::hostname::status::MAX_PAGE;
    match given {
        None => Ok(default),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::validation(Code::InvalidLimit, format!("limit must be 1 to {MAX_PAGE}"))
            }),
    }
}

/// A path parameter API Gateway (or the local server) extracted.
pub fn path_param(req: &Request, name: &str) -> Result<String, Error> {
    req.path_parameters()
        .first(name)
        .map(str::to_owned)
        .ok_or_else(|| Error::validation(Code::MissingParameter, format!("the path has no {name}")))
}

/// Parses a JSON body. Rules: at most [`MAX_BODY_BYTES`]; a `Content-Type`
/// other than `application/json` is refused; unknown fields are refused (the
/// request types use `deny_unknown_fields`), so a misspelt field is an error
/// rather than silently ignored.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    if let Some(ct) = req.headers().get("content-type") {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let media_type = ct.split(';').next().unwrap_or_default().trim();
        if media_type != "application/json" {
            return Err(Error::validation(
                Code::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
    }
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::validation(
            Code::BodyTooLarge,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::validation(
            Code::InvalidJson,
            "the request needs a JSON body",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Error::validation(
            Code::InvalidJson,
            format!("the body is not the expected JSON: {e}"),
        )
    })
}

pub fn json_response(status: u16, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::Text(text))
        .unwrap_or_default()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
}

/// The response for an error; server-side failures are logged with their
/// whole source chain, which never reaches the body.
pub fn error_response(e: &Error) -> Response<Body> {
    let status = e.status();
    if status >= 500 {
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(code = e.code().as_str(), error = %chain, "request failed");
    } else {
        tracing::info!(code = e.code().as_str(), status, "request refused");
    }
    let mut response = json_response(
        status,
        &ErrorBody {
            status: "error",
            code: e.code().as_str(),
            message: e.public_message(),
            details: e.details(),
        },
    );
    if let Some(seconds) = e.retry_after() {
        if let Ok(v) = lambda_http::http::HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert("retry-after", v);
        }
    }
    response
}
