//! `livechat`: the whole product in one process, on SQLite with the
//! in-process bus. `cargo run --release` at the repository root starts it.

use clap::Parser;
use livechat_core::telemetry::{LogFormat, init_tracing, shutdown_signal};

/// livechat all-in-one: the core (and, as they land, the gateways) in one process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    core: livechat_core::CoreConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("livechat: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let addr = cli
        .core
        .grpc_listen
        .unwrap_or(livechat_core::config::LIVECHAT_GRPC_LISTEN.into());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_GRPC_LISTEN {addr}: {e}"))?;
    eprintln!(
        "livechat: gRPC API on http://{} (database {})",
        listener.local_addr()?,
        cli.core.database_url
    );
    livechat_core::serve(cli.core, listener, shutdown_signal()).await
}
