//! The `core-service` command line, shared by the `core-service` binary and
//! `livechat core-service`.

use livechat_runtime::{LogFormat, shutdown_signal};

/// livechat core-service: rooms, messages, agents and events over gRPC.
#[derive(Debug, clap::Args)]
pub struct CoreServiceCli {
    #[command(flatten)]
    pub core: crate::CoreConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Runs a core replica until SIGTERM or Ctrl-C.
pub async fn run(cli: CoreServiceCli) -> anyhow::Result<()> {
    // Replicas must agree on the secret, so it cannot be generated here.
    if cli.core.jwt_secret.is_none() {
        anyhow::bail!("LIVECHAT_JWT_SECRET is required (shared by every core replica)");
    }
    if cli.core.amqp_url.is_none() {
        anyhow::bail!("LIVECHAT_AMQP_URL is required (core replicas share events through RabbitMQ)");
    }
    let addr = cli.core.grpc_listen.unwrap_or(crate::config::CORE_SERVICE_GRPC_LISTEN.into());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_GRPC_LISTEN {addr}: {e}"))?;
    crate::serve(cli.core, listener, shutdown_signal()).await
}
