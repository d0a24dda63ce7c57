//! What each channel needs, read from the environment (docs/protocol.md,
//! "Channels"), and checked once: a channel is either fully configured,
//! not configured at all, or a clear error at start.

use std::time::Duration;

use livechat_runtime::Secret;

/// Telegram: a bot from @BotFather.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TelegramConfig {
    /// The bot's token (required for Telegram).
    #[arg(
        id = "telegram-bot-token",
        long = "telegram-bot-token",
        env = "LIVECHAT_TELEGRAM_BOT_TOKEN",
        hide_env_values = true
    )]
    pub bot_token: Option<Secret>,
    /// Set: webhook mode, the secret Telegram echoes in
    /// `X-Telegram-Bot-Api-Secret-Token`. Unset: long polling (no public URL needed).
    #[arg(
        id = "telegram-webhook-secret",
        long = "telegram-webhook-secret",
        env = "LIVECHAT_TELEGRAM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<Secret>,
    /// The Bot API (methods at `{url}/bot{token}/{method}`).
    #[arg(
        id = "telegram-api-url",
        long = "telegram-api-url",
        env = "LIVECHAT_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    pub api_url: String,
}

/// Messenger: a Facebook page and its app.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MessengerConfig {
    /// The page access token the Send API takes.
    #[arg(
        id = "messenger-page-token",
        long = "messenger-page-token",
        env = "LIVECHAT_MESSENGER_PAGE_TOKEN",
        hide_env_values = true
    )]
    pub page_token: Option<Secret>,
    /// The app secret that signs webhook deliveries (`X-Hub-Signature-256`).
    #[arg(
        id = "messenger-app-secret",
        long = "messenger-app-secret",
        env = "LIVECHAT_MESSENGER_APP_SECRET",
        hide_env_values = true
    )]
    pub app_secret: Option<Secret>,
    /// The token you typed into the webhook setup (`hub.verify_token`).
    #[arg(
        id = "messenger-verify-token",
        long = "messenger-verify-token",
        env = "LIVECHAT_MESSENGER_VERIFY_TOKEN",
        hide_env_values = true
    )]
    pub verify_token: Option<Secret>,
    /// The Graph API (Send API at `{url}/me/messages`).
    #[arg(
        id = "messenger-api-url",
        long = "messenger-api-url",
        env = "LIVECHAT_MESSENGER_API_URL",
        default_value = "https://graph.facebook.com/v21.0"
    )]
    pub api_url: String,
}

/// WeChat: an Official Account.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WeChatConfig {
    /// The account's AppID.
    #[arg(id = "wechat-app-id", long = "wechat-app-id", env = "LIVECHAT_WECHAT_APP_ID")]
    pub app_id: Option<String>,
    /// The account's AppSecret (for access tokens).
    #[arg(
        id = "wechat-app-secret",
        long = "wechat-app-secret",
        env = "LIVECHAT_WECHAT_APP_SECRET",
        hide_env_values = true
    )]
    pub app_secret: Option<Secret>,
    /// The Token of the server configuration (signs every push).
    #[arg(id = "wechat-token", long = "wechat-token", env = "LIVECHAT_WECHAT_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// Set: safe mode (AES-256-CBC); unset: plain mode.
    #[arg(
        id = "wechat-encoding-aes-key",
        long = "wechat-encoding-aes-key",
        env = "LIVECHAT_WECHAT_ENCODING_AES_KEY",
        hide_env_values = true
    )]
    pub encoding_aes_key: Option<Secret>,
    /// The API (`{url}/cgi-bin/stable_token`, `{url}/cgi-bin/message/custom/send`).
    #[arg(
        id = "wechat-api-url",
        long = "wechat-api-url",
        env = "LIVECHAT_WECHAT_API_URL",
        default_value = "https://api.weixin.qq.com"
    )]
    pub api_url: String,
}

/// How sends the platform keeps failing are retried.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryPolicy {
    /// Tries of a send that fails transiently (429, 5xx, timeouts) before
    /// it is dead-lettered and the agent told.
    #[arg(long, env = "LIVECHAT_ADAPTER_SEND_ATTEMPTS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub send_attempts: u32,
    /// The first wait between tries; doubled each time, with jitter.
    #[arg(long, env = "LIVECHAT_ADAPTER_RETRY_BASE_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub retry_base_ms: u64,
    /// The longest wait between tries (a platform's `retry_after` may be longer).
    #[arg(long, env = "LIVECHAT_ADAPTER_RETRY_MAX_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub retry_max_ms: u64,
    /// How long one call to the platform may take.
    #[arg(long, env = "LIVECHAT_ADAPTER_SEND_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub send_timeout_ms: u64,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self { send_attempts: 8, retry_base_ms: 1000, retry_max_ms: 60_000, send_timeout_ms: 10_000 }
    }
}

impl DeliveryPolicy {
    /// The wait before try `n + 1` (n >= 1), before jitter.
    pub fn backoff(&self, n: u32) -> Duration {
        let base = self.retry_base_ms.saturating_mul(1u64 << n.saturating_sub(1).min(20));
        Duration::from_millis(base.min(self.retry_max_ms))
    }

    /// The longest one platform call may take.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }
}

/// One channel, fully configured.
#[derive(Debug, Clone)]
pub enum ChannelConfig {
    /// A bot; without a webhook secret it long-polls.
    Telegram {
        bot_token: Secret,
        webhook_secret: Option<Secret>,
        api_url: String,
    },
    Messenger {
        page_token: Secret,
        app_secret: Secret,
        verify_token: Secret,
        api_url: String,
    },
    /// An Official Account; with an EncodingAESKey in safe mode.
    WeChat {
        app_id: String,
        app_secret: Secret,
        token: Secret,
        encoding_aes_key: Option<Secret>,
        api_url: String,
    },
}

impl ChannelConfig {
    /// The channel's name on the wire and in routes.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Telegram { .. } => "telegram",
            Self::Messenger { .. } => "messenger",
            Self::WeChat { .. } => "wechat",
        }
    }
}

/// Which variables of a channel are set: all required ones (the channel
/// runs), none (it does not), or some (a mistake worth stopping for).
fn required<T>(
    channel: &str,
    vars: &[(&str, bool)],
    optional_set: bool,
    build: impl FnOnce() -> T,
) -> Result<Option<T>, String> {
    let missing: Vec<&str> = vars.iter().filter(|(_, set)| !set).map(|(name, _)| *name).collect();
    if missing.is_empty() {
        Ok(Some(build()))
    } else if missing.len() == vars.len() && !optional_set {
        Ok(None)
    } else {
        Err(format!("{channel} is half configured: set {} too", missing.join(", ")))
    }
}

/// Refuses a secret left at a template's placeholder.
fn no_placeholders(secrets: &[(&str, Option<&Secret>)]) -> Result<(), String> {
    match secrets.iter().find(|(_, s)| s.is_some_and(Secret::is_placeholder)) {
        Some((name, _)) => Err(format!("{name} is a template placeholder; set the real value")),
        None => Ok(()),
    }
}

impl TelegramConfig {
    /// The channel if its variables are set, none if none is, else why not.
    pub fn channel(&self) -> Result<Option<ChannelConfig>, String> {
        no_placeholders(&[
            ("LIVECHAT_TELEGRAM_BOT_TOKEN", self.bot_token.as_ref()),
            ("LIVECHAT_TELEGRAM_WEBHOOK_SECRET", self.webhook_secret.as_ref()),
        ])?;
        required(
            "Telegram",
            &[("LIVECHAT_TELEGRAM_BOT_TOKEN", self.bot_token.is_some())],
            self.webhook_secret.is_some(),
            || ChannelConfig::Telegram {
                bot_token: self.bot_token.clone().expect("checked"),
                webhook_secret: self.webhook_secret.clone(),
                api_url: self.api_url.clone(),
            },
        )
    }
}

impl MessengerConfig {
    /// The channel if its variables are set, none if none is, else why not.
    pub fn channel(&self) -> Result<Option<ChannelConfig>, String> {
        no_placeholders(&[
            ("LIVECHAT_MESSENGER_PAGE_TOKEN", self.page_token.as_ref()),
            ("LIVECHAT_MESSENGER_APP_SECRET", self.app_secret.as_ref()),
            ("LIVECHAT_MESSENGER_VERIFY_TOKEN", self.verify_token.as_ref()),
        ])?;
        let vars = [
            ("LIVECHAT_MESSENGER_PAGE_TOKEN", self.page_token.is_some()),
            ("LIVECHAT_MESSENGER_APP_SECRET", self.app_secret.is_some()),
            ("LIVECHAT_MESSENGER_VERIFY_TOKEN", self.verify_token.is_some()),
        ];
        required("Messenger", &vars, false, || ChannelConfig::Messenger {
            page_token: self.page_token.clone().expect("checked"),
            app_secret: self.app_secret.clone().expect("checked"),
            verify_token: self.verify_token.clone().expect("checked"),
            api_url: self.api_url.clone(),
        })
    }
}

impl WeChatConfig {
    /// The channel if its variables are set, none if none is, else why not.
    pub fn channel(&self) -> Result<Option<ChannelConfig>, String> {
        no_placeholders(&[
            ("LIVECHAT_WECHAT_APP_SECRET", self.app_secret.as_ref()),
            ("LIVECHAT_WECHAT_TOKEN", self.token.as_ref()),
            ("LIVECHAT_WECHAT_ENCODING_AES_KEY", self.encoding_aes_key.as_ref()),
        ])?;
        let vars = [
            ("LIVECHAT_WECHAT_APP_ID", self.app_id.is_some()),
            ("LIVECHAT_WECHAT_APP_SECRET", self.app_secret.is_some()),
            ("LIVECHAT_WECHAT_TOKEN", self.token.is_some()),
        ];
        required("WeChat", &vars, self.encoding_aes_key.is_some(), || ChannelConfig::WeChat {
            app_id: self.app_id.clone().expect("checked"),
            app_secret: self.app_secret.clone().expect("checked"),
            token: self.token.clone().expect("checked"),
            encoding_aes_key: self.encoding_aes_key.clone(),
            api_url: self.api_url.clone(),
        })
    }
}

/// Every channel, for the all-in-one: it runs those whose variables are set.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Channels {
    #[command(flatten)]
    pub telegram: TelegramConfig,
    #[command(flatten)]
    pub messenger: MessengerConfig,
    #[command(flatten)]
    pub wechat: WeChatConfig,
    #[command(flatten)]
    pub policy: DeliveryPolicy,
}

impl Channels {
    /// The configured channels, or why the configuration is wrong.
    pub fn configured(&self) -> Result<Vec<ChannelConfig>, String> {
        let all = [self.telegram.channel()?, self.messenger.channel()?, self.wechat.channel()?];
        Ok(all.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_runs_when_complete_and_a_half_configured_one_is_an_error() {
        let mut m = MessengerConfig::default();
        assert!(matches!(m.channel(), Ok(None)));
        m.page_token = Some(Secret::new("p"));
        let err = m.channel().unwrap_err();
        assert!(
            err.contains("LIVECHAT_MESSENGER_APP_SECRET") && err.contains("LIVECHAT_MESSENGER_VERIFY_TOKEN"),
            "{err}"
        );
        m.app_secret = Some(Secret::new("s"));
        m.verify_token = Some(Secret::new("v"));
        assert!(matches!(m.channel(), Ok(Some(ChannelConfig::Messenger { .. }))));
    }

    #[test]
    fn an_optional_variable_alone_is_a_mistake_not_silence() {
        let t = TelegramConfig { webhook_secret: Some(Secret::new("s")), ..Default::default() };
        assert!(t.channel().unwrap_err().contains("LIVECHAT_TELEGRAM_BOT_TOKEN"));
    }

    #[test]
    fn a_template_placeholder_is_refused() {
        let t = TelegramConfig { bot_token: Some(Secret::new("change-me")), ..Default::default() };
        assert!(t.channel().unwrap_err().contains("placeholder"));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let p = DeliveryPolicy { retry_base_ms: 100, retry_max_ms: 1000, ..Default::default() };
        let waits: Vec<u64> = (1..=6).map(|n| p.backoff(n).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }
}
