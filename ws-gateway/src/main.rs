//! `ws-gateway`: the WebSocket API and the web pages as their own stateless
//! process, in front of one or more core-service replicas.

use std::net::SocketAddr;

use clap::Parser;
use livechat_core::telemetry::{LogFormat, init_tracing, shutdown_signal};
use livechat_proto::client::CoreClient;
use livechat_ws::{SessionConfig, WsState, router, serve};
use tokio_util::sync::CancellationToken;

/// livechat ws-gateway: PROTOCOL.md's WebSocket API and the agent console.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on [default: 0.0.0.0:8080].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    listen: Option<SocketAddr>,
    /// Core gRPC URL(s), comma-separated; calls balance over them.
    #[arg(long, env = "LIVECHAT_CORE_URL", default_value = "http://127.0.0.1:50051", value_delimiter = ',')]
    core_url: Vec<String>,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("ws-gateway: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let core = CoreClient::connect_lazy(&cli.core_url, None).map_err(anyhow::Error::msg)?;
    let addr = cli.listen.unwrap_or(livechat_ws::WS_GATEWAY_LISTEN.into());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {addr}: {e}"))?;
    tracing::info!(%addr, "WebSocket gateway listening");
    let shutdown = CancellationToken::new();
    let state = WsState { core, session: SessionConfig::default(), shutdown: shutdown.clone() };
    let ops = livechat_http::AppState::new(state.core.clone(), &livechat_http::HttpConfig::default());
    let app = router(state).merge(livechat_http::ops_router(ops));
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            shutdown.cancel();
        }
    });
    serve(app, listener, shutdown).await
}
