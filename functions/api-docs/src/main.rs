//! Lambda function for the API's documentation: `GET /docs` (Swagger UI),
//! `GET /redoc` (ReDoc), their assets, and `GET /openapi.json`, without the
//! JWT authorizer. Only wires; the pages are in the library.

use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|req: Request| async move {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let scheme = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("https")
            .to_owned();
        let page = api_docs::respond(req.uri().path(), &format!("{scheme}://{host}"));
        Ok::<_, Error>(into_response(page))
    }))
    .await
}

fn into_response(page: api_docs::Page) -> Response<Body> {
    let mut builder = Response::builder()
        .status(page.status)
        .header("content-type", page.content_type)
        .header("cache-control", page.cache_control)
        .header("x-content-type-options", "nosniff");
    if let Some(csp) = page.content_security_policy {
        builder = builder.header("content-security-policy", csp);
    }
    builder
        .body(Body::Binary(page.body.into_owned()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
