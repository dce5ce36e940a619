//! Lambda function run by an EventBridge schedule (hourly by default): one
//! renewal sweep (`custom_domains::flows::acme::renew::sweep`). Only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_scheduled("renewal-sweep", |app| async move {
        custom_domains::flows::acme::renew::sweep(&app).await
    })
    .await
}
