//! The local server: every route of [`crate::routes::ROUTES`] on one port,
//! with the same paths as API Gateway, dispatched to the same handlers the
//! Lambda functions run. Used by `make dev` (through the `local-server`
//! binary) and by the tests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lambda_http::{Body, RequestExt};
use tokio::net::TcpListener;

use crate::app::App;
use crate::error::Error;
use crate::routes::{dispatch, error_response, match_route, percent_decode, MAX_BODY_BYTES};

/// Serves until the listener fails or the task is dropped.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(app: &App, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let response = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Err(_) => error_response(&Error::validation(
            "body_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )),
        Ok(collected) => {
            let bytes = collected.to_bytes();
            match match_route(&parts.method, parts.uri.path()) {
                None => error_response(&Error::NotFound(format!(
                    "no route for {} {}",
                    parts.method,
                    parts.uri.path()
                ))),
                Some((route, params)) => {
                    let query: HashMap<String, String> = parts
                        .uri
                        .query()
                        .unwrap_or_default()
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| {
                            (
                                percent_decode(&k.replace('+', " ")),
                                percent_decode(&v.replace('+', " ")),
                            )
                        })
                        .collect();
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
                        .with_query_string_parameters(query);
                    dispatch(app, route.function, req).await
                }
            }
        }
    };
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
