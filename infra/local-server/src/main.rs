//! The local server: every route of the product on one port (default
//! `127.0.0.1:9000`, or `LOCAL_ADDR`), with production's paths, running the
//! handlers the Lambda functions run, and the scheduled jobs (the renewal
//! sweep and the DNS drift checks) every `LOCAL_SWEEP_INTERVAL_MS` (default
//! 60 s; 0 turns them off). Configured by
//! the same environment variables as the functions, plus
//! `LOCAL_JWT_SECRET_FILE`, the signing key it verifies bearer tokens with;
//! `make dev` sets them for the local stack.
//!
//! `local-server token <tenant>` prints a token for `tenant`, valid a day,
//! signed with that key (the claim is `TENANT_CLAIM`, default `tenant_id`).
//! `local-server sweep` runs one renewal sweep and prints its report;
//! `local-server drift-check` runs one round of DNS drift checks;
//! `local-server renew <hostname>` renews one hostname at once, whichever
//! tenant owns it (the platform's renew-now, as the renewal-sweep function
//! invoked with `{"renew_now": "<hostname>"}`).

use std::net::SocketAddr;
use std::time::Duration;

use local_server::LocalJwt;

/// Worker threads get 8 MiB of stack: the server is built unoptimised
/// (`make dev`, the tests), and unoptimised futures of a whole issuance
/// nest deeper than the default 2 MiB allows. The Lambda functions are
/// release builds on the current-thread runtime (the main thread's stack);
/// `make bench-cold` drives a whole issuance through them with 1 MiB.
const STACK: usize = 8 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK)
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["token", "--operator", name] => {
            let auth = LocalJwt::from_env()?;
            let config = custom_domains::config::Config::from_env()?;
            println!("{}", auth.mint_operator(&config.operator, name, 24 * 3600));
            Ok(())
        }
        ["token", tenant] => {
            let auth = LocalJwt::from_env()?;
            let claim = std::env::var("TENANT_CLAIM").unwrap_or_else(|_| "tenant_id".into());
            println!("{}", auth.mint(&claim, tenant, 24 * 3600));
            Ok(())
        }
        ["sweep"] => {
            custom_domains::init_tracing();
            let app = local_server::app_from_env().await?;
            let report = custom_domains::routes::scoped(
                "renewal-sweep",
                custom_domains::flows::acme::renew::sweep(&app),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        ["drift-check"] => {
            custom_domains::init_tracing();
            let app = local_server::app_from_env().await?;
            let report = custom_domains::routes::scoped(
                "drift-check",
                custom_domains::flows::hostname::drift::drift_check(&app),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        ["renew", domain] => {
            custom_domains::init_tracing();
            let app = local_server::app_from_env().await?;
            let domain = custom_domains::domain::DomainName::parse(domain)?;
            let report = custom_domains::routes::scoped(
                "renewal-sweep",
                custom_domains::flows::acme::renew::operator_renew_now(&app, &domain),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        [] => serve().await,
        _ => Err(
            "usage: local-server [token <tenant> | token --operator <name> | sweep | drift-check | renew <hostname>]".into(),
        ),
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let auth = LocalJwt::from_env()?;
    custom_domains::init_tracing();
    let addr: SocketAddr = std::env::var("LOCAL_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9000".into())
        .parse()
        .map_err(|e| format!("LOCAL_ADDR: {e}"))?;
    let interval: u64 = std::env::var("LOCAL_SWEEP_INTERVAL_MS")
        .unwrap_or_else(|_| "60000".into())
        .parse()
        .map_err(|e| format!("LOCAL_SWEEP_INTERVAL_MS: {e}"))?;
    let cors = local_server::Cors::from_env()?;
    let app = local_server::app_from_env().await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    if interval > 0 {
        tracing::info!(
            interval_ms = interval,
            "running the renewal sweep on an interval"
        );
        tokio::spawn(local_server::sweep_every(
            app.clone(),
            Duration::from_millis(interval),
        ));
    }
    tracing::info!(%addr, origins = ?cors.origins, "serving every route");
    local_server::serve(app, auth, cors, listener).await?;
    Ok(())
}
