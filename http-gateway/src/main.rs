//! `http-gateway`: the REST API as its own stateless process, in front of
//! one or more core-service replicas.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use livechat_core::telemetry::{LogFormat, init_tracing, shutdown_signal};
use livechat_http::{AppState, CoreClient, HttpConfig, router, serve};

/// livechat http-gateway: PROTOCOL.md's REST API over the core's gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on [default: 0.0.0.0:8081].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    listen: Option<SocketAddr>,
    /// Core gRPC URL(s), comma-separated; calls balance over them.
    #[arg(long, env = "LIVECHAT_CORE_URL", default_value = "http://127.0.0.1:50051", value_delimiter = ',')]
    core_url: Vec<String>,
    #[command(flatten)]
    http: HttpConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("http-gateway: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let core =
        CoreClient::connect_lazy(&cli.core_url, Some(Duration::from_millis(cli.http.request_timeout_ms)))
            .map_err(anyhow::Error::msg)?;
    let addr = livechat_http::config::listen_or_default(cli.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {addr}: {e}"))?;
    tracing::info!(%addr, "REST API listening");
    let app = router(AppState::new(core, &cli.http), &cli.http);
    serve(app, listener, shutdown_signal()).await
}
