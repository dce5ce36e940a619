//! The local server: every route of `custom_domains::routes::ROUTES` on one port,
//! with the same paths as API Gateway, dispatched to the same handlers the
//! Lambda functions run. Used by `make dev` (through the `local-server`
//! binary) and by the tests.
//!
//! It does what API Gateway does in front of the functions: it verifies the
//! bearer token (with [`LocalJwt`], as the JWT authorizer would), answers
//! 401 itself when there is none, and passes the verified claims in the
//! request context, where the handlers read the caller's tenant. It
//! answers CORS as the HTTP API's `CorsConfiguration` does ([`Cors`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt, Response};
use tokio::net::TcpListener;

use custom_domains::routes::{dispatch, error_response, MAX_BODY_BYTES};
use custom_domains::{App, Error};

use crate::cors::Cors;
use crate::router::{match_route, percent_decode};
use crate::token::LocalJwt;

/// Serves until the listener fails or the task is dropped.
pub async fn serve(
    app: Arc<App>,
    auth: LocalJwt,
    cors: Cors,
    listener: TcpListener,
) -> std::io::Result<()> {
    let (auth, cors) = (Arc::new(auth), Arc::new(cors));
    loop {
        let (stream, _) = listener.accept().await?;
        let (app, auth, cors) = (app.clone(), auth.clone(), cors.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (app, auth, cors) = (app.clone(), auth.clone(), cors.clone());
                async move { Ok::<_, Infallible>(handle(&app, &auth, &cors, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    app: &App,
    auth: &LocalJwt,
    cors: &Cors,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    // API Gateway answers a preflight itself, before the authorizer.
    if let Some(answer) = cors.preflight(req.method(), req.headers()) {
        return into_hyper(answer);
    }
    let origin = req.headers().get("origin").cloned();
    let mut response = answer(app, auth, req).await;
    cors.grant(origin.as_ref(), &mut response);
    into_hyper(response)
}

/// `GET /docs`, `/redoc`, their assets and `/openapi.json`, served by the
/// api-docs function's own code, with the document's server set to this one.
fn documentation(parts: &hyper::http::request::Parts) -> Option<Response<Body>> {
    let path = parts.uri.path();
    let documented = path == "/docs"
        || path == "/redoc"
        || path == "/openapi.json"
        || path.starts_with("/docs/")
        || path.starts_with("/redoc/");
    if parts.method != hyper::Method::GET || !documented {
        return None;
    }
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9000");
    Some(api_docs::respond(path, &format!("http://{host}")).into_response())
}

/// What API Gateway and the function together answer to `req`.
async fn answer(app: &App, auth: &LocalJwt, req: hyper::Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let Ok(collected) = Limited::new(body, MAX_BODY_BYTES + 1).collect().await else {
        return error_response(&Error::validation(
            custom_domains::error::Code::BodyTooLarge,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    };
    // The documentation is public (no authorizer in front of it in AWS).
    if let Some(page) = documentation(&parts) {
        return page;
    }
    let Some((route, params)) = match_route(&parts.method, parts.uri.path()) else {
        let (method, path) = (&parts.method, parts.uri.path());
        return error_response(&Error::NotFound(format!("no route for {method} {path}")));
    };
    let context = match verify(auth, &parts) {
        Ok(context) => context,
        Err(e) => return error_response(&e),
    };
    let query = query_parameters(parts.uri.query().unwrap_or_default());
    let bytes = collected.to_bytes();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let req = lambda_http::http::Request::from_parts(parts, body)
        .with_path_parameters(params.into_iter().collect::<HashMap<_, _>>())
        .with_query_string_parameters(query)
        .with_request_context(context);
    dispatch(app, route.function, req).await
}

/// Query parameters, decoded as API Gateway decodes them.
fn query_parameters(query: &str) -> HashMap<String, String> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn into_hyper(response: Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Verifies the bearer token and builds the request context API Gateway
/// would pass after its JWT authorizer.
fn verify(auth: &LocalJwt, parts: &hyper::http::request::Parts) -> Result<RequestContext, Error> {
    let header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let claims = auth.verify(header)?;
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = claims;
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    context.stage = Some("$default".to_owned());
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_owned());
    Ok(RequestContext::ApiGatewayV2(context))
}
