//! Lambda function for `GET /operator/usage`.
//! The handler lives in the library (`custom_domains::routes`); this binary only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_function("operator-usage", |app, req| async move {
        custom_domains::routes::operator_usage::handle(&app, req).await
    })
    .await
}
