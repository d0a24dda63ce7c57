//! Inbound: each channel's webhook (and Telegram's long polling) verifies
//! what the platform sent, normalises it into `InboundMessage`s and
//! answers only once they are durable: 200 then, 503 if not (the platform
//! retries), 401 for a bad signature or secret, 400 for a body that does
//! not parse. Nothing is queued for a request that is not answered 200.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use livechat_proto::ErrorCode;
use livechat_proto::bus;
use livechat_proto::v1 as pb;
use livechat_runtime::{ApiError, Secret};
use pb::bus_envelope::Payload;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::platform::telegram::{PollError, TelegramApi};
use crate::platform::wechat::Cipher;
use crate::platform::{Inbound, Malformed, messenger, telegram, wechat};
use crate::queue::Inbox;

/// The longest a webhook waits for durability: WeChat gives up after 5 s
/// and retries, and an answer after that is wasted.
const DURABLE_WITHIN: Duration = Duration::from_millis(4500);
/// Telegram's long-polling wait.
const POLL_SECS: u32 = 25;

/// The channel's wire value for an envelope (the core refuses anything
/// but a messenger, so a name that is none stays unspecified).
fn wire_channel(name: &str) -> pb::Channel {
    match name {
        "telegram" => pb::Channel::Telegram,
        "messenger" => pb::Channel::Messenger,
        "wechat" => pb::Channel::Wechat,
        _ => pb::Channel::Unspecified,
    }
}

/// A customer's message in its bus envelope.
pub fn sealed(channel: &str, m: Inbound) -> Vec<u8> {
    let inbound = pb::InboundMessage {
        channel: wire_channel(channel).into(),
        external_user_id: m.external_user_id,
        display_name: m.display_name,
        text: m.text,
        platform_message_id: m.platform_message_id,
        sent_at_ms: m.sent_at_ms,
    };
    bus::seal(Payload::Inbound(inbound), None)
}

/// Publishes and waits for durability, within the webhook's deadline.
async fn make_durable(
    inbox: &dyn Inbox,
    channel: &'static str,
    messages: Vec<Inbound>,
) -> Result<(), ApiError> {
    let count = messages.len() as u64;
    if count == 0 {
        return Ok(());
    }
    let envelopes = messages.into_iter().map(|m| sealed(channel, m)).collect();
    match tokio::time::timeout(DURABLE_WITHIN, inbox.publish(envelopes)).await {
        Ok(Ok(())) => {
            metrics::counter!("livechat_adapter_inbound_total", "channel" => channel).increment(count);
            Ok(())
        }
        Ok(Err(e)) => Err(refused(channel, "unavailable", ApiError::unavailable(format!("not queued: {e}")))),
        Err(_) => Err(refused(channel, "unavailable", ApiError::unavailable("not queued in time"))),
    }
}

/// Counts a refused webhook call by why.
fn refused(channel: &'static str, reason: &'static str, e: ApiError) -> ApiError {
    metrics::counter!("livechat_adapter_webhook_refused_total", "channel" => channel, "reason" => reason)
        .increment(1);
    e
}

fn malformed(channel: &'static str, e: Malformed) -> ApiError {
    refused(channel, "malformed", ApiError::malformed(e.to_string()))
}

fn bad_signature(channel: &'static str, what: &str) -> ApiError {
    refused(channel, "signature", ApiError::unauthorized(format!("missing or wrong {what}")))
}

fn text(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

// ---- Telegram ------------------------------------------------------------

#[derive(Clone)]
struct TelegramHook {
    secret: Option<Secret>,
    inbox: Arc<dyn Inbox>,
}

/// `POST /webhooks/telegram`.
pub fn telegram_routes(secret: Option<Secret>, inbox: Arc<dyn Inbox>) -> Router {
    Router::new()
        .route("/webhooks/telegram", axum::routing::post(telegram_update))
        .with_state(TelegramHook { secret, inbox })
}

async fn telegram_update(
    State(hook): State<TelegramHook>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = &hook.secret else {
        return Err(ApiError::not_found(
            "Telegram runs in long-polling mode here: set LIVECHAT_TELEGRAM_WEBHOOK_SECRET for webhooks",
        ));
    };
    let given = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok());
    if !telegram::secret_matches(given, secret.expose()) {
        return Err(bad_signature("telegram", "X-Telegram-Bot-Api-Secret-Token"));
    }
    let update = telegram::parse_update(&body).map_err(|e| malformed("telegram", e))?;
    make_durable(hook.inbox.as_ref(), "telegram", update.into_iter().collect()).await?;
    Ok(StatusCode::OK.into_response())
}

/// Long polling: `getUpdates` from the last confirmed offset; the offset
/// moves past an update only once it is durable, so a crash or a broker
/// outage re-reads it (the core stores it once).
pub async fn poll_telegram(api: Arc<TelegramApi>, inbox: Arc<dyn Inbox>, stop: CancellationToken) {
    let mut offset: Option<i64> = None;
    let mut backoff = Duration::from_millis(500);
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => return,
            polled = api.get_updates(offset, POLL_SECS) => polled,
        };
        let wait = match polled {
            Ok(updates) => {
                let Some(last) = updates.last().map(|u| u.update_id) else { continue };
                let mut messages = Vec::with_capacity(updates.len());
                for u in &updates {
                    match telegram::parse_update(&u.body) {
                        Ok(m) => messages.extend(m),
                        // One unreadable update must not stop the bot.
                        Err(e) => tracing::warn!(update_id = u.update_id, error = %e, "skipping an update"),
                    }
                }
                match make_durable(inbox.as_ref(), "telegram", messages).await {
                    Ok(()) => {
                        offset = Some(last + 1);
                        backoff = Duration::from_millis(500);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.detail, "polled updates are not durable yet; polling them again");
                        backoff
                    }
                }
            }
            Err(PollError::Conflict) => {
                tracing::error!(
                    "Telegram refuses getUpdates: a webhook is set for this bot, or another poller runs"
                );
                Duration::from_secs(30)
            }
            Err(PollError::Unauthorized) => {
                tracing::error!("Telegram refuses the bot token (LIVECHAT_TELEGRAM_BOT_TOKEN)");
                Duration::from_secs(60)
            }
            Err(PollError::Unavailable(reason, retry_after)) => {
                tracing::warn!(%reason, "getUpdates failed");
                retry_after.unwrap_or(backoff)
            }
        };
        backoff = (backoff * 2).min(Duration::from_secs(30));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

// ---- Messenger -----------------------------------------------------------

#[derive(Clone)]
struct MessengerHook {
    app_secret: Secret,
    verify_token: Secret,
    inbox: Arc<dyn Inbox>,
}

/// `GET` (the subscription handshake) and `POST /webhooks/messenger`.
pub fn messenger_routes(app_secret: Secret, verify_token: Secret, inbox: Arc<dyn Inbox>) -> Router {
    Router::new()
        .route("/webhooks/messenger", get(messenger_handshake).post(messenger_batch))
        .with_state(MessengerHook { app_secret, verify_token, inbox })
}

#[derive(Debug, Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn messenger_handshake(
    State(hook): State<MessengerHook>,
    Query(q): Query<Handshake>,
) -> Result<Response, ApiError> {
    let challenge = messenger::verify_handshake(
        q.mode.as_deref(),
        q.verify_token.as_deref(),
        q.challenge.as_deref(),
        hook.verify_token.expose(),
    )
    .ok_or_else(|| {
        refused(
            "messenger",
            "signature",
            ApiError::new(ErrorCode::Forbidden, "wrong hub.mode or hub.verify_token"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response())
}

async fn messenger_batch(
    State(hook): State<MessengerHook>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let given = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !messenger::signature_valid(given, hook.app_secret.expose(), &body) {
        return Err(bad_signature("messenger", "X-Hub-Signature-256"));
    }
    let messages = messenger::parse_batch(&body).map_err(|e| malformed("messenger", e))?;
    make_durable(hook.inbox.as_ref(), "messenger", messages).await?;
    Ok(text("EVENT_RECEIVED"))
}

// ---- WeChat --------------------------------------------------------------

#[derive(Clone)]
struct WeChatHook {
    token: Secret,
    cipher: Option<Arc<Cipher>>,
    inbox: Arc<dyn Inbox>,
}

/// `GET` (the server check) and `POST /webhooks/wechat`. With an
/// EncodingAESKey (safe mode) pushes are encrypted and signed with
/// `msg_signature`; without, they are plain and signed with `signature`.
pub fn wechat_routes(token: Secret, cipher: Option<Cipher>, inbox: Arc<dyn Inbox>) -> Router {
    Router::new().route("/webhooks/wechat", get(wechat_check).post(wechat_push)).with_state(WeChatHook {
        token,
        cipher: cipher.map(Arc::new),
        inbox,
    })
}

#[derive(Debug, Default, Deserialize)]
struct WeChatQuery {
    signature: Option<String>,
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

/// How far a WeChat `timestamp` may be from now. The signature covers the
/// token, the timestamp and the nonce, not the body: without a window, one
/// signed URL (in an access log, say) could post anything, forever.
const WECHAT_CLOCK_SKEW_SECS: i64 = 300;

/// Whether a WeChat `timestamp` is recent enough to be taken.
fn recent(timestamp: &str) -> bool {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    timestamp.parse::<i64>().is_ok_and(|t| (now - t).abs() <= WECHAT_CLOCK_SKEW_SECS)
}

impl WeChatQuery {
    /// True when `signature` (plain mode) matches.
    fn signed(&self, token: &str) -> bool {
        match (&self.signature, &self.timestamp, &self.nonce) {
            (Some(given), Some(ts), Some(nonce)) if recent(ts) => {
                wechat::signature_matches(given, &wechat::signature(token, ts, nonce))
            }
            _ => false,
        }
    }

    /// True when `msg_signature` over `encrypted` (safe mode) matches.
    fn msg_signed(&self, token: &str, encrypted: &str) -> bool {
        match (&self.msg_signature, &self.timestamp, &self.nonce) {
            (Some(given), Some(ts), Some(nonce)) if recent(ts) => {
                wechat::signature_matches(given, &wechat::msg_signature(token, ts, nonce, encrypted))
            }
            _ => false,
        }
    }
}

async fn wechat_check(
    State(hook): State<WeChatHook>,
    Query(q): Query<WeChatQuery>,
) -> Result<Response, ApiError> {
    let token = hook.token.expose();
    let echostr = q.echostr.clone().unwrap_or_default();
    let answer = match &hook.cipher {
        Some(cipher) if q.msg_signature.is_some() => {
            if !q.msg_signed(token, &echostr) {
                return Err(bad_signature("wechat", "msg_signature"));
            }
            cipher.decrypt(&echostr).map_err(|e| malformed("wechat", e))?
        }
        _ => {
            if !q.signed(token) {
                return Err(bad_signature("wechat", "signature"));
            }
            echostr
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], answer).into_response())
}

async fn wechat_push(
    State(hook): State<WeChatHook>,
    Query(q): Query<WeChatQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = hook.token.expose();
    let xml = match &hook.cipher {
        Some(cipher) => {
            let encrypted = wechat::encrypted_part(&body).map_err(|e| malformed("wechat", e))?;
            if !q.msg_signed(token, &encrypted) {
                return Err(bad_signature("wechat", "msg_signature"));
            }
            cipher.decrypt(&encrypted).map_err(|e| malformed("wechat", e))?.into_bytes()
        }
        None => {
            if !q.signed(token) {
                return Err(bad_signature("wechat", "signature"));
            }
            body.to_vec()
        }
    };
    let message = wechat::parse_push(&xml).map_err(|e| malformed("wechat", e))?;
    make_durable(hook.inbox.as_ref(), "wechat", message.into_iter().collect()).await?;
    Ok(text("success"))
}
