//! The `livechat-adapter` command (also `livechat adapter`): one channel,
//! its webhooks and operator routes on `LIVECHAT_LISTEN`, the core reached
//! through RabbitMQ only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use livechat_runtime::http_server::ListenerConfig;
use livechat_runtime::{LogFormat, OpsState, Readiness, Secret};
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::config::{DeliveryPolicy, MessengerConfig, TelegramConfig, WeChatConfig};
use crate::{ChannelAdapter, ChannelConfig, Inbox};

/// livechat channel adapter: Telegram, Messenger or WeChat customers reach agents through RabbitMQ.
#[derive(Debug, clap::Parser)]
#[command(name = "livechat-adapter", version, about)]
pub struct AdapterCli {
    #[command(subcommand)]
    pub channel: ChannelCommand,
}

/// Which channel this process serves.
#[derive(Debug, clap::Subcommand)]
pub enum ChannelCommand {
    /// A Telegram bot (webhook, or long polling without a public URL).
    Telegram {
        #[command(flatten)]
        config: TelegramConfig,
        #[command(flatten)]
        common: Common,
    },
    /// A Facebook page's Messenger.
    Messenger {
        #[command(flatten)]
        config: MessengerConfig,
        #[command(flatten)]
        common: Common,
    },
    /// A WeChat Official Account.
    Wechat {
        #[command(flatten)]
        config: WeChatConfig,
        #[command(flatten)]
        common: Common,
    },
}

/// What every channel's process takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Address of the webhooks and /healthz, /readyz, /metrics.
    #[arg(long, env = "LIVECHAT_LISTEN", default_value = "0.0.0.0:8082")]
    pub listen: SocketAddr,
    /// RabbitMQ, where the core's queues are (required).
    #[arg(long, env = "LIVECHAT_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Secret,
    /// The core's exchange: the queues are named after it.
    #[arg(long, env = "LIVECHAT_AMQP_EXCHANGE", default_value = "livechat.events")]
    pub amqp_exchange: String,
    #[command(flatten)]
    pub policy: DeliveryPolicy,
    #[command(flatten)]
    pub listener: ListenerConfig,
    #[command(flatten)]
    pub drain: livechat_runtime::DrainConfig,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

impl AdapterCli {
    fn parts(&self) -> (Result<Option<ChannelConfig>, String>, &Common) {
        match &self.channel {
            ChannelCommand::Telegram { config, common } => (config.channel(), common),
            ChannelCommand::Messenger { config, common } => (config.channel(), common),
            ChannelCommand::Wechat { config, common } => (config.channel(), common),
        }
    }

    pub fn log_format(&self) -> Option<LogFormat> {
        self.parts().1.log_format
    }
}

/// Runs the adapter until SIGTERM or Ctrl-C.
pub async fn run(cli: AdapterCli) -> anyhow::Result<()> {
    let (config, common) = cli.parts();
    let config = config.map_err(|e| anyhow::anyhow!(e))?.ok_or_else(|| {
        anyhow::anyhow!("the channel's required variables are not set (see README, \"Connect\")")
    })?;
    let common = common.clone();
    livechat_runtime::ops::metrics_handle();
    let stop = CancellationToken::new();
    let (broker, deliveries) = Broker::start(
        common.amqp_url.expose().to_string(),
        common.amqp_exchange.clone(),
        config.name(),
        stop.clone(),
        Duration::from_secs(10),
    )
    .await?;
    let inbox: Arc<dyn Inbox> = broker.clone();
    let adapter = ChannelAdapter::new(config, inbox, &common.policy)?;
    // Stopped in order: webhooks drain, then sending, then the broker.
    let sending = CancellationToken::new();
    let sender = adapter.spawn(deliveries, common.policy.clone(), sending.clone());
    let with_metrics = common.listener.metrics_on_main_listener();
    let ops = OpsState::new(BrokerReadiness(broker));
    let draining = ops.draining.clone();
    let ops = livechat_runtime::ops::router_with(ops, with_metrics);
    let stopped = stop.clone();
    common
        .listener
        .serve_metrics(async move { stopped.cancelled().await })
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_METRICS_LISTEN: {e}"))?;
    let app = livechat_runtime::drain::close_when_draining(adapter.routes().merge(ops), draining.clone());
    let listener = tokio::net::TcpListener::bind(common.listen)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {}: {e}", common.listen))?;
    tracing::info!(channel = adapter.name, addr = %listener.local_addr()?, "adapter listening");
    let drain = common.drain.clone();
    let served = livechat_runtime::http_server::serve(
        listener,
        app,
        common.listener.header_read_timeout(),
        async move { drain.signal_then_drain(draining).await },
    )
    .await;
    // Webhooks have drained (each one answered after its publish was
    // confirmed, or 503). Sends under way finish, then the broker closes:
    // whatever is unacked by then is delivered again, to another replica.
    sending.cancel();
    if tokio::time::timeout(SENDS_FINISH_WITHIN, sender).await.is_err() {
        tracing::warn!("sends still under way at shutdown; they will be delivered again");
    }
    stop.cancel();
    served?;
    Ok(())
}

/// How long a stopping adapter waits for the sends under way.
const SENDS_FINISH_WITHIN: Duration = Duration::from_secs(15);

/// An adapter is ready while its broker connection is up.
struct BrokerReadiness(Arc<Broker>);

impl Readiness for BrokerReadiness {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let answer = if self.0.ready() { Ok(()) } else { Err("RabbitMQ is not connected".to_string()) };
        Box::pin(std::future::ready(answer))
    }
}
