//! `livechat-adapter <telegram|messenger|wechat>`: one channel's adapter,
//! between the platform and the core's RabbitMQ queues.

use clap::Parser;
use livechat_adapter::cli::AdapterCli;

#[tokio::main]
async fn main() {
    let cli = AdapterCli::parse();
    livechat_runtime::init_tracing(cli.log_format());
    if let Err(e) = livechat_adapter::cli::run(cli).await {
        eprintln!("livechat-adapter: {e:#}");
        std::process::exit(1);
    }
}
