//! Lambda function for `GET /domains`.
//! The handler lives in the library (`custom_domains::routes`); this binary only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_function("list-domains", |app, req| async move {
        custom_domains::routes::list_domains::handle(&app, req).await
    })
    .await
}
