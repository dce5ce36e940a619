//! Lambda function run by an EventBridge schedule (hourly by default): one
//! renewal sweep (`custom_domains::flows::acme::renew::sweep`). Invoked by
//! the platform with `{"renew_now": "<hostname>"}`, it renews that one
//! hostname at once, whichever tenant owns it
//! (`custom_domains::flows::acme::renew::run`). Only wires.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    custom_domains::run_scheduled("renewal-sweep", |app, event| async move {
        custom_domains::flows::acme::renew::run(&app, &event).await
    })
    .await
}
