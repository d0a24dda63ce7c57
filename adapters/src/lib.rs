//! livechat's channel adapters: customers writing from Telegram, Messenger
//! or WeChat become rooms like any other, and every agent and system
//! message of such a room reaches them back in their app.
//!
//! An adapter is stateless: `inbound` turns verified webhooks (or
//! Telegram's long polling) into `InboundMessage`s on the core's inbound
//! queue; `outbound` sends the channel's queue of `OutboundMessage`s to the
//! platform. Both queues are traits (`queue`): RabbitMQ between processes
//! (`broker`), or the core itself when the all-in-one runs a channel in
//! its own process. `platform` holds each messenger's signatures, formats
//! and send API; `config` the variables; `cli` the binary.

pub mod broker;
pub mod cli;
pub mod config;
pub mod inbound;
pub mod outbound;
pub mod platform;
pub mod queue;

use std::sync::Arc;

use axum::Router;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{ChannelConfig, Channels, DeliveryPolicy};
use platform::Platform;
use platform::messenger::MessengerApi;
use platform::telegram::TelegramApi;
use platform::wechat::{Cipher, WeChatApi};
pub use queue::{Delivery, Inbox, NotDurable, Settle};

/// One channel ready to run: its platform's client, its webhook routes,
/// and for Telegram without a webhook secret, its long poller.
pub struct ChannelAdapter {
    /// The channel's wire name, for logs and routes.
    pub name: &'static str,
    platform: Arc<dyn Platform>,
    routes: Router,
    poller: Option<Arc<TelegramApi>>,
    inbox: Arc<dyn Inbox>,
}

impl std::fmt::Debug for ChannelAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelAdapter").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ChannelAdapter {
    /// Builds the channel's client and routes; fails on a configuration
    /// that cannot work (an EncodingAESKey that is not 43 characters).
    pub fn new(
        config: ChannelConfig,
        inbox: Arc<dyn Inbox>,
        policy: &DeliveryPolicy,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(policy.send_timeout())
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        let name = config.name();
        let (platform, routes, poller): (Arc<dyn Platform>, Router, _) = match config {
            ChannelConfig::Telegram { bot_token, webhook_secret, api_url } => {
                let api = Arc::new(TelegramApi::new(http, &api_url, bot_token.expose()));
                let poller = webhook_secret.is_none().then(|| api.clone());
                (api, inbound::telegram_routes(webhook_secret, inbox.clone()), poller)
            }
            ChannelConfig::Messenger { page_token, app_secret, verify_token, api_url } => {
                let api = Arc::new(MessengerApi::new(http, &api_url, page_token.expose()));
                (api, inbound::messenger_routes(app_secret, verify_token, inbox.clone()), None)
            }
            ChannelConfig::WeChat { app_id, app_secret, token, encoding_aes_key, api_url } => {
                let cipher = encoding_aes_key
                    .map(|key| Cipher::new(key.expose(), &app_id))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("LIVECHAT_WECHAT_ENCODING_AES_KEY: {e}"))?;
                let api = Arc::new(WeChatApi::new(http, &api_url, &app_id, app_secret.expose()));
                (api, inbound::wechat_routes(token, cipher, inbox.clone()), None)
            }
        };
        Ok(Self { name, platform, routes, poller, inbox })
    }

    /// The channel's webhook routes, to merge into a listener's router.
    pub fn routes(&self) -> Router {
        self.routes.clone()
    }

    /// Starts sending `deliveries` to the platform, and polling if this
    /// channel polls, until `stop`. The handle ends once the sends under
    /// way at `stop` have had their answer.
    pub fn spawn(
        &self,
        deliveries: mpsc::Receiver<Delivery>,
        policy: DeliveryPolicy,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        if let Some(api) = &self.poller {
            tracing::info!(channel = self.name, "long polling Telegram (no webhook secret set)");
            tokio::spawn(inbound::poll_telegram(api.clone(), self.inbox.clone(), stop.clone()));
        }
        let sender = outbound::Sender { platform: self.platform.clone(), inbox: self.inbox.clone(), policy };
        tokio::spawn(sender.run(deliveries, stop))
    }
}
