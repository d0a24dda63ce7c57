//! [`Customer`]: someone writing to the support account from a messenger,
//! as the platform delivers it to the adapter's webhook: Telegram's update
//! with its secret header, Messenger's batch signed with the app secret,
//! WeChat's XML push signed with the Token (encrypted in safe mode).

use std::sync::atomic::{AtomicI64, Ordering};

use hmac::{KeyInit, Mac};
use livechat_adapter::platform::wechat;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::{APP_SECRET, TELEGRAM_SECRET, WECHAT_AES_KEY, WECHAT_APP_ID, WECHAT_TOKEN};

/// A customer on one channel, writing through `base`'s webhook.
pub struct Customer {
    /// `telegram`, `messenger` or `wechat`.
    pub channel: &'static str,
    /// Their id on the platform: where replies must go.
    pub id: String,
    /// The name the platform gives (Telegram); others show the id.
    pub name: String,
    base: String,
    safe_mode: bool,
    client: reqwest::Client,
    next_message: AtomicI64,
}

/// How a delivery is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Right,
    Wrong,
    Missing,
}

impl Customer {
    fn new(channel: &'static str, base: &str, id: String, name: &str, safe_mode: bool) -> Self {
        Self {
            channel,
            id,
            name: name.to_string(),
            base: base.to_string(),
            safe_mode,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            // Platform message ids differ between customers and tests.
            next_message: AtomicI64::new(1_000 + (rand_suffix() % 1_000_000) * 1_000),
        }
    }

    /// A Telegram user in a private chat with the bot.
    pub fn telegram(base: &str, chat_id: i64, first_name: &str) -> Self {
        Self::new("telegram", base, chat_id.to_string(), first_name, false)
    }

    /// A Messenger user (their page-scoped id).
    pub fn messenger(base: &str, psid: &str) -> Self {
        Self::new("messenger", base, psid.to_string(), psid, false)
    }

    /// A WeChat follower (their OpenID); encrypted pushes in safe mode.
    pub fn wechat(base: &str, openid: &str, safe_mode: bool) -> Self {
        Self::new("wechat", base, openid.to_string(), openid, safe_mode)
    }

    /// A new platform message id.
    pub fn next_id(&self) -> i64 {
        self.next_message.fetch_add(1, Ordering::SeqCst)
    }

    /// Writes `text` (a new platform message); the webhook's status.
    pub async fn says(&self, text: &str) -> u16 {
        self.deliver(&self.body(text, self.next_id()), Signing::Right).await.0
    }

    /// The platform's delivery of a text message with id `id`.
    pub fn body(&self, text: &str, id: i64) -> Vec<u8> {
        match self.channel {
            "telegram" => {
                let chat: i64 = self.id.parse().unwrap();
                json!({"update_id": id, "message": {
                    "message_id": id, "date": 1_764_400_000,
                    "from": {"id": chat, "is_bot": false, "first_name": self.name, "language_code": "en"},
                    "chat": {"id": chat, "type": "private", "first_name": self.name},
                    "text": text}})
                .to_string()
                .into_bytes()
            }
            "messenger" => json!({"object": "page", "entry": [{"id": "PAGE-1", "time": 1_764_400_000_000_i64,
                "messaging": [{"sender": {"id": self.id}, "recipient": {"id": "PAGE-1"},
                    "timestamp": 1_764_400_000_000_i64, "message": {"mid": format!("m_{id}"), "text": text}}]}]})
            .to_string()
            .into_bytes(),
            _ => format!(
                "<xml><ToUserName><![CDATA[gh_support]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName>\
                 <CreateTime>1764400000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                 <Content><![CDATA[{text}]]></Content><MsgId>{id}</MsgId></xml>",
                self.id
            )
            .into_bytes(),
        }
    }

    /// Delivers `body` to the webhook as the platform would (safe-mode
    /// WeChat encrypts it first); the status and the body of the answer,
    /// or status 0 and the error when no answer came (a platform retries).
    pub async fn deliver(&self, body: &[u8], signing: Signing) -> (u16, String) {
        let url = format!("{}/webhooks/{}", self.base, self.channel);
        let mut request = self.client.post(&url);
        let mut payload = body.to_vec();
        match self.channel {
            "telegram" => {
                request = request.header(CONTENT_TYPE, "application/json");
                match signing {
                    Signing::Right => {
                        request = request.header("X-Telegram-Bot-Api-Secret-Token", TELEGRAM_SECRET)
                    }
                    Signing::Wrong => request = request.header("X-Telegram-Bot-Api-Secret-Token", "guess"),
                    Signing::Missing => {}
                }
            }
            "messenger" => {
                request = request.header(CONTENT_TYPE, "application/json");
                let key = if signing == Signing::Wrong { "not-the-secret" } else { APP_SECRET };
                if signing != Signing::Missing {
                    request =
                        request.header("X-Hub-Signature-256", format!("sha256={}", hmac_hex(key, body)));
                }
            }
            _ => {
                let ts = &now_secs();
                let nonce = "372623149";
                let token = if signing == Signing::Wrong { "wrong-token" } else { WECHAT_TOKEN };
                let mut query = vec![("timestamp", ts.to_string()), ("nonce", nonce.to_string())];
                query.push(("openid", self.id.clone()));
                if self.safe_mode {
                    let cipher = wechat::Cipher::new(WECHAT_AES_KEY, WECHAT_APP_ID).unwrap();
                    let encrypted =
                        cipher.encrypt(std::str::from_utf8(body).unwrap_or(""), *b"0123456789abcdef");
                    payload = format!(
                        "<xml><ToUserName><![CDATA[gh_support]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
                    )
                    .into_bytes();
                    query.push(("encrypt_type", "aes".into()));
                    if signing != Signing::Missing {
                        query.push(("msg_signature", wechat::msg_signature(token, ts, nonce, &encrypted)));
                    }
                }
                if signing != Signing::Missing {
                    query.push(("signature", wechat::signature(token, ts, nonce)));
                }
                request = request.header(CONTENT_TYPE, "text/xml").query(&query);
            }
        }
        let res = match request.body(payload).send().await {
            Ok(res) => res,
            Err(e) => return (0, format!("POST {url}: {e}")),
        };
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }
}

/// HMAC-SHA256 in hex, as Messenger signs its deliveries.
pub fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Unix seconds now, as WeChat stamps a push.
pub fn now_secs() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string()
}

fn rand_suffix() -> i64 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as i64
}
