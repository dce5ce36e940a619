//! The local server: every route of the product on one port (default
//! `127.0.0.1:9000`, or `LOCAL_ADDR`), with production's paths, running the
//! handlers the Lambda functions run. Configured by the same environment
//! variables as the functions; `make dev` sets them for the local stack.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    custom_domains::local::serve(app, listener).await?;
    Ok(())
}
