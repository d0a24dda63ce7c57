//! `core-service`: the gRPC core as its own process, for deployments with
//! several replicas behind the gateways.

use clap::Parser;
use livechat_core::telemetry::{LogFormat, init_tracing, shutdown_signal};

/// livechat core-service: rooms, messages, agents and events over gRPC.
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
        eprintln!("core-service: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Replicas must agree on the secret, so it cannot be generated here.
    if cli.core.jwt_secret.is_none() {
        anyhow::bail!("LIVECHAT_JWT_SECRET is required (shared by every core replica)");
    }
    let addr = cli.core.grpc_listen.unwrap_or(livechat_core::config::CORE_SERVICE_GRPC_LISTEN.into());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_GRPC_LISTEN {addr}: {e}"))?;
    livechat_core::serve(cli.core, listener, shutdown_signal()).await
}
