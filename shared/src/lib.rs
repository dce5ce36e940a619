//! Custom domains with working HTTPS for a SaaS platform's tenants.
//!
//! Where things live:
//! - [`routes`]: the HTTP API, one module per route, and the route table.
//! - [`flows`]: what each route does, step by step; every state transition (by path: acme, acm, hostname).
//! - [`domain`]: validated types (hostnames, tenants) and the order's state machine.
//! - [`adapters`]: one module per outside system (DynamoDB, KMS, ACME, DNS, ACM, CloudFront).
//! - [`app`]: the clients, built once per Lambda container.
//! - [`auth`]: who is calling, and whether they may touch a tenant's things.
//! - [`config`]: the environment variables, read once.
//! - [`metrics`]: the CloudWatch metrics (Embedded Metric Format lines).
//! - `random`: randomness that is no secret (jitter, spread), for flows and adapters alike.
//!
//! The local server (every route on one port, local tokens) is not here: it
//! lives in `infra/local-server`, so the Lambda functions never link it.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod flows;
pub mod metrics;
mod random;
pub mod routes;

pub use app::App;
pub use error::Error;

/// Logging for a function or the local server: JSON when running in Lambda
/// (so CloudWatch can index fields), plain text otherwise; the level as
/// [`log_filter`] chooses it.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let var = |name| std::env::var(name).ok();
    let filter = EnvFilter::try_new(log_filter(
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        var("RUST_LOG").as_deref(),
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
    let _ = result;
}

/// The log filter: Lambda's `AWS_LAMBDA_LOG_LEVEL` (set from the
/// function's `LoggingConfig.ApplicationLogLevel`, as the runtime's own
/// subscriber reads it; `FATAL` is `error` here), else `RUST_LOG` (locally),
/// else `info`.
pub fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    fn nonempty(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    match (nonempty(lambda_level), nonempty(rust_log)) {
        (Some(level), _) => match level.to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            other => other.to_owned(),
        },
        (None, Some(filter)) => filter.to_owned(),
        (None, None) => "info".to_owned(),
    }
}

/// The body of every function's `main`: build the application once, then
/// serve `handler`, the one route of `function`, with it. Naming the handler
/// (rather than dispatching by name) lets the linker drop every other
/// route's code, and the SDK operations only they call, from the binary.
///
/// Every function's `main` runs this on tokio's current-thread runtime.
/// Lambda hands a container one invocation at a time (`lambda_runtime::run`
/// polls for the next only once the last is answered), so worker threads
/// would have nothing to run in parallel; starting them (one per core, each
/// with its own stack and malloc arena) cost init time and memory for
/// nothing. The calls of one invocation still overlap, as tasks on the one
/// thread; and they run on the main thread's stack (the process's stack
/// limit, `ulimit -s`) rather than a worker's 2 MiB.
pub async fn run_function<F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(std::sync::Arc<App>, lambda_http::Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<lambda_http::Response<lambda_http::Body>, Error>>
        + Send,
{
    init_tracing();
    let app = App::from_env().await?;
    let handler = std::sync::Arc::new(handler);
    lambda_http::run(lambda_http::service_fn(move |req| {
        let (app, handler) = (app.clone(), handler.clone());
        async move {
            Ok::<_, std::convert::Infallible>(routes::serve_as(function, handler(app, req)).await)
        }
    }))
    .await
}

/// The body of a scheduled function's `main` (EventBridge invokes it with a
/// scheduled event, which it ignores): build the application once, then run
/// `job` on every invocation, as the function `function`. The job's report
/// is the invocation's result, so it shows in the Lambda console and logs.
pub async fn run_scheduled<F, Fut, T>(
    function: &'static str,
    job: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(std::sync::Arc<App>, serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, Error>> + Send,
    T: serde::Serialize,
{
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    init_tracing();
    let app = App::from_env().await?;
    let job = std::sync::Arc::new(job);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<serde_json::Value>| {
            let (app, job) = (app.clone(), job.clone());
            async move {
                // Type-erased: a job's future (a sweep driving orders, a
                // drift check releasing hostnames) is deep enough that the
                // compiler's layout computation of the runtime's future would
                // pass its recursion limit.
                let work: std::pin::Pin<
                    Box<dyn std::future::Future<Output = Result<T, Error>> + Send>,
                > = Box::pin(job(app, event.payload));
                let report = routes::scoped(function, work).await?;
                serde_json::to_value(report).map_err(lambda_http::Error::from)
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_level_comes_from_lambda_then_rust_log() {
        use super::log_filter;
        assert_eq!(log_filter(Some("DEBUG"), Some("trace")), "debug");
        assert_eq!(log_filter(Some("FATAL"), None), "error");
        assert_eq!(
            log_filter(Some(""), Some("warn,custom_domains=debug")),
            "warn,custom_domains=debug"
        );
        assert_eq!(log_filter(None, None), "info");
    }
}
