//! `pqvoice-registry`: runs the registry server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Self-hostable pqvoice registry.
#[derive(Debug, Parser)]
#[command(name = "pqvoice-registry", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "PQVOICE_REGISTRY_LISTEN", default_value = "127.0.0.1:5001")]
    listen: SocketAddr,
    /// SQLite database file (created if missing).
    #[arg(long, env = "PQVOICE_REGISTRY_DB", default_value = "pqvoice-registry.sqlite3")]
    db: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, db = %args.db.display(), "listening");
    axum::serve(listener, registry::app())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
