//! Facebook Messenger as a Page's webhook sees us: the subscription
//! handshake, the `X-Hub-Signature-256` check, a batch of messaging events
//! parsed into [`Inbound`]s, and the Send API for replies
//! ([`MessengerApi`]).

use std::fmt;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::split::Limit;
use super::{Inbound, Malformed, Platform, SendOutcome, unanswered};

/// Messenger refuses a text longer than this.
const TEXT_LIMIT: Limit = Limit::Chars(2000);

/// The Graph error subcode for a send outside the 24-hour window.
const OUTSIDE_WINDOW_SUBCODE: i64 = 2018278;
/// The Graph error subcode for a customer who cannot be reached.
const UNAVAILABLE_SUBCODE: i64 = 1545041;

/// Answers Meta's webhook subscription check: the challenge to echo back
/// when `hub.mode` is `subscribe` and `hub.verify_token` is ours (compared in
/// constant time), else `None` (403).
pub fn verify_handshake(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &str,
) -> Option<String> {
    let token_holds = verify_token.is_some_and(|given| {
        !expected_token.is_empty() && bool::from(given.as_bytes().ct_eq(expected_token.as_bytes()))
    });
    (mode == Some("subscribe") && token_holds).then(|| challenge.map(str::to_owned)).flatten()
}

/// Whether a webhook body was signed by Meta with our app secret: the
/// `X-Hub-Signature-256` header is `sha256=` and the hex HMAC-SHA256 of the
/// raw body. Checked in constant time; missing or malformed never holds.
pub fn signature_valid(header: Option<&str>, app_secret: &str, body: &[u8]) -> bool {
    let Some(given) = header.and_then(|header| header.strip_prefix("sha256=")) else { return false };
    let Ok(given) = hex::decode(given) else { return false };
    if app_secret.is_empty() {
        return false;
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Parses a webhook batch into the customers' messages, in order. Our own
/// sends echoed back, delivery and read receipts and other events are left
/// out; a body that is not a Page's batch is [`Malformed`]. One event that
/// cannot be read is skipped (and logged), not the whole batch: refusing
/// it would make Meta deliver the good messages beside it again forever.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Inbound>, Malformed> {
    let batch: Batch =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("Messenger batch: {e}")))?;
    if batch.object != "page" {
        return Err(Malformed(format!("Messenger batch for {:?}, not a page", batch.object)));
    }
    let events = batch.entry.into_iter().flat_map(|entry| entry.messaging.unwrap_or_default());
    let mut messages = Vec::new();
    for raw in events {
        let read = serde_json::from_value::<Event>(raw)
            .map_err(|e| Malformed(format!("Messenger event: {e}")))
            .and_then(|event| event.into_inbound().transpose());
        match read {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "skipping a Messenger event that cannot be read"),
        }
    }
    Ok(messages)
}

#[derive(Deserialize)]
struct Batch {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    messaging: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Event {
    sender: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Message>,
    postback: Option<Postback>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    sticker_id: Option<Value>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    title: Option<String>,
    url: Option<String>,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct Postback {
    title: Option<String>,
    mid: Option<String>,
}

impl Event {
    /// The customer's message this event carries, if any.
    fn into_inbound(self) -> Option<Result<Inbound, Malformed>> {
        let (text, mid) = match (self.message, self.postback) {
            (Some(message), _) if message.is_echo => return None,
            (Some(message), _) => (message.readable_text(), Some(message.mid)),
            (None, Some(postback)) => (bracketed("button", postback.title.as_deref()), postback.mid),
            (None, None) => return None,
        };
        let (Some(sender), Some(timestamp)) = (self.sender, self.timestamp) else {
            return Some(Err(Malformed("Messenger message without sender or timestamp".to_owned())));
        };
        Some(Ok(Inbound {
            platform_message_id: mid.unwrap_or_else(|| format!("{}:{timestamp}", sender.id)),
            display_name: sender.id.clone(),
            external_user_id: sender.id,
            text,
            sent_at_ms: timestamp,
        }))
    }
}

impl Message {
    /// The text and a placeholder for each attachment, joined by spaces.
    fn readable_text(&self) -> String {
        let is_sticker = self.sticker_id.as_ref().is_some_and(|id| !id.is_null());
        let parts: Vec<String> = self
            .text
            .iter()
            .filter(|text| !text.is_empty())
            .cloned()
            .chain(self.attachments.iter().map(|attachment| attachment.placeholder(is_sticker)))
            .collect();
        if parts.is_empty() { "[unsupported message]".to_owned() } else { parts.join(" ") }
    }
}

impl Attachment {
    /// What agents see instead of the attachment.
    fn placeholder(&self, is_sticker: bool) -> String {
        match self.kind.as_str() {
            "image" if is_sticker || !self.payload["sticker_id"].is_null() => "[sticker]".to_owned(),
            "image" => "[photo]".to_owned(),
            "audio" => "[voice message]".to_owned(),
            "video" => "[video]".to_owned(),
            "file" => bracketed("file", self.payload_text("name").or(self.title())),
            "location" => self.location(),
            "fallback" => bracketed("link", self.title().or(self.link())),
            _ => "[unsupported message]".to_owned(),
        }
    }

    fn payload_text(&self, field: &str) -> Option<&str> {
        self.payload[field].as_str()
    }

    fn title(&self) -> Option<&str> {
        self.title.as_deref().or(self.payload_text("title"))
    }

    fn link(&self) -> Option<&str> {
        self.url.as_deref().or(self.payload_text("url"))
    }

    fn location(&self) -> String {
        let coordinates = &self.payload["coordinates"];
        match (coordinates["lat"].as_f64(), coordinates["long"].as_f64()) {
            (Some(lat), Some(long)) => format!("[location {lat:.2},{long:.2}]"),
            _ => "[location]".to_owned(),
        }
    }
}

/// `[kind detail]`, or `[kind]` without a detail.
fn bracketed(kind: &str, detail: Option<&str>) -> String {
    match detail.filter(|detail| !detail.is_empty()) {
        Some(detail) => format!("[{kind} {detail}]"),
        None => format!("[{kind}]"),
    }
}

/// The Send API for one Page: replies to customers.
///
/// The Page access token travels in the query string, so neither the URL nor
/// a transport error carrying it is ever logged or returned.
pub struct MessengerApi {
    http: reqwest::Client,
    messages_url: String,
    page_token: String,
}

impl fmt::Debug for MessengerApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessengerApi").field("messages_url", &self.messages_url).finish_non_exhaustive()
    }
}

impl MessengerApi {
    /// The Send API of the Page with `page_token`, at `api_url` (the Graph
    /// API with its version, `https://graph.facebook.com/v21.0`, or a test
    /// fake).
    pub fn new(http: reqwest::Client, api_url: &str, page_token: &str) -> Self {
        Self {
            http,
            messages_url: format!("{}/me/messages", api_url.trim_end_matches('/')),
            page_token: page_token.to_owned(),
        }
    }
}

/// A Graph API error answer.
#[derive(Deserialize)]
struct GraphFailure {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    message: Option<String>,
    code: Option<i64>,
    error_subcode: Option<i64>,
}

/// What a Send API answer means for the reply.
fn send_outcome(status: StatusCode, error: Option<GraphError>) -> SendOutcome {
    if status.is_success() {
        return SendOutcome::Delivered;
    }
    let code = error.as_ref().and_then(|error| error.code);
    let subcode = error.as_ref().and_then(|error| error.error_subcode);
    let message = error.and_then(|error| error.message).unwrap_or_else(|| format!("HTTP {status}"));
    let outside_window = (code == Some(10) && subcode == Some(OUTSIDE_WINDOW_SUBCODE))
        || (matches!(code, Some(10 | 200)) && message.to_lowercase().contains("window"));
    let transient = |reason: String| SendOutcome::Transient { reason, retry_after: None };
    if outside_window {
        SendOutcome::Permanent {
            reason: "outside Messenger's 24-hour window: the customer must write first".to_owned(),
        }
    } else if code == Some(551) || subcode == Some(UNAVAILABLE_SUBCODE) {
        SendOutcome::Permanent {
            reason: "the customer is not available (blocked the page or left Messenger)".to_owned(),
        }
    } else if matches!(code, Some(4 | 17 | 32 | 613)) || status == StatusCode::TOO_MANY_REQUESTS {
        transient(format!("rate limited by Messenger: {message}"))
    } else if matches!(code, Some(1 | 2)) || status.is_server_error() {
        transient(format!("Messenger is unavailable: {message}"))
    } else if matches!(code, Some(102 | 190)) {
        // Our page token, not the customer: kept (dead-lettered) for a
        // retry once LIVECHAT_MESSENGER_PAGE_TOKEN is fixed.
        tracing::error!("Messenger refuses the page token (LIVECHAT_MESSENGER_PAGE_TOKEN): {message}");
        transient(format!("Messenger refuses the page token: {message}"))
    } else {
        SendOutcome::Permanent { reason: message }
    }
}

#[async_trait]
impl Platform for MessengerApi {
    fn name(&self) -> &'static str {
        "messenger"
    }

    fn limit(&self) -> Limit {
        TEXT_LIMIT
    }

    async fn send(&self, external_user_id: &str, text: &str) -> SendOutcome {
        let body = json!({
            "recipient": { "id": external_user_id },
            "messaging_type": "RESPONSE",
            "message": { "text": text },
        });
        let request = self
            .http
            .post(&self.messages_url)
            .query(&[("access_token", self.page_token.as_str())])
            .json(&body);
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let failure: Option<GraphFailure> = response.json().await.ok();
                send_outcome(status, failure.map(|failure| failure.error))
            }
            Err(e) => unanswered("Messenger", e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use axum::extract::Query;
    use axum::http::StatusCode as AxumStatus;
    use axum::routing::post;
    use axum::{Json, Router};

    use super::*;

    #[test]
    fn the_handshake_echoes_the_challenge_only_for_our_token() {
        let check = |mode, token| verify_handshake(mode, token, Some("1158201444"), "meine-verify-token");
        assert_eq!(check(Some("subscribe"), Some("meine-verify-token")), Some("1158201444".to_owned()));
        assert_eq!(check(Some("subscribe"), Some("falsch")), None);
        assert_eq!(check(Some("unsubscribe"), Some("meine-verify-token")), None);
        assert_eq!(check(None, Some("meine-verify-token")), None);
        assert_eq!(check(Some("subscribe"), None), None);
        assert_eq!(verify_handshake(Some("subscribe"), Some("t"), None, "t"), None);
        assert_eq!(verify_handshake(Some("subscribe"), Some(""), Some("1"), ""), None);
    }

    #[test]
    fn the_signature_matches_rfc_4231_test_case_2() {
        let header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(signature_valid(Some(header), "Jefe", b"what do ya want for nothing?"));
        assert!(signature_valid(
            Some(&header.to_uppercase().replace("SHA256=", "sha256=")),
            "Jefe",
            b"what do ya want for nothing?"
        ));
        assert!(!signature_valid(Some(header), "Jefe", b"what do ya want for nothing!"));
        assert!(!signature_valid(Some(header), "jefe", b"what do ya want for nothing?"));
    }

    #[test]
    fn a_webhook_body_signature_is_checked_over_the_raw_bytes() {
        let body =
            br#"{"object":"page","entry":[{"id":"1067280970047460","time":1700000000000,"messaging":[]}]}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_valid(Some(&header), "app-secret", body));
        assert!(!signature_valid(Some(&header), "other-secret", body));
        assert!(!signature_valid(Some(&header), "app-secret", &body[1..]));
        assert!(!signature_valid(Some(&header[7..]), "app-secret", body), "prefix required");
        assert!(!signature_valid(Some("sha256=zz"), "app-secret", body));
        assert!(!signature_valid(Some("sha256="), "app-secret", body));
        assert!(!signature_valid(None, "app-secret", body));
        assert!(!signature_valid(Some(&header), "", body));
    }

    const PAGE: &str = "1067280970047460";

    fn event(sender: &str, timestamp: i64, message: Value) -> Value {
        json!({"sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": timestamp, "message": message})
    }

    fn batch(entries: Value) -> Vec<u8> {
        json!({"object": "page", "entry": entries}).to_string().into_bytes()
    }

    #[test]
    fn a_batch_yields_the_customers_messages_in_order() {
        let body = batch(json!([
            {"id": PAGE, "time": 1_700_000_000_100_i64, "messaging": [
                event("6541234567891234", 1_700_000_000_000, json!({"mid": "m_first", "text": "Hallo!"})),
                {"sender": {"id": "6541234567891234"}, "recipient": {"id": PAGE},
                 "delivery": {"mids": ["m_ours"], "watermark": 1_700_000_000_000_i64}},
                {"sender": {"id": "6541234567891234"}, "recipient": {"id": PAGE},
                 "timestamp": 1_700_000_000_050_i64, "read": {"watermark": 1_700_000_000_000_i64}},
                event(PAGE, 1_700_000_000_060, json!({"mid": "m_echo", "is_echo": true, "app_id": 1517,
                                                      "text": "our own reply"})),
            ]},
            {"id": PAGE, "time": 1_700_000_000_200_i64, "messaging": [
                event("7000000000000001", 1_700_000_000_150, json!({"mid": "m_second", "text": "Wo ist mein Paket?"})),
            ]},
            {"id": PAGE, "time": 1_700_000_000_300_i64, "standby": []},
        ]));
        let got = parse_batch(&body).unwrap();
        assert_eq!(
            got,
            [
                Inbound {
                    external_user_id: "6541234567891234".into(),
                    display_name: "6541234567891234".into(),
                    text: "Hallo!".into(),
                    platform_message_id: "m_first".into(),
                    sent_at_ms: 1_700_000_000_000,
                },
                Inbound {
                    external_user_id: "7000000000000001".into(),
                    display_name: "7000000000000001".into(),
                    text: "Wo ist mein Paket?".into(),
                    platform_message_id: "m_second".into(),
                    sent_at_ms: 1_700_000_000_150,
                },
            ]
        );
    }

    fn text_of(message: Value) -> String {
        let body = batch(json!([{"id": PAGE, "time": 1, "messaging": [event("42", 1, message)]}]));
        let mut got = parse_batch(&body).unwrap();
        assert_eq!(got.len(), 1);
        got.remove(0).text
    }

    #[test]
    fn attachments_become_placeholders() {
        let url = "https://scontent.xx.fbcdn.net/v/t1.15752-9/abc.jpg";
        assert_eq!(
            text_of(json!({"mid": "m", "attachments": [{"type": "image", "payload": {"url": url}}]})),
            "[photo]"
        );
        assert_eq!(
            text_of(json!({"mid": "m", "sticker_id": 369239263222822_i64,
                           "attachments": [{"type": "image", "payload": {"url": url, "sticker_id": 369239263222822_i64}}]})),
            "[sticker]"
        );
        assert_eq!(
            text_of(json!({"mid": "m", "text": "Hier:", "attachments": [
                {"type": "audio", "payload": {"url": url}},
                {"type": "video", "payload": {"url": url}},
            ]})),
            "Hier: [voice message] [video]"
        );
        assert_eq!(
            text_of(
                json!({"mid": "m", "attachments": [{"type": "file", "payload": {"url": url, "name": "rechnung.pdf"}}]})
            ),
            "[file rechnung.pdf]"
        );
        assert_eq!(
            text_of(json!({"mid": "m", "attachments": [{"type": "file", "payload": {"url": url}}]})),
            "[file]"
        );
        assert_eq!(
            text_of(json!({"mid": "m", "attachments": [{"type": "location", "title": "Pinned Location",
                "payload": {"coordinates": {"lat": 52.520_008, "long": 13.404_954}}}]})),
            "[location 52.52,13.40]"
        );
        assert_eq!(
            text_of(
                json!({"mid": "m", "text": "schau", "attachments": [{"type": "fallback", "title": "Unser Shop",
                "url": "https://example.com/shop", "payload": null}]})
            ),
            "schau [link Unser Shop]"
        );
        assert_eq!(
            text_of(
                json!({"mid": "m", "attachments": [{"type": "fallback", "payload": {"url": "https://example.com/x"}}]})
            ),
            "[link https://example.com/x]"
        );
        assert_eq!(
            text_of(json!({"mid": "m", "attachments": [{"type": "template", "payload": {}}]})),
            "[unsupported message]"
        );
        assert_eq!(text_of(json!({"mid": "m"})), "[unsupported message]");
    }

    #[test]
    fn a_button_press_becomes_a_message() {
        let body = batch(json!([{"id": PAGE, "time": 1, "messaging": [
            {"sender": {"id": "42"}, "recipient": {"id": PAGE}, "timestamp": 1_700_000_000_000_i64,
             "postback": {"title": "Bestellung verfolgen", "payload": "TRACK_ORDER", "mid": "m_pb"}},
            {"sender": {"id": "42"}, "recipient": {"id": PAGE}, "timestamp": 1_700_000_000_001_i64,
             "postback": {"title": "Get Started", "payload": "GET_STARTED"}},
        ]}]));
        let got = parse_batch(&body).unwrap();
        assert_eq!(got[0].text, "[button Bestellung verfolgen]");
        assert_eq!(got[0].platform_message_id, "m_pb");
        assert_eq!(got[1].text, "[button Get Started]");
        assert_eq!(got[1].platform_message_id, "42:1700000000001");
    }

    #[test]
    fn an_unreadable_event_is_skipped_and_the_rest_of_the_batch_kept() {
        let body = batch(json!([{"id": PAGE, "time": 1, "messaging": [
            event("42", 1, json!({"text": "no mid"})),
            {"timestamp": 2, "message": {"mid": "m_nosender", "text": "no sender"}},
            event("43", 3, json!({"mid": "m_good", "text": "good"})),
        ]}]));
        let got = parse_batch(&body).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].platform_message_id.as_str(), got[0].text.as_str()), ("m_good", "good"));
    }

    #[test]
    fn other_objects_and_broken_bodies_are_malformed() {
        assert!(parse_batch(br#"{"object":"instagram","entry":[]}"#).is_err());
        assert!(parse_batch(b"{").is_err());
        assert!(parse_batch(br#"{"entry":[]}"#).is_err());
        assert_eq!(parse_batch(br#"{"object":"page","entry":[{"id":"1","time":1}]}"#), Ok(vec![]));
    }

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v21.0/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }

    const PAGE_TOKEN: &str = "EAAGm0PX4ZCpsBAsecret";

    fn graph_error(
        status: AxumStatus,
        code: i64,
        subcode: Option<i64>,
        message: &str,
    ) -> (AxumStatus, Json<Value>) {
        let mut error =
            json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"});
        if let Some(subcode) = subcode {
            error["error_subcode"] = subcode.into();
        }
        (status, Json(json!({ "error": error })))
    }

    /// A fake Send API whose answer depends on the recipient.
    async fn messages(
        Query(query): Query<HashMap<String, String>>,
        Json(body): Json<Value>,
    ) -> (AxumStatus, Json<Value>) {
        if query.get("access_token").map(String::as_str) != Some(PAGE_TOKEN) {
            return graph_error(AxumStatus::BAD_REQUEST, 190, None, "Invalid OAuth access token.");
        }
        let shape_ok = query.get("access_token").map(String::as_str) == Some(PAGE_TOKEN)
            && body["messaging_type"] == "RESPONSE"
            && body["message"] == json!({"text": "Ihr Paket kommt morgen"})
            && body.as_object().is_some_and(|fields| fields.len() == 3);
        if !shape_ok {
            return (
                AxumStatus::IM_A_TEAPOT,
                Json(json!({"error": {"message": "bad request shape", "code": 100}})),
            );
        }
        let Some(psid) = body["recipient"]["id"].as_str() else {
            return graph_error(AxumStatus::BAD_REQUEST, 100, None, "recipient missing");
        };
        match psid {
            "ok" => (AxumStatus::OK, Json(json!({"recipient_id": "ok", "message_id": "m_1"}))),
            "late" => graph_error(
                AxumStatus::BAD_REQUEST,
                10,
                Some(2018278),
                "(#10) This message is sent outside of allowed window.",
            ),
            "late-200" => graph_error(
                AxumStatus::FORBIDDEN,
                200,
                None,
                "(#200) Cannot send message outside the messaging window",
            ),
            "gone" => graph_error(
                AxumStatus::BAD_REQUEST,
                551,
                Some(1545041),
                "(#551) This person isn't available right now.",
            ),
            "busy" => graph_error(
                AxumStatus::BAD_REQUEST,
                613,
                None,
                "(#613) Calls to this api have exceeded the rate limit.",
            ),
            "throttled" => (AxumStatus::TOO_MANY_REQUESTS, Json(json!({}))),
            "flaky" => {
                graph_error(AxumStatus::INTERNAL_SERVER_ERROR, 2, None, "An unexpected error has occurred.")
            }
            "down" => (AxumStatus::BAD_GATEWAY, Json(json!({}))),
            _ => graph_error(AxumStatus::BAD_REQUEST, 100, Some(2018001), "(#100) No matching user found"),
        }
    }

    #[tokio::test]
    async fn send_maps_each_graph_answer_to_an_outcome() {
        let url = serve(Router::new().route("/v21.0/me/messages", post(messages))).await;
        let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
        let api = MessengerApi::new(client, &url, PAGE_TOKEN);
        assert_eq!((api.name(), api.limit()), ("messenger", Limit::Chars(2000)));
        let send = |psid: &'static str| api.send(psid, "Ihr Paket kommt morgen");
        assert_eq!(send("ok").await, SendOutcome::Delivered);
        let window = SendOutcome::Permanent {
            reason: "outside Messenger's 24-hour window: the customer must write first".into(),
        };
        assert_eq!(send("late").await, window);
        assert_eq!(send("late-200").await, window);
        assert_eq!(
            send("gone").await,
            SendOutcome::Permanent {
                reason: "the customer is not available (blocked the page or left Messenger)".into()
            }
        );
        for transient in ["busy", "throttled", "flaky", "down"] {
            let outcome = send(transient).await;
            assert!(
                matches!(outcome, SendOutcome::Transient { retry_after: None, .. }),
                "{transient}: {outcome:?}"
            );
        }
        assert_eq!(
            send("stranger").await,
            SendOutcome::Permanent { reason: "(#100) No matching user found".into() }
        );
    }

    #[tokio::test]
    async fn a_refused_page_token_is_ours_to_fix_not_the_customers_refusal() {
        let url = serve(Router::new().route("/v21.0/me/messages", post(messages))).await;
        let api = MessengerApi::new(reqwest::Client::new(), &url, "EAAG-revoked");
        let outcome = api.send("ok", "Ihr Paket kommt morgen").await;
        assert!(
            matches!(&outcome, SendOutcome::Transient { reason, .. } if reason.contains("page token")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_graph_is_transient_and_keeps_the_token_secret() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let api = MessengerApi::new(reqwest::Client::new(), &closed, PAGE_TOKEN);
        let outcome = api.send("42", "hallo").await;
        let SendOutcome::Transient { reason, .. } = outcome else { panic!("{outcome:?}") };
        assert!(!reason.contains(PAGE_TOKEN) && !reason.contains("access_token"), "{reason}");
    }
}
