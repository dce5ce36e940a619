//! The floor for `make bench-cold`: a hello-world Lambda function on the
//! same runtime crate and release profile as the product's functions, doing
//! nothing but answering.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    lambda_runtime::run(lambda_runtime::service_fn(
        |_event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_http::Error>(serde_json::json!({ "statusCode": 200, "body": "hello" }))
        },
    ))
    .await
}
