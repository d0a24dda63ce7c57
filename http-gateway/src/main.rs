//! `http-gateway`: the REST API as its own stateless process, in front of
//! one or more core-service replicas.

use clap::Parser;
use livechat_http::cli::{HttpGatewayCli, run};
use livechat_runtime::init_tracing;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "livechat http-gateway: the livechat REST API (docs/protocol.md) over the core's gRPC"
)]
struct Cli {
    #[command(flatten)]
    inner: HttpGatewayCli,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse().inner;
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("http-gateway: {e:#}");
        std::process::exit(1);
    }
}
