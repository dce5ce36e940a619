//! Lambda function for `GET /api/domain/status/{org_id}`.
//! The handler lives in the library (`custom_domains::routes`); this binary only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_function("certificate-status", |app, req| async move {
        custom_domains::routes::certificate_status::handle(&app, req).await
    })
    .await
}
