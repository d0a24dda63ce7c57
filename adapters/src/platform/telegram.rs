//! Telegram as the Bot API sees us: the webhook's secret-token check, an
//! Update parsed into an [`Inbound`], `sendMessage` for replies
//! ([`TelegramApi`]) and `getUpdates` long polling for bots without a
//! public webhook.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::split::Limit;
use super::{Inbound, Malformed, Platform, SendOutcome, described, unanswered};

/// Telegram refuses a text longer than this.
const TEXT_LIMIT: Limit = Limit::Chars(4096);

/// The update kinds we ask for and understand.
const ALLOWED_UPDATES: [&str; 2] = ["message", "edited_message"];

/// How long beyond the long-poll's own timeout a `getUpdates` may take
/// before we give up on the connection.
const POLL_GRACE: Duration = Duration::from_secs(10);

/// Whether a webhook call carries our secret in the
/// `X-Telegram-Bot-Api-Secret-Token` header, so forged updates are refused.
/// Compared in constant time; a missing header never matches.
pub fn secret_matches(header: Option<&str>, secret: &str) -> bool {
    match header {
        Some(given) if !secret.is_empty() => given.as_bytes().ct_eq(secret.as_bytes()).into(),
        _ => false,
    }
}

/// Parses a Bot API Update (webhook body or one polled update) into the
/// customer's message. `Ok(None)` for update kinds a chat does not show
/// (callback queries, channel posts, member changes…).
pub fn parse_update(body: &[u8]) -> Result<Option<Inbound>, Malformed> {
    let update: Update =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("Telegram update: {e}")))?;
    let (message, edited) = match (update.message, update.edited_message) {
        (Some(message), _) => (message, false),
        (None, Some(message)) => (message, true),
        (None, None) => return Ok(None),
    };
    let text = message.readable_text();
    let sent_at = if edited { message.edit_date.unwrap_or(message.date) } else { message.date };
    Ok(Some(Inbound {
        external_user_id: message.chat.id.to_string(),
        display_name: message.display_name(),
        text: if edited { format!("[edited] {text}") } else { text },
        platform_message_id: update.update_id.to_string(),
        sent_at_ms: sent_at.saturating_mul(1000),
    }))
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
    edited_message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    date: i64,
    edit_date: Option<i64>,
    chat: Chat,
    from: Option<User>,
    text: Option<String>,
    caption: Option<String>,
    photo: Option<IgnoredAny>,
    sticker: Option<Sticker>,
    voice: Option<IgnoredAny>,
    audio: Option<Audio>,
    video: Option<IgnoredAny>,
    video_note: Option<IgnoredAny>,
    animation: Option<IgnoredAny>,
    document: Option<Document>,
    location: Option<Location>,
    venue: Option<Venue>,
    contact: Option<Contact>,
    poll: Option<Poll>,
    dice: Option<Dice>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    title: Option<String>,
    first_name: Option<String>,
}

#[derive(Deserialize)]
struct User {
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Sticker {
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct Audio {
    title: Option<String>,
    file_name: Option<String>,
}

#[derive(Deserialize)]
struct Document {
    file_name: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct Venue {
    title: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    first_name: Option<String>,
    phone_number: Option<String>,
}

#[derive(Deserialize)]
struct Poll {
    question: Option<String>,
}

#[derive(Deserialize)]
struct Dice {
    emoji: Option<String>,
    value: Option<i64>,
}

impl Message {
    /// The text, or a placeholder for media followed by its caption.
    fn readable_text(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        let placeholder = self.placeholder();
        match self.caption.as_deref().filter(|caption| !caption.is_empty()) {
            Some(caption) => format!("{placeholder} {caption}"),
            None => placeholder,
        }
    }

    /// What agents see instead of media. A venue also carries a location and
    /// an animation also a document, so those are looked at first.
    fn placeholder(&self) -> String {
        if self.photo.is_some() {
            "[photo]".to_owned()
        } else if let Some(sticker) = &self.sticker {
            bracketed("sticker", [sticker.emoji.as_deref()])
        } else if self.voice.is_some() {
            "[voice message]".to_owned()
        } else if let Some(audio) = &self.audio {
            bracketed("audio", [audio.title.as_deref().or(audio.file_name.as_deref())])
        } else if self.video.is_some() {
            "[video]".to_owned()
        } else if self.video_note.is_some() {
            "[video message]".to_owned()
        } else if self.animation.is_some() {
            "[animation]".to_owned()
        } else if let Some(document) = &self.document {
            bracketed("file", [document.file_name.as_deref()])
        } else if let Some(venue) = &self.venue {
            bracketed("location", [venue.title.as_deref()])
        } else if let Some(location) = &self.location {
            format!("[location {:.2},{:.2}]", location.latitude, location.longitude)
        } else if let Some(contact) = &self.contact {
            bracketed("contact", [contact.first_name.as_deref(), contact.phone_number.as_deref()])
        } else if let Some(poll) = &self.poll {
            bracketed("poll", [poll.question.as_deref()])
        } else if let Some(dice) = &self.dice {
            let value = dice.value.map(|value| value.to_string());
            bracketed("dice", [dice.emoji.as_deref(), value.as_deref()])
        } else {
            "[unsupported message]".to_owned()
        }
    }

    /// The sender's name, else the chat's, else the chat id.
    fn display_name(&self) -> String {
        self.from
            .as_ref()
            .and_then(User::name)
            .or_else(|| non_empty(self.chat.title.as_deref()))
            .or_else(|| non_empty(self.chat.first_name.as_deref()))
            .unwrap_or_else(|| self.chat.id.to_string())
    }
}

impl User {
    /// "First Last", else the username.
    fn name(&self) -> Option<String> {
        let full = format!(
            "{} {}",
            self.first_name.as_deref().unwrap_or_default(),
            self.last_name.as_deref().unwrap_or_default()
        );
        non_empty(Some(full.trim())).or_else(|| non_empty(self.username.as_deref()))
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|value| !value.is_empty()).map(str::to_owned)
}

/// `[kind detail detail]`, leaving out the details Telegram did not send.
fn bracketed<const N: usize>(kind: &str, details: [Option<&str>; N]) -> String {
    let mut words = vec![kind];
    words.extend(details.into_iter().flatten().filter(|detail| !detail.is_empty()));
    format!("[{}]", words.join(" "))
}

/// The Bot API for one bot: sends replies and polls updates.
///
/// The token is part of every method's URL, so neither the URL nor a
/// transport error carrying it is ever logged or returned.
pub struct TelegramApi {
    http: reqwest::Client,
    /// `{api_url}/bot{token}`: secret.
    bot_url: String,
}

impl fmt::Debug for TelegramApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramApi").finish_non_exhaustive()
    }
}

/// One update fetched by [`TelegramApi::get_updates`], kept raw so the
/// webhook's [`parse_update`] reads it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledUpdate {
    /// Telegram's id: poll next from `update_id + 1` to confirm it.
    pub update_id: i64,
    /// The update's JSON.
    pub body: Vec<u8>,
}

/// Why `getUpdates` gave nothing, so the poller knows whether waiting helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// Telegram hands updates to someone else (HTTP 409): a webhook is set
    /// or another poller runs with the same token.
    #[error("Telegram refuses to poll: a webhook is set for this bot, or another poller runs with its token")]
    Conflict,
    /// The bot token is wrong or revoked (HTTP 401).
    #[error("Telegram rejected the bot token (HTTP 401): check the configured token")]
    Unauthorized,
    /// Anything else, with what went wrong: try again later, after the
    /// duration when Telegram said how long (429).
    #[error("Telegram polling unavailable: {0}")]
    Unavailable(String, Option<Duration>),
}

/// The Bot API's answer envelope.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    description: Option<String>,
    parameters: Option<Parameters>,
    result: Option<Value>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

impl Answer {
    fn retry_after(&self) -> Option<Duration> {
        self.parameters.as_ref()?.retry_after.map(Duration::from_secs)
    }
}

impl TelegramApi {
    /// The Bot API of the bot with `bot_token`, at `api_url`
    /// (`https://api.telegram.org`, or a local Bot API server / test fake).
    pub fn new(http: reqwest::Client, api_url: &str, bot_token: &str) -> Self {
        Self { http, bot_url: format!("{}/bot{bot_token}", api_url.trim_end_matches('/')) }
    }

    fn method_url(&self, method: &str) -> String {
        format!("{}/{method}", self.bot_url)
    }

    /// Long-polls for new messages, from `offset` (the last seen
    /// `update_id + 1`, which also confirms the earlier ones), waiting up to
    /// `timeout_secs` for one to arrive.
    pub async fn get_updates(
        &self,
        offset: Option<i64>,
        timeout_secs: u32,
    ) -> Result<Vec<PolledUpdate>, PollError> {
        let mut body = json!({ "timeout": timeout_secs, "allowed_updates": ALLOWED_UPDATES });
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        let response = self
            .http
            .post(self.method_url("getUpdates"))
            .timeout(Duration::from_secs(u64::from(timeout_secs)) + POLL_GRACE)
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(described(e), None))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(PollError::Unauthorized);
        }
        let answer: Option<Answer> = response.json().await.ok();
        let description = description(status, answer.as_ref());
        match answer {
            _ if status == StatusCode::CONFLICT => {
                tracing::warn!(%description, "Telegram answered getUpdates with a conflict");
                Err(PollError::Conflict)
            }
            Some(answer) if status.is_success() && answer.ok => Ok(polled(answer.result)),
            answer => Err(unavailable(description, answer.as_ref().and_then(Answer::retry_after))),
        }
    }
}

fn unavailable(reason: String, retry_after: Option<Duration>) -> PollError {
    PollError::Unavailable(reason, retry_after)
}

/// The updates of a `getUpdates` result, each re-serialised.
fn polled(result: Option<Value>) -> Vec<PolledUpdate> {
    let Some(Value::Array(updates)) = result else { return Vec::new() };
    updates
        .into_iter()
        .filter_map(|update| {
            let Some(update_id) = update.get("update_id").and_then(Value::as_i64) else {
                tracing::warn!("skipping a polled Telegram update without update_id");
                return None;
            };
            let body = serde_json::to_vec(&update).expect("a JSON value always serialises");
            Some(PolledUpdate { update_id, body })
        })
        .collect()
}

/// Telegram's description of a failure, else the HTTP status.
fn description(status: StatusCode, answer: Option<&Answer>) -> String {
    answer.and_then(|answer| answer.description.clone()).unwrap_or_else(|| format!("HTTP {status}"))
}

/// What a `sendMessage` answer means for the reply.
fn send_outcome(status: StatusCode, answer: Option<Answer>) -> SendOutcome {
    let description = description(status, answer.as_ref());
    let retry_after = answer.as_ref().and_then(Answer::retry_after);
    if status == StatusCode::OK && answer.is_some_and(|answer| answer.ok) {
        SendOutcome::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        SendOutcome::Transient { reason: format!("rate limited by Telegram: {description}"), retry_after }
    } else if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND) {
        // Our bot token, not the customer: kept (dead-lettered) for a retry
        // once LIVECHAT_TELEGRAM_BOT_TOKEN is fixed.
        tracing::error!("Telegram refuses the bot token (LIVECHAT_TELEGRAM_BOT_TOKEN): {description}");
        SendOutcome::Transient {
            reason: format!("Telegram refuses the bot token: {description}"),
            retry_after,
        }
    } else if status == StatusCode::FORBIDDEN && description.to_lowercase().contains("blocked") {
        SendOutcome::Permanent { reason: "the customer blocked the bot".to_owned() }
    } else if status.is_client_error() {
        SendOutcome::Permanent { reason: description }
    } else {
        SendOutcome::Transient { reason: format!("Telegram is unavailable: {description}"), retry_after }
    }
}

/// Chat ids are numbers on the wire; a `@channel` name stays a string.
fn chat_id(external_user_id: &str) -> Value {
    external_user_id.parse::<i64>().map_or_else(|_| Value::from(external_user_id), Value::from)
}

#[async_trait]
impl Platform for TelegramApi {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn limit(&self) -> Limit {
        TEXT_LIMIT
    }

    async fn send(&self, external_user_id: &str, text: &str) -> SendOutcome {
        let body = json!({ "chat_id": chat_id(external_user_id), "text": text });
        match self.http.post(self.method_url("sendMessage")).json(&body).send().await {
            Ok(response) => {
                let status = response.status();
                send_outcome(status, response.json().await.ok())
            }
            Err(e) => unanswered("Telegram", e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Json;
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode as AxumStatus;
    use axum::routing::post;

    use super::*;

    fn inbound(json: Value) -> Inbound {
        parse_update(json.to_string().as_bytes()).unwrap().unwrap()
    }

    /// A private-chat message as Telegram sends it, with `extra` fields
    /// merged in and `text` dropped unless given.
    fn message(extra: Value) -> Value {
        let mut message = json!({
            "message_id": 17,
            "from": {"id": 123456789, "is_bot": false, "first_name": "Anna", "last_name": "Berg",
                     "username": "anna_b", "language_code": "de"},
            "chat": {"id": 123456789, "first_name": "Anna", "last_name": "Berg",
                     "username": "anna_b", "type": "private"},
            "date": 1_700_000_000
        });
        if let (Some(message), Value::Object(extra)) = (message.as_object_mut(), extra) {
            message.extend(extra);
        }
        json!({ "update_id": 900_001, "message": message })
    }

    fn text_of(extra: Value) -> String {
        inbound(message(extra)).text
    }

    #[test]
    fn a_text_message_becomes_an_inbound() {
        let got = inbound(message(json!({"text": "Hallo, wo ist meine Bestellung?"})));
        assert_eq!(
            got,
            Inbound {
                external_user_id: "123456789".into(),
                display_name: "Anna Berg".into(),
                text: "Hallo, wo ist meine Bestellung?".into(),
                platform_message_id: "900001".into(),
                sent_at_ms: 1_700_000_000_000,
            }
        );
    }

    #[test]
    fn an_edit_is_marked_and_dated_by_its_edit() {
        let update = json!({
            "update_id": 900_002,
            "edited_message": {
                "message_id": 17, "date": 1_700_000_000, "edit_date": 1_700_000_060,
                "from": {"id": 5, "is_bot": false, "first_name": "Anna"},
                "chat": {"id": 5, "type": "private", "first_name": "Anna"},
                "text": "Hallo, wo ist meine Lieferung?"
            }
        });
        let got = inbound(update);
        assert_eq!(got.text, "[edited] Hallo, wo ist meine Lieferung?");
        assert_eq!(got.sent_at_ms, 1_700_000_060_000);
        assert_eq!(got.platform_message_id, "900002");
        assert_eq!(got.display_name, "Anna");
    }

    #[test]
    fn the_name_falls_back_to_username_then_chat_then_id() {
        let from_username = json!({"update_id": 1, "message": {"date": 1, "text": "hi",
            "from": {"id": 7, "is_bot": false, "first_name": "", "username": "kim"},
            "chat": {"id": 7, "type": "private"}}});
        assert_eq!(inbound(from_username).display_name, "kim");
        let group_title = json!({"update_id": 2, "message": {"date": 1, "text": "hi",
            "chat": {"id": -100_123, "type": "supergroup", "title": "Support Gruppe"}}});
        assert_eq!(inbound(group_title).display_name, "Support Gruppe");
        let bare = json!({"update_id": 3, "message": {"date": 1, "text": "hi",
            "chat": {"id": -42, "type": "group"}}});
        assert_eq!(inbound(bare).display_name, "-42");
    }

    #[test]
    fn media_become_placeholders_with_their_caption() {
        let photo = json!([{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 67}]);
        assert_eq!(text_of(json!({"photo": photo.clone()})), "[photo]");
        assert_eq!(
            text_of(json!({"photo": photo, "caption": "Das Paket ist kaputt"})),
            "[photo] Das Paket ist kaputt"
        );
        let sticker = json!({"file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular",
                             "width": 512, "height": 512, "is_animated": false, "is_video": false});
        assert_eq!(text_of(json!({"sticker": sticker})), "[sticker]");
        let mut with_emoji = sticker.clone();
        with_emoji["emoji"] = json!("😀");
        assert_eq!(text_of(json!({"sticker": with_emoji})), "[sticker 😀]");
        assert_eq!(
            text_of(json!({"voice": {"file_id": "AwAC", "file_unique_id": "AgAD", "duration": 3}})),
            "[voice message]"
        );
        assert_eq!(
            text_of(json!({"audio": {"file_id": "CQAC", "file_unique_id": "AgAD", "duration": 200,
                                     "title": "Song", "file_name": "song.mp3"}})),
            "[audio Song]"
        );
        assert_eq!(
            text_of(json!({"audio": {"file_id": "CQAC", "file_unique_id": "AgAD", "duration": 200,
                                     "file_name": "song.mp3"}})),
            "[audio song.mp3]"
        );
        assert_eq!(
            text_of(json!({"audio": {"file_id": "CQAC", "file_unique_id": "AgAD", "duration": 200}})),
            "[audio]"
        );
        let video =
            json!({"file_id": "BAAC", "file_unique_id": "AgAD", "width": 640, "height": 360, "duration": 5});
        assert_eq!(
            text_of(json!({"video": video.clone(), "caption": "so sieht es aus"})),
            "[video] so sieht es aus"
        );
        assert_eq!(
            text_of(
                json!({"video_note": {"file_id": "DQAC", "file_unique_id": "AgAD", "length": 240, "duration": 4}})
            ),
            "[video message]"
        );
        // An animation also carries a document, for old clients.
        let document = json!({"file_id": "BQAC", "file_unique_id": "AgAD", "file_name": "rechnung.pdf"});
        assert_eq!(text_of(json!({"animation": video, "document": document.clone()})), "[animation]");
        assert_eq!(text_of(json!({"document": document})), "[file rechnung.pdf]");
        assert_eq!(text_of(json!({"document": {"file_id": "BQAC", "file_unique_id": "AgAD"}})), "[file]");
    }

    #[test]
    fn places_people_and_games_become_placeholders() {
        let location = json!({"latitude": 52.520_008, "longitude": 13.404_954});
        assert_eq!(text_of(json!({"location": location.clone()})), "[location 52.52,13.40]");
        // A venue also carries its location.
        let venue = json!({"location": location.clone(), "title": "Alexanderplatz", "address": "Berlin"});
        assert_eq!(text_of(json!({"venue": venue, "location": location})), "[location Alexanderplatz]");
        assert_eq!(
            text_of(
                json!({"contact": {"phone_number": "+4930123456", "first_name": "Jonas", "user_id": 99}})
            ),
            "[contact Jonas +4930123456]"
        );
        let poll = json!({"id": "5", "question": "Welche Farbe?", "options": [], "total_voter_count": 0,
                          "is_closed": false, "is_anonymous": true, "type": "regular",
                          "allows_multiple_answers": false});
        assert_eq!(text_of(json!({"poll": poll})), "[poll Welche Farbe?]");
        assert_eq!(text_of(json!({"dice": {"emoji": "🎲", "value": 4}})), "[dice 🎲 4]");
        assert_eq!(text_of(json!({"new_chat_title": "x"})), "[unsupported message]");
    }

    #[test]
    fn other_update_kinds_are_ignored() {
        let callback = json!({"update_id": 5, "callback_query": {"id": "1", "data": "x",
            "from": {"id": 1, "is_bot": false, "first_name": "A"}, "chat_instance": "1"}});
        assert_eq!(parse_update(callback.to_string().as_bytes()), Ok(None));
    }

    #[test]
    fn broken_updates_are_malformed() {
        assert!(parse_update(b"not json").is_err());
        assert!(parse_update(br#"{"message": {"date": 1, "chat": {"id": 1}, "text": "x"}}"#).is_err());
        assert!(parse_update(br#"{"update_id": "seven"}"#).is_err());
        assert!(parse_update(br#"{"update_id": 7}"#).is_ok());
    }

    #[test]
    fn the_secret_must_match_exactly() {
        assert!(secret_matches(Some("s3cret-token_1"), "s3cret-token_1"));
        assert!(!secret_matches(Some("s3cret-token_2"), "s3cret-token_1"));
        assert!(!secret_matches(Some("s3cret"), "s3cret-token_1"));
        assert!(!secret_matches(None, "s3cret-token_1"));
        assert!(!secret_matches(Some(""), ""));
    }

    const TOKEN: &str = "123456:ABC-secret";

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap()
    }

    /// A fake Bot API whose answer depends on the chat id.
    async fn send_message(Path(bot): Path<String>, Json(body): Json<Value>) -> (AxumStatus, Json<Value>) {
        if bot != format!("bot{TOKEN}") {
            // What the Bot API answers a token it does not know.
            return (
                AxumStatus::NOT_FOUND,
                Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
            );
        }
        let shape_ok = bot == format!("bot{TOKEN}")
            && body["text"] == "Ihre Bestellung ist unterwegs"
            && body.as_object().is_some_and(|fields| fields.len() == 2);
        if !shape_ok {
            return (AxumStatus::IM_A_TEAPOT, Json(json!({"ok": false, "description": "bad request shape"})));
        }
        let failure = |status: AxumStatus, code: u16, description: &str| {
            (status, Json(json!({"ok": false, "error_code": code, "description": description})))
        };
        match &body["chat_id"] {
            Value::String(channel) if channel == "@shop_news" => {
                (AxumStatus::OK, Json(json!({"ok": true, "result": {"message_id": 2}})))
            }
            Value::Number(id) => match id.as_i64() {
                Some(1) => (AxumStatus::OK, Json(json!({"ok": true, "result": {"message_id": 1}}))),
                Some(2) => (
                    AxumStatus::TOO_MANY_REQUESTS,
                    Json(json!({"ok": false, "error_code": 429,
                                "description": "Too Many Requests: retry after 3",
                                "parameters": {"retry_after": 3}})),
                ),
                Some(3) => failure(AxumStatus::FORBIDDEN, 403, "Forbidden: bot was blocked by the user"),
                Some(4) => failure(AxumStatus::FORBIDDEN, 403, "Forbidden: user is deactivated"),
                Some(5) => failure(AxumStatus::INTERNAL_SERVER_ERROR, 500, "Internal Server Error"),
                Some(6) => failure(AxumStatus::BAD_REQUEST, 400, "Bad Request: chat not found"),
                _ => failure(AxumStatus::IM_A_TEAPOT, 418, "unexpected chat id"),
            },
            _ => failure(AxumStatus::IM_A_TEAPOT, 418, "chat id of the wrong type"),
        }
    }

    async fn api() -> TelegramApi {
        let url = serve(Router::new().route("/{bot}/sendMessage", post(send_message))).await;
        TelegramApi::new(client(), &url, TOKEN)
    }

    const REPLY: &str = "Ihre Bestellung ist unterwegs";

    #[tokio::test]
    async fn send_maps_each_answer_to_an_outcome() {
        let api = api().await;
        assert_eq!(api.name(), "telegram");
        assert_eq!(api.limit(), Limit::Chars(4096));
        assert_eq!(api.send("1", REPLY).await, SendOutcome::Delivered);
        assert_eq!(api.send("@shop_news", REPLY).await, SendOutcome::Delivered);
        assert_eq!(
            api.send("2", REPLY).await,
            SendOutcome::Transient {
                reason: "rate limited by Telegram: Too Many Requests: retry after 3".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert_eq!(
            api.send("3", REPLY).await,
            SendOutcome::Permanent { reason: "the customer blocked the bot".into() }
        );
        assert_eq!(
            api.send("4", REPLY).await,
            SendOutcome::Permanent { reason: "Forbidden: user is deactivated".into() }
        );
        assert!(matches!(api.send("5", REPLY).await, SendOutcome::Transient { retry_after: None, .. }));
        assert_eq!(
            api.send("6", REPLY).await,
            SendOutcome::Permanent { reason: "Bad Request: chat not found".into() }
        );
    }

    #[tokio::test]
    async fn a_wrong_token_is_ours_to_fix_not_the_customers_refusal() {
        let url = serve(Router::new().route("/{bot}/sendMessage", post(send_message))).await;
        let wrong_token = TelegramApi::new(client(), &url, "999:other");
        // Kept for a retry (and dead-lettered in the end), never dropped as
        // if the customer had refused it.
        let outcome = wrong_token.send("1", REPLY).await;
        assert!(
            matches!(&outcome, SendOutcome::Transient { reason, .. } if reason.contains("bot token")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn unreachable_and_slow_servers_are_transient_and_keep_the_token_secret() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let outcome = TelegramApi::new(client(), &closed, TOKEN).send("1", REPLY).await;
        let SendOutcome::Transient { reason, retry_after: None } = outcome else { panic!("{outcome:?}") };
        assert!(!reason.contains(TOKEN) && !reason.contains("127.0.0.1"), "{reason}");

        let slow = serve(Router::new().route(
            "/{bot}/sendMessage",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Json(json!({"ok": true}))
            }),
        ))
        .await;
        let outcome = TelegramApi::new(client(), &slow, TOKEN).send("1", REPLY).await;
        let SendOutcome::Transient { reason, .. } = outcome else { panic!("{outcome:?}") };
        assert!(!reason.contains(TOKEN), "{reason}");
    }

    /// A fake `getUpdates`: the bot token picks the answer.
    async fn get_updates(
        State(calls): State<Arc<AtomicUsize>>,
        Path(bot): Path<String>,
        Json(body): Json<Value>,
    ) -> (AxumStatus, Json<Value>) {
        calls.fetch_add(1, Ordering::SeqCst);
        let expected = json!({"offset": 10, "timeout": 0, "allowed_updates": ["message", "edited_message"]});
        match bot.as_str() {
            "botgood" if body == expected => {
                // Longer than the client's own timeout: the long poll's wins.
                tokio::time::sleep(Duration::from_millis(800)).await;
                let updates = json!([
                    {"update_id": 10, "message": {"message_id": 1, "date": 1_700_000_000,
                        "chat": {"id": 8, "type": "private", "first_name": "Li"}, "text": "你好"}},
                    {"update_id": 11, "callback_query": {"id": "9"}}
                ]);
                (AxumStatus::OK, Json(json!({"ok": true, "result": updates})))
            }
            "botfirst" if body.get("offset").is_none() => {
                (AxumStatus::OK, Json(json!({"ok": true, "result": []})))
            }
            "bothooked" => (
                AxumStatus::CONFLICT,
                Json(json!({"ok": false, "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"})),
            ),
            "botbad" => (
                AxumStatus::UNAUTHORIZED,
                Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
            ),
            "botbusy" => (
                AxumStatus::TOO_MANY_REQUESTS,
                Json(
                    json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3",
                            "parameters": {"retry_after": 3}}),
                ),
            ),
            _ => (AxumStatus::IM_A_TEAPOT, Json(json!({"ok": false, "description": "unexpected request"}))),
        }
    }

    #[tokio::test]
    async fn get_updates_returns_raw_updates_and_maps_failures() {
        let calls = Arc::new(AtomicUsize::new(0));
        let url =
            serve(Router::new().route("/{bot}/getUpdates", post(get_updates)).with_state(calls.clone()))
                .await;
        let bot = |token: &str| TelegramApi::new(client(), &url, token);

        let updates = bot("good").get_updates(Some(10), 0).await.unwrap();
        assert_eq!(updates.iter().map(|u| u.update_id).collect::<Vec<_>>(), [10, 11]);
        let first = parse_update(&updates[0].body).unwrap().unwrap();
        assert_eq!((first.text.as_str(), first.external_user_id.as_str()), ("你好", "8"));
        assert_eq!(parse_update(&updates[1].body), Ok(None));

        assert_eq!(bot("first").get_updates(None, 0).await, Ok(vec![]));
        let conflict = bot("hooked").get_updates(Some(1), 0).await.unwrap_err();
        assert_eq!(conflict, PollError::Conflict);
        assert!(conflict.to_string().contains("a webhook is set"), "{conflict}");
        assert_eq!(bot("bad").get_updates(Some(1), 0).await, Err(PollError::Unauthorized));
        assert_eq!(
            bot("busy").get_updates(Some(1), 0).await,
            Err(PollError::Unavailable(
                "Too Many Requests: retry after 3".into(),
                Some(Duration::from_secs(3))
            ))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }
}
