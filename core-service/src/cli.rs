//! The `core-service` command line, shared by the `core-service` binary and
//! `livechat core-service`.

use livechat_runtime::{LogFormat, shutdown_signal};

/// livechat core-service: rooms, messages, agents and events over gRPC.
#[derive(Debug, clap::Args)]
pub struct CoreServiceCli {
    #[command(flatten)]
    pub core: crate::CoreConfig,
    /// Where to serve /healthz, /readyz and /metrics over HTTP (unset: not
    /// served; gRPC health is always on the gRPC port).
    #[arg(long, env = "LIVECHAT_OPS_LISTEN")]
    pub ops_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub drain: livechat_runtime::DrainConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Runs a core replica until SIGTERM or Ctrl-C, then drains before it stops.
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
    let ops = match cli.ops_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("LIVECHAT_OPS_LISTEN {addr}: {e}"))?,
        ),
        None => None,
    };
    crate::serve(cli.core, listener, ops, shutdown_signal(), cli.drain.drain()).await
}
