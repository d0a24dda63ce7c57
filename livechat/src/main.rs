//! `livechat`: the whole product in one process, on SQLite with the
//! in-process bus. `cargo run --release` at the repository root starts it.
//! `livechat core-service|ws-gateway|http-gateway` runs one role alone,
//! exactly as the standalone binaries do (one image for every role).

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use livechat_runtime::{LogFormat, init_tracing, shutdown_signal};

/// livechat all-in-one: core, REST API, WebSocket API and web pages in one process.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    all: AllInOne,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Run only the gRPC core (like the `core-service` binary).
    CoreService(livechat_core::cli::CoreServiceCli),
    /// Run only the WebSocket gateway and pages (like `ws-gateway`).
    WsGateway(livechat_ws::cli::WsGatewayCli),
    /// Run only the REST gateway (like `http-gateway`).
    HttpGateway(livechat_http::cli::HttpGatewayCli),
    /// Run one channel's adapter (like `livechat-adapter`).
    Adapter(livechat_adapter::cli::AdapterCli),
}

#[derive(Debug, clap::Args)]
struct AllInOne {
    /// Address of REST, WebSocket and pages [default: 127.0.0.1:8080].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    core: livechat_core::CoreConfig,
    #[command(flatten)]
    http: livechat_http::HttpConfig,
    #[command(flatten)]
    ws_limits: livechat_ws::FrameLimits,
    #[command(flatten)]
    ws_connections: livechat_ws::ConnectionLimits,
    #[command(flatten)]
    widget: livechat_ws::pages::WidgetEmbedding,
    /// Channels run in this process when their variables are set.
    #[command(flatten)]
    channels: livechat_adapter::Channels,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.role {
        Some(Role::CoreService(c)) => {
            init_tracing(c.log_format);
            livechat_core::cli::run(c).await
        }
        Some(Role::WsGateway(c)) => {
            init_tracing(c.log_format);
            livechat_ws::cli::run(c).await
        }
        Some(Role::HttpGateway(c)) => {
            init_tracing(c.log_format);
            livechat_http::cli::run(c).await
        }
        Some(Role::Adapter(c)) => {
            init_tracing(c.log_format());
            livechat_adapter::cli::run(c).await
        }
        None => {
            init_tracing(cli.all.log_format);
            all_in_one(cli.all).await
        }
    };
    if let Err(e) = result {
        eprintln!("livechat: {e:#}");
        std::process::exit(1);
    }
}

async fn all_in_one(cli: AllInOne) -> anyhow::Result<()> {
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
        cli.core.database_url_for_logs(),
        grpc.local_addr()?,
    );
    let session = livechat_ws::SessionConfig {
        limits: cli.ws_limits,
        connections: cli.ws_connections,
        embedding: cli.widget,
        ..Default::default()
    };
    for channel in cli.channels.configured().map_err(|e| anyhow::anyhow!(e))? {
        let how = match &channel {
            livechat_adapter::ChannelConfig::Telegram { webhook_secret: None, .. } => {
                "long polling".to_string()
            }
            _ => format!("webhook http://{web}/webhooks/{}", channel.name()),
        };
        eprintln!("  Channel:        {} ({how})", channel.name());
    }
    livechat::run_with_channels(cli.core, cli.http, session, cli.channels, grpc, http, shutdown_signal())
        .await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_role_and_flag_of_the_command_line_fits_together() {
        super::Cli::command().debug_assert();
    }
}
