//! `livechat`: the whole product in one process, on SQLite with the
//! in-process bus. `cargo run --release` at the repository root starts it.

use std::net::SocketAddr;

use clap::Parser;
use livechat_core::telemetry::{LogFormat, init_tracing, shutdown_signal};

/// livechat all-in-one: core, REST API, WebSocket API and web pages in one process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address of REST, WebSocket and pages [default: 127.0.0.1:8080].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    core: livechat_core::CoreConfig,
    #[command(flatten)]
    http: livechat_http::HttpConfig,
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
    let grpc_addr = cli.core.grpc_listen.unwrap_or(livechat_core::config::LIVECHAT_GRPC_LISTEN.into());
    let http_addr = cli.listen.unwrap_or(livechat::LIVECHAT_LISTEN.into());
    let grpc = tokio::net::TcpListener::bind(grpc_addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_GRPC_LISTEN {grpc_addr}: {e}"))?;
    let http = tokio::net::TcpListener::bind(http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {http_addr}: {e}"))?;
    let web = http.local_addr()?;
    eprintln!(
        "livechat is running (database {})\n  Agent console:  http://{web}/\n  Visitor widget: http://{web}/widget\n  REST API:       http://{web}/api/v1  (OpenAPI: /api/v1/openapi.json)\n  WebSocket:      ws://{web}/ws\n  gRPC API:       http://{}",
        cli.core.database_url,
        grpc.local_addr()?,
    );
    livechat::run(cli.core, cli.http, grpc, http, shutdown_signal()).await
}
