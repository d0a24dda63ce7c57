//! `ws-gateway`: the WebSocket API and the web pages as their own stateless
//! process, in front of one or more core-service replicas.

use clap::Parser;
use livechat_runtime::init_tracing;
use livechat_ws::cli::{WsGatewayCli, run};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "livechat ws-gateway: the livechat WebSocket API (docs/protocol.md) and the agent console"
)]
struct Cli {
    #[command(flatten)]
    inner: WsGatewayCli,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse().inner;
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("ws-gateway: {e:#}");
        std::process::exit(1);
    }
}
