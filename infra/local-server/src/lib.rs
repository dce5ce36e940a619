//! The local stand-in for API Gateway and EventBridge: every route of the
//! product on one port, with production's paths, dispatched to the handlers
//! the Lambda functions run; bearer tokens verified as API Gateway's JWT
//! authorizer would; and the scheduled jobs (the renewal sweep and the DNS
//! drift checks) run on an interval, as their EventBridge schedules run them
//! in AWS.
//!
//! Only `make dev`, `infra/token.sh` and the tests use this crate; the
//! Lambda functions never link it.

pub mod aws_rules;
pub mod cors;
pub mod direct;
pub mod iam;
pub mod router;
pub mod server;
pub mod token;

pub use cors::Cors;
pub use server::serve;
pub use token::LocalJwt;

use std::sync::Arc;
use std::time::Duration;

use custom_domains::App;

/// The application as a function builds it from the environment, its AWS
/// requests checked against each function's policy in `template.yaml`
/// (`iam`), as AWS's IAM checks them.
pub async fn app_from_env() -> Result<Arc<App>, Box<dyn std::error::Error>> {
    let policies = iam::Policies::from_template(include_str!("../../../template.yaml"), &|k| {
        std::env::var(k).ok()
    })?;
    let http = iam::Enforcing::new(custom_domains::app::aws_http_client()?, policies).shared();
    Ok(App::from_env_sending_through(http).await?)
}

/// Runs the renewal sweep and the DNS drift checks every `interval`, as the
/// `renewal-sweep` and `drift-check` functions' schedules do in AWS;
/// never returns.
pub async fn sweep_every(app: Arc<App>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let run = custom_domains::routes::scoped(
            "renewal-sweep",
            custom_domains::flows::acme::renew::sweep(&app),
        );
        if let Err(e) = run.await {
            tracing::warn!(code = e.code().as_str(), error = %e, "renewal sweep failed");
        }
        let run = custom_domains::routes::scoped(
            "drift-check",
            custom_domains::flows::hostname::drift::drift_check(&app),
        );
        if let Err(e) = run.await {
            tracing::warn!(code = e.code().as_str(), error = %e, "DNS checks failed");
        }
    }
}
