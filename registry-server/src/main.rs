//! `pqvoice-registry`: runs the registry server until SIGINT or SIGTERM.

use clap::Parser;
use registry::config::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Taken first thing: a parent that is already gone by now cannot be
    // told from one that started us from init.
    let parent = args.exit_with_parent.then(parent_id).flatten();
    let config = args.resolve()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The STUN codec warns about every malformed message it parses; on
        // a public UDP port that is anyone's to fill, so only its errors.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,stun_types=error"));
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
    if let Some(stun) = server.stun_addr {
        println!("STUN on udp {stun}");
    }
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = parent_gone(parent) => tracing::info!("the parent process exited"),
    }
    tracing::info!("shutting down");
    server.shutdown().await
}

/// This process's parent, where the platform tells it.
fn parent_id() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(std::os::unix::process::parent_id())
    }
    #[cfg(not(unix))]
    {
        tracing::warn!("--exit-with-parent is not supported on this platform");
        None
    }
}

/// Resolves once `parent` is no longer our parent: when a parent exits,
/// however it ends, its children are handed to init (or a subreaper), so
/// the parent id changes. Never resolves for `None`.
async fn parent_gone(parent: Option<u32>) {
    let Some(parent) = parent else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if parent_id() != Some(parent) {
            return;
        }
    }
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
