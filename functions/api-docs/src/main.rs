//! Lambda function for the API's documentation: `GET /docs` (Swagger UI),
//! `GET /redoc` (ReDoc), their assets, and `GET /openapi.json`, without the
//! JWT authorizer. Only wires; the pages are in the library.

use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
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
        Ok::<_, Error>(page.into_response())
    }))
    .await
}
