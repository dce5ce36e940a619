//! The floor for `make bench-cold`: a hello-world Lambda function on the
//! same runtime crate and release profile as the product's functions, doing
//! nothing but answering. It starts tokio as `#[tokio::main]` does (a worker
//! thread per core), as `lambda_runtime`'s examples write it; with
//! `HELLO_RUNTIME=current_thread` on the current-thread runtime the
//! product's functions use, which the benchmark measures too.

fn main() -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    let mut runtime = if std::env::var_os("HELLO_RUNTIME").is_some_and(|v| v == "current_thread") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run(lambda_runtime::service_fn(
            |_event: LambdaEvent<serde_json::Value>| async move {
                Ok::<_, lambda_http::Error>(
                    serde_json::json!({ "statusCode": 200, "body": "hello" }),
                )
            },
        )))
}
