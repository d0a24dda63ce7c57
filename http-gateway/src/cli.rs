//! The `http-gateway` command line, shared by the `http-gateway` binary and
//! `livechat http-gateway`.

use std::net::SocketAddr;
use std::time::Duration;

use livechat_runtime::{LogFormat, shutdown_signal};

use crate::{AppState, CoreClient, HttpConfig, router, serve};

/// livechat http-gateway: the livechat REST API (docs/protocol.md) over the core's gRPC.
#[derive(Debug, clap::Args)]
pub struct HttpGatewayCli {
    /// Address to listen on [default: 0.0.0.0:8081].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Core gRPC URL(s), comma-separated; calls balance over them.
    #[arg(long, env = "LIVECHAT_CORE_URL", default_value = "http://127.0.0.1:50051", value_delimiter = ',')]
    pub core_url: Vec<String>,
    #[command(flatten)]
    pub http: HttpConfig,
    #[command(flatten)]
    pub drain: livechat_runtime::DrainConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Runs the REST gateway until SIGTERM or Ctrl-C, then drains (not ready,
/// still serving) before it stops.
pub async fn run(cli: HttpGatewayCli) -> anyhow::Result<()> {
    let timeout = Some(Duration::from_millis(cli.http.request_timeout_ms));
    let core = CoreClient::connect_lazy(&cli.core_url, timeout).map_err(anyhow::Error::msg)?;
    let addr = crate::config::listen_or_default(cli.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {addr}: {e}"))?;
    tracing::info!(%addr, "REST API listening");
    let state = AppState::new(core, &cli.http);
    let draining = state.ops.draining.clone();
    let app = livechat_runtime::drain::close_when_draining(router(state, &cli.http), draining.clone());
    cli.http
        .listener
        .serve_metrics(shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_METRICS_LISTEN: {e}"))?;
    let stop = async move { cli.drain.signal_then_drain(draining).await };
    serve(app, listener, cli.http.listener.header_read_timeout(), stop).await
}
