//! `core-service`: the gRPC core as its own process, for deployments with
//! several replicas behind the gateways.

use clap::Parser;
use livechat_core::cli::{CoreServiceCli, run};
use livechat_runtime::init_tracing;

#[derive(Debug, Parser)]
#[command(version, about = "livechat core-service: rooms, messages, agents and events over gRPC")]
struct Cli {
    #[command(flatten)]
    inner: CoreServiceCli,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse().inner;
    init_tracing(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("core-service: {e:#}");
        std::process::exit(1);
    }
}
