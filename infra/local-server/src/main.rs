//! The local server: every route of the product on one port (default
//! `127.0.0.1:9000`, or `LOCAL_ADDR`), with production's paths, running the
//! handlers the Lambda functions run. Configured by the same environment
//! variables as the functions, plus `LOCAL_JWT_SECRET_FILE`, the signing key
//! it verifies bearer tokens with; `make dev` sets them for the local stack.
//!
//! `local-server token <tenant>` prints a token for `tenant`, valid a day,
//! signed with that key (the claim is `TENANT_CLAIM`, default `tenant_id`).

use std::net::SocketAddr;

use custom_domains::auth::LocalJwt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = LocalJwt::from_env()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, tenant] = args.as_slice() {
        if command == "token" {
            let claim = std::env::var("TENANT_CLAIM").unwrap_or_else(|_| "tenant_id".into());
            println!("{}", auth.mint(&claim, tenant, 24 * 3600));
            return Ok(());
        }
    }
    if !args.is_empty() {
        return Err("usage: local-server [token <tenant>]".into());
    }
    custom_domains::init_tracing();
    let addr: SocketAddr = std::env::var("LOCAL_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9000".into())
        .parse()
        .map_err(|e| format!("LOCAL_ADDR: {e}"))?;
    let app = custom_domains::App::from_env().await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    tracing::info!(%addr, "serving every route");
    custom_domains::local::serve(app, auth, listener).await?;
    Ok(())
}
