//! The `ws-gateway` command line, shared by the `ws-gateway` binary and
//! `livechat ws-gateway`.

use std::net::SocketAddr;

use livechat_proto::client::CoreClient;
use livechat_runtime::{CoreReadiness, LogFormat, OpsState};
use tokio_util::sync::CancellationToken;

use crate::{SessionConfig, WsState, router, serve};

/// livechat ws-gateway: the livechat WebSocket API (docs/protocol.md) and the agent console.
#[derive(Debug, clap::Args)]
pub struct WsGatewayCli {
    /// Address to listen on [default: 0.0.0.0:8080].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Core gRPC URL(s), comma-separated; calls balance over them.
    #[arg(long, env = "LIVECHAT_CORE_URL", default_value = "http://127.0.0.1:50051", value_delimiter = ',')]
    pub core_url: Vec<String>,
    #[command(flatten)]
    pub limits: crate::FrameLimits,
    #[command(flatten)]
    pub connections: crate::ConnectionLimits,
    #[command(flatten)]
    pub embedding: crate::pages::WidgetEmbedding,
    #[command(flatten)]
    pub listener: livechat_runtime::http_server::ListenerConfig,
    #[command(flatten)]
    pub drain: livechat_runtime::DrainConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Runs the WebSocket gateway until SIGTERM or Ctrl-C; then drains (not
/// ready, still serving), and open sockets get 1001.
pub async fn run(cli: WsGatewayCli) -> anyhow::Result<()> {
    let core = CoreClient::connect_lazy(&cli.core_url, None).map_err(anyhow::Error::msg)?;
    let addr = cli.listen.unwrap_or(crate::WS_GATEWAY_LISTEN.into());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {addr}: {e}"))?;
    tracing::info!(%addr, "WebSocket gateway listening");
    let shutdown = CancellationToken::new();
    let session = SessionConfig {
        limits: cli.limits,
        connections: cli.connections,
        embedding: cli.embedding,
        ..Default::default()
    };
    let state = WsState {
        core,
        connections: crate::Connections::new(session.connections),
        session,
        shutdown: shutdown.clone(),
        proxies: cli.listener.proxies(),
    };
    let ops = OpsState::new(CoreReadiness(state.core.clone()));
    let draining = ops.draining.clone();
    let with_metrics = cli.listener.metrics_on_main_listener();
    let app = router(state).merge(livechat_runtime::ops::router_with(ops, with_metrics));
    let app = livechat_runtime::drain::close_when_draining(app, draining.clone());
    let stopped = shutdown.clone();
    cli.listener
        .serve_metrics(async move { stopped.cancelled().await })
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_METRICS_LISTEN: {e}"))?;
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            cli.drain.signal_then_drain(draining).await;
            shutdown.cancel();
        }
    });
    serve(app, listener, cli.listener.header_read_timeout(), shutdown).await
}
