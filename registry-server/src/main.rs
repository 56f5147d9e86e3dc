//! `pqvoice-registry`: runs the registry server until SIGINT or SIGTERM.

use clap::Parser;
use registry::config::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Args::parse().resolve()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let server = registry::Server::start(config).await?;
    println!("listening on {}", server.addr);
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
