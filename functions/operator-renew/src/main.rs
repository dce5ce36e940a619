//! Lambda function for `POST /operator/hostnames/{domain}/renew`.
//! The handler lives in the library (`custom_domains::routes`); this binary only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_function("operator-renew", |app, req| async move {
        custom_domains::routes::operator_renew::handle(&app, req).await
    })
    .await
}
