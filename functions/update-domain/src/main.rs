//! Lambda function for `PATCH /domains/{domain}`.
//! The handler lives in the library (`custom_domains::routes`); this binary only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_function("update-domain", |app, req| async move {
        custom_domains::routes::update_domain::handle(&app, req).await
    })
    .await
}
