//! Customers on messengers, for the channel suites: [`FakePlatform`]
//! stands in for the Telegram, Messenger and WeChat APIs (no internet in
//! tests), checking each call as the real one would and recording the
//! ones it accepted; [`Customer`] writes to an adapter's webhook as the
//! platform delivers a customer's message, signed (or not, on purpose).

mod customer;
mod fake;

pub use customer::{Customer, Signing, hmac_hex, now_secs};
pub use fake::{FakePlatform, Sent};

/// The bot token the fake Telegram accepts.
pub const BOT_TOKEN: &str = "123456:TEST-bot-token";
/// The secret Telegram echoes in webhook calls.
pub const TELEGRAM_SECRET: &str = "telegram-webhook-secret-1";
/// The page token the fake Graph API accepts.
pub const PAGE_TOKEN: &str = "EAAG-test-page-token";
/// The app secret that signs Messenger webhook bodies.
pub const APP_SECRET: &str = "messenger-app-secret-1";
/// What the Messenger subscription handshake must present.
pub const VERIFY_TOKEN: &str = "messenger-verify-token-1";
/// The Official Account the fake WeChat knows.
pub const WECHAT_APP_ID: &str = "wx5823bf96d3bd56c7";
pub const WECHAT_APP_SECRET: &str = "wechat-app-secret-1";
/// The server configuration's Token (signs pushes).
pub const WECHAT_TOKEN: &str = "QDG6eK";
/// A 43-character EncodingAESKey (WeChat's sample).
pub const WECHAT_AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

/// Every channel configured against `fake`, as the all-in-one takes them:
/// Telegram in webhook mode unless `telegram_polls`, WeChat in safe mode
/// when `wechat_safe`; retries quick so that giving up takes milliseconds.
pub fn channels(fake: &FakePlatform, telegram_polls: bool, wechat_safe: bool) -> livechat_adapter::Channels {
    use livechat_adapter::config::{MessengerConfig, TelegramConfig, WeChatConfig};
    use livechat_core::Secret;
    livechat_adapter::Channels {
        telegram: TelegramConfig {
            bot_token: Some(Secret::new(BOT_TOKEN)),
            webhook_secret: (!telegram_polls).then(|| Secret::new(TELEGRAM_SECRET)),
            api_url: fake.url.clone(),
        },
        messenger: MessengerConfig {
            page_token: Some(Secret::new(PAGE_TOKEN)),
            app_secret: Some(Secret::new(APP_SECRET)),
            verify_token: Some(Secret::new(VERIFY_TOKEN)),
            api_url: fake.url.clone(),
        },
        wechat: WeChatConfig {
            app_id: Some(WECHAT_APP_ID.into()),
            app_secret: Some(Secret::new(WECHAT_APP_SECRET)),
            token: Some(Secret::new(WECHAT_TOKEN)),
            encoding_aes_key: wechat_safe.then(|| Secret::new(WECHAT_AES_KEY)),
            api_url: fake.url.clone(),
        },
        policy: quick_retries(),
    }
}

/// Three tries 50 ms apart: a platform that is down is given up on fast.
pub fn quick_retries() -> livechat_adapter::DeliveryPolicy {
    livechat_adapter::DeliveryPolicy {
        send_attempts: 3,
        retry_base_ms: 50,
        retry_max_ms: 200,
        send_timeout_ms: 5_000,
    }
}

/// The variables of one channel's adapter process against `fake`.
pub fn adapter_env(channel: &str, fake: &FakePlatform) -> Vec<(String, String)> {
    let vars: Vec<(&str, &str)> = match channel {
        "telegram" => vec![
            ("LIVECHAT_TELEGRAM_BOT_TOKEN", BOT_TOKEN),
            ("LIVECHAT_TELEGRAM_WEBHOOK_SECRET", TELEGRAM_SECRET),
            ("LIVECHAT_TELEGRAM_API_URL", &fake.url),
        ],
        "messenger" => vec![
            ("LIVECHAT_MESSENGER_PAGE_TOKEN", PAGE_TOKEN),
            ("LIVECHAT_MESSENGER_APP_SECRET", APP_SECRET),
            ("LIVECHAT_MESSENGER_VERIFY_TOKEN", VERIFY_TOKEN),
            ("LIVECHAT_MESSENGER_API_URL", &fake.url),
        ],
        _ => vec![
            ("LIVECHAT_WECHAT_APP_ID", WECHAT_APP_ID),
            ("LIVECHAT_WECHAT_APP_SECRET", WECHAT_APP_SECRET),
            ("LIVECHAT_WECHAT_TOKEN", WECHAT_TOKEN),
            ("LIVECHAT_WECHAT_ENCODING_AES_KEY", WECHAT_AES_KEY),
            ("LIVECHAT_WECHAT_API_URL", &fake.url),
        ],
    };
    let mut env: Vec<(String, String)> = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    env.push(("LIVECHAT_ADAPTER_SEND_ATTEMPTS".into(), "3".into()));
    env.push(("LIVECHAT_ADAPTER_RETRY_BASE_MS".into(), "50".into()));
    env
}
