//! Lambda function for `POST /api/domain/complete-certificate/{org_id}`.
//! The handler lives in the library (`custom_domains::routes`); this binary only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_function("complete-certificate", |app, req| async move {
        custom_domains::routes::complete_certificate::handle(&app, req).await
    })
    .await
}
