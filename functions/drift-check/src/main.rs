//! Lambda function run by an EventBridge schedule (hourly by default): one
//! round of DNS checks of the live hostnames that are due
//! (`custom_domains::flows::hostname::drift`). Only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_scheduled("drift-check", |app, _event| async move {
        custom_domains::flows::hostname::drift::drift_check(&app).await
    })
    .await
}
