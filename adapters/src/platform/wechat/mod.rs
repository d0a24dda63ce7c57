//! WeChat Official Accounts as the push URL sees us: a push's XML parsed
//! into an [`Inbound`] (after safe-mode decryption with [`Cipher`]), and the
//! customer-service message API for replies ([`WeChatApi`]) with its cached
//! access token.

mod crypto;

use std::fmt;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

pub use self::crypto::{Cipher, msg_signature, signature, signature_matches};
use super::split::Limit;
use super::{Inbound, Malformed, Platform, SendOutcome, described, unanswered};

/// WeChat refuses a text longer than this many bytes.
const TEXT_LIMIT: Limit = Limit::Bytes(2048);

/// A token is replaced this long before WeChat says it expires.
const REFRESH_LEAD: Duration = Duration::from_secs(300);

/// When WeChat does not say how long a token lives: its documented 2 hours.
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 7200;

/// Errcodes meaning our access token is invalid, expired or superseded.
const STALE_TOKEN_CODES: [i64; 3] = [40001, 40014, 42001];

/// The `<Encrypt>` text of a safe-mode push, to check with
/// [`msg_signature`] and open with [`Cipher::decrypt`].
pub fn encrypted_part(xml: &[u8]) -> Result<String, Malformed> {
    let push: SealedPush = from_xml(xml)?;
    push.encrypt
        .filter(|encrypt| !encrypt.is_empty())
        .ok_or_else(|| Malformed("WeChat push has no <Encrypt>".to_owned()))
}

/// Parses a (plain or decrypted) push into the customer's message.
/// `Ok(None)` for events (follow, unfollow, menu clicks…), which are not
/// messages.
pub fn parse_push(xml: &[u8]) -> Result<Option<Inbound>, Malformed> {
    let push: Push = from_xml(xml)?;
    let missing = |field: &str| Malformed(format!("WeChat push without {field}"));
    let openid = push
        .from_user_name
        .clone()
        .filter(|openid| !openid.is_empty())
        .ok_or_else(|| missing("FromUserName"))?;
    let msg_type = push.msg_type.as_deref().ok_or_else(|| missing("MsgType"))?;
    if msg_type == "event" {
        return Ok(None);
    }
    let create_time = push.create_time.as_deref().unwrap_or_default().trim();
    let sent_at: i64 = create_time.parse().map_err(|_| missing("a numeric CreateTime"))?;
    Ok(Some(Inbound {
        text: push.readable_text(msg_type),
        platform_message_id: push.msg_id.clone().unwrap_or_else(|| format!("{openid}:{create_time}")),
        display_name: openid.clone(),
        external_user_id: openid,
        sent_at_ms: sent_at.saturating_mul(1000),
    }))
}

fn from_xml<T: for<'de> Deserialize<'de>>(xml: &[u8]) -> Result<T, Malformed> {
    let xml = std::str::from_utf8(xml).map_err(|_| Malformed("WeChat push is not UTF-8".to_owned()))?;
    quick_xml::de::from_str(xml).map_err(|e| Malformed(format!("WeChat push: {e}")))
}

#[derive(Deserialize)]
struct SealedPush {
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Push {
    from_user_name: Option<String>,
    create_time: Option<String>,
    msg_type: Option<String>,
    content: Option<String>,
    msg_id: Option<String>,
    recognition: Option<String>,
    #[serde(rename = "Location_X")]
    location_x: Option<String>,
    #[serde(rename = "Location_Y")]
    location_y: Option<String>,
    title: Option<String>,
}

impl Push {
    /// The text, or a placeholder in brackets for anything else.
    fn readable_text(&self, msg_type: &str) -> String {
        match msg_type {
            "text" => self.content.clone().unwrap_or_default(),
            "image" => "[photo]".to_owned(),
            "voice" => match self.recognition.as_deref().filter(|heard| !heard.is_empty()) {
                Some(heard) => format!("[voice message] {heard}"),
                None => "[voice message]".to_owned(),
            },
            "video" | "shortvideo" => "[video]".to_owned(),
            "location" => self.location(),
            "link" => bracketed("link", self.title.as_deref()),
            "file" => bracketed("file", self.title.as_deref()),
            _ => "[unsupported message]".to_owned(),
        }
    }

    fn location(&self) -> String {
        let coordinate =
            |value: &Option<String>| value.as_deref().and_then(|value| value.trim().parse::<f64>().ok());
        match (coordinate(&self.location_x), coordinate(&self.location_y)) {
            (Some(x), Some(y)) => format!("[location {x:.2},{y:.2}]"),
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

/// The customer-service message API of one Official Account: replies to
/// customers, with an access token fetched from `stable_token`, cached, and
/// refreshed before it expires by one caller while the others wait.
///
/// Neither the secret nor the token (in the query string) is ever logged or
/// returned.
pub struct WeChatApi {
    http: reqwest::Client,
    api_url: String,
    app_id: String,
    app_secret: String,
    /// Read on every send without awaiting.
    token: RwLock<Option<AccessToken>>,
    /// Held only while fetching a token, so concurrent sends share a fetch.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

impl fmt::Debug for WeChatApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatApi")
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// What `stable_token` answered.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// What an API call answered besides a token.
#[derive(Deserialize)]
struct CallAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// A send's answer, before a stale token is dealt with.
enum Reply {
    Answered(SendOutcome),
    StaleToken,
}

impl WeChatApi {
    /// The API of the account `app_id` with its AppSecret, at `api_url`
    /// (`https://api.weixin.qq.com`, or a test fake).
    pub fn new(http: reqwest::Client, api_url: &str, app_id: &str, app_secret: &str) -> Self {
        Self {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            token: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached token, while it is not yet due for refresh.
    fn cached_token(&self) -> Option<String> {
        let cached = self.token.read().unwrap_or_else(PoisonError::into_inner);
        cached.as_ref().filter(|token| Instant::now() < token.refresh_at).map(|token| token.value.clone())
    }

    /// A token to send with: the cached one, else one fetched by this caller
    /// or by the caller already fetching.
    async fn access_token(&self) -> Result<String, SendOutcome> {
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        self.fetch_token(false).await
    }

    /// A token other than `rejected`, which WeChat called invalid: a forced
    /// new one, unless another caller has already replaced it.
    async fn replacement_token(&self, rejected: &str) -> Result<String, SendOutcome> {
        let _refreshing = self.refreshing.lock().await;
        if let Some(token) = self.cached_token().filter(|token| token != rejected) {
            return Ok(token);
        }
        self.fetch_token(true).await
    }

    /// Asks `stable_token` for a token and caches it.
    async fn fetch_token(&self, force_refresh: bool) -> Result<String, SendOutcome> {
        let unavailable = |why: String| SendOutcome::Transient {
            reason: format!("no WeChat access token: {why}"),
            retry_after: None,
        };
        let body = json!({
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self.app_secret,
            "force_refresh": force_refresh,
        });
        let request = self.http.post(format!("{}/cgi-bin/stable_token", self.api_url)).json(&body);
        let response = request.send().await.map_err(|e| unavailable(described(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("HTTP {status}")));
        }
        let answer: TokenAnswer = response.json().await.map_err(|e| unavailable(described(e)))?;
        let Some(value) = answer.access_token.filter(|value| !value.is_empty()) else {
            let errcode = answer.errcode.unwrap_or_default();
            return Err(unavailable(format!("error {errcode}: {}", answer.errmsg.unwrap_or_default())));
        };
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS));
        let refresh_in = lifetime.saturating_sub(REFRESH_LEAD.min(lifetime / 2));
        tracing::debug!(
            force_refresh,
            refresh_in_secs = refresh_in.as_secs(),
            "fetched a WeChat access token"
        );
        let fresh = AccessToken { value: value.clone(), refresh_at: Instant::now() + refresh_in };
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = Some(fresh);
        Ok(value)
    }

    /// Posts one text with `token`.
    async fn post_text(&self, token: &str, openid: &str, text: &str) -> Reply {
        let body = json!({ "touser": openid, "msgtype": "text", "text": { "content": text } });
        let request = self
            .http
            .post(format!("{}/cgi-bin/message/custom/send", self.api_url))
            .query(&[("access_token", token)])
            .json(&body);
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Reply::Answered(unanswered("WeChat", e)),
        };
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Reply::Answered(transient(format!("WeChat is unavailable: HTTP {status}")));
        }
        if !status.is_success() {
            return Reply::Answered(SendOutcome::Permanent {
                reason: format!("WeChat answered HTTP {status}"),
            });
        }
        match response.json::<CallAnswer>().await {
            Ok(answer) if STALE_TOKEN_CODES.contains(&answer.errcode) => Reply::StaleToken,
            Ok(answer) => Reply::Answered(send_outcome(answer)),
            Err(e) => Reply::Answered(transient(format!("unreadable WeChat answer: {}", described(e)))),
        }
    }
}

fn transient(reason: String) -> SendOutcome {
    SendOutcome::Transient { reason, retry_after: None }
}

/// What a custom-send errcode means for the reply.
fn send_outcome(answer: CallAnswer) -> SendOutcome {
    let permanent = |reason: &str| SendOutcome::Permanent { reason: reason.to_owned() };
    match answer.errcode {
        0 => SendOutcome::Delivered,
        45015 => permanent("outside WeChat's 48-hour reply window"),
        45047 => permanent("too many messages without a reply from the customer"),
        43004 => permanent("the customer no longer follows the account"),
        -1 | 45009 => transient(format!("WeChat is busy: error {}: {}", answer.errcode, answer.errmsg)),
        errcode => SendOutcome::Permanent { reason: format!("WeChat error {errcode}: {}", answer.errmsg) },
    }
}

#[async_trait]
impl Platform for WeChatApi {
    fn name(&self) -> &'static str {
        "wechat"
    }

    fn limit(&self) -> Limit {
        TEXT_LIMIT
    }

    /// Sends with the cached token; when WeChat calls it stale, replaces it
    /// once and sends once more.
    async fn send(&self, external_user_id: &str, text: &str) -> SendOutcome {
        let token = match self.access_token().await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        if let Reply::Answered(outcome) = self.post_text(&token, external_user_id, text).await {
            return outcome;
        }
        let token = match self.replacement_token(&token).await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        match self.post_text(&token, external_user_id, text).await {
            Reply::Answered(outcome) => outcome,
            Reply::StaleToken => transient("WeChat rejected a freshly fetched access token".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::extract::{Query, State};
    use axum::http::StatusCode as AxumStatus;
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::Value;

    use super::crypto::tests::{AES_KEY, APP_ID, ENCRYPT, MSG_SIGNATURE, NONCE, TIMESTAMP, TOKEN};
    use super::*;

    fn inbound(xml: &str) -> Inbound {
        parse_push(xml.as_bytes()).unwrap().unwrap()
    }

    /// A push from a follower as WeChat sends it, with `fields` inside.
    fn push(msg_type: &str, fields: &str) -> String {
        format!(
            "<xml>\n  <ToUserName><![CDATA[gh_3e8f2c1a9b7d]]></ToUserName>\n  \
             <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>\n  \
             <CreateTime>1700000000</CreateTime>\n  <MsgType><![CDATA[{msg_type}]]></MsgType>\n  \
             {fields}\n  <MsgId>24310203340123456</MsgId>\n</xml>"
        )
    }

    #[test]
    fn the_official_safe_mode_push_opens_into_a_message() {
        let body = format!(
            "<xml>\n<ToUserName><![CDATA[{APP_ID}]]></ToUserName><Encrypt><![CDATA[{ENCRYPT}]]></Encrypt>\n\
             <AgentID><![CDATA[218]]></AgentID>\n</xml>"
        );
        let encrypt = encrypted_part(body.as_bytes()).unwrap();
        assert_eq!(encrypt, ENCRYPT);
        assert!(signature_matches(MSG_SIGNATURE, &msg_signature(TOKEN, TIMESTAMP, NONCE, &encrypt)));
        let plaintext = Cipher::new(AES_KEY, APP_ID).unwrap().decrypt(&encrypt).unwrap();
        assert_eq!(
            parse_push(plaintext.as_bytes()),
            Ok(Some(Inbound {
                external_user_id: "mycreate".into(),
                display_name: "mycreate".into(),
                text: "hello".into(),
                platform_message_id: "4561255354251345929".into(),
                sent_at_ms: 1_409_659_813_000,
            }))
        );
    }

    #[test]
    fn a_push_without_encrypt_is_malformed() {
        assert!(encrypted_part(push("text", "<Content>hi</Content>").as_bytes()).is_err());
        assert!(encrypted_part(b"<xml><Encrypt></Encrypt></xml>").is_err());
        assert!(encrypted_part(b"not xml at all").is_err());
    }

    #[test]
    fn a_text_push_becomes_an_inbound() {
        let got = inbound(&push("text", "<Content><![CDATA[你好，我的订单在哪里？]]></Content>"));
        assert_eq!(
            got,
            Inbound {
                external_user_id: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
                display_name: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
                text: "你好，我的订单在哪里？".into(),
                platform_message_id: "24310203340123456".into(),
                sent_at_ms: 1_700_000_000_000,
            }
        );
        let plain = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o_1</FromUserName>\
                     <CreateTime>1700000001</CreateTime><MsgType>text</MsgType><Content>a &amp; b</Content></xml>";
        let got = inbound(plain);
        assert_eq!(got.text, "a & b");
        assert_eq!(got.platform_message_id, "o_1:1700000001", "no MsgId: openid and time");
    }

    #[test]
    fn media_become_placeholders() {
        let text_of = |msg_type: &str, fields: &str| inbound(&push(msg_type, fields)).text;
        let image = "<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/x/0]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>";
        assert_eq!(text_of("image", image), "[photo]");
        assert_eq!(
            text_of("voice", "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format>"),
            "[voice message]"
        );
        assert_eq!(
            text_of(
                "voice",
                "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[我要退货]]></Recognition>"
            ),
            "[voice message] 我要退货"
        );
        assert_eq!(
            text_of("video", "<MediaId><![CDATA[m3]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>"),
            "[video]"
        );
        assert_eq!(text_of("shortvideo", "<MediaId><![CDATA[m4]]></MediaId>"), "[video]");
        assert_eq!(
            text_of(
                "location",
                "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州市]]></Label>"
            ),
            "[location 23.13,113.36]"
        );
        assert_eq!(
            text_of(
                "link",
                "<Title><![CDATA[订单详情]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://example.com]]></Url>"
            ),
            "[link 订单详情]"
        );
        assert_eq!(
            text_of(
                "file",
                "<Title><![CDATA[发票.pdf]]></Title><Description><![CDATA[]]></Description><FileKey><![CDATA[k]]></FileKey>"
            ),
            "[file 发票.pdf]"
        );
        assert_eq!(text_of("miniprogrampage", "<Title><![CDATA[x]]></Title>"), "[unsupported message]");
    }

    #[test]
    fn events_are_not_messages() {
        let follow = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName>\
                      <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                      <Event><![CDATA[subscribe]]></Event></xml>";
        assert_eq!(parse_push(follow.as_bytes()), Ok(None));
    }

    #[test]
    fn broken_pushes_are_malformed() {
        assert!(parse_push(b"not xml at all").is_err());
        assert!(parse_push(br#"{"MsgType": "text"}"#).is_err());
        assert!(parse_push(b"<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>").is_err());
        assert!(parse_push(b"<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>").is_err());
        assert!(parse_push(b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType></xml>").is_err());
        assert!(parse_push(b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType>").is_err());
        assert!(parse_push(&[0xff, 0xfe]).is_err());
    }

    const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
    const SECRET: &str = "9f0c2d8e7b6a5f4e3d2c1b0a9f8e7d6c";

    /// A fake WeChat API: counts token fetches and accepts only the token it
    /// last issued.
    #[derive(Default)]
    struct FakeWeChat {
        fetches: AtomicUsize,
        forced: AtomicUsize,
        valid: Mutex<Option<String>>,
        expires_in: u64,
        token_delay: Duration,
    }

    type Shared = State<Arc<FakeWeChat>>;

    async fn stable_token(State(fake): Shared, Json(body): Json<Value>) -> Json<Value> {
        let force = body["force_refresh"].as_bool();
        let shape_ok = body["grant_type"] == "client_credential"
            && body["appid"] == "wx5823bf96d3bd56c7"
            && body.as_object().is_some_and(|fields| fields.len() == 4)
            && force.is_some();
        if !shape_ok {
            return Json(json!({"errcode": 40002, "errmsg": "invalid grant_type"}));
        }
        if body["secret"] != SECRET {
            return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
        }
        tokio::time::sleep(fake.token_delay).await;
        let issued = fake.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        if force == Some(true) {
            fake.forced.fetch_add(1, Ordering::SeqCst);
        }
        let token = format!("T{issued}");
        *fake.valid.lock().unwrap() = Some(token.clone());
        Json(json!({"access_token": token, "expires_in": fake.expires_in}))
    }

    async fn custom_send(
        State(fake): Shared,
        Query(query): Query<HashMap<String, String>>,
        Json(body): Json<Value>,
    ) -> (AxumStatus, Json<Value>) {
        let answer = |errcode: i64, errmsg: &str| {
            (AxumStatus::OK, Json(json!({"errcode": errcode, "errmsg": errmsg})))
        };
        let valid = fake.valid.lock().unwrap().clone();
        if query.get("access_token") != valid.as_ref() {
            return answer(40001, "invalid credential, access_token is invalid or not latest");
        }
        let shape_ok = body["msgtype"] == "text"
            && body["text"] == json!({"content": "您的包裹明天送到"})
            && body.as_object().is_some_and(|fields| fields.len() == 3);
        if !shape_ok {
            return answer(44002, "empty post data");
        }
        match body["touser"].as_str().unwrap_or_default() {
            OPENID => answer(0, "ok"),
            "late" => answer(45015, "response out of time limit or subscription is canceled"),
            "chatty" => answer(45047, "out of response count limit"),
            "gone" => answer(43004, "require subscribe"),
            "busy" => answer(-1, "system error"),
            "quota" => answer(45009, "reach max api daily quota limit"),
            "down" => (AxumStatus::BAD_GATEWAY, Json(json!({}))),
            _ => answer(40003, "invalid openid"),
        }
    }

    async fn fake_wechat(fake: FakeWeChat) -> (Arc<FakeWeChat>, String) {
        let fake = Arc::new(fake);
        let router = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/message/custom/send", post(custom_send))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (fake, url)
    }

    fn api(url: &str, secret: &str) -> WeChatApi {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        WeChatApi::new(http, url, APP_ID, secret)
    }

    const REPLY: &str = "您的包裹明天送到";

    #[tokio::test]
    async fn the_token_is_fetched_once_and_replaced_once_when_rejected() {
        let (fake, url) = fake_wechat(FakeWeChat { expires_in: 7200, ..FakeWeChat::default() }).await;
        let api = api(&url, SECRET);
        assert_eq!((api.name(), api.limit()), ("wechat", Limit::Bytes(2048)));
        for _ in 0..3 {
            assert_eq!(api.send(OPENID, REPLY).await, SendOutcome::Delivered);
        }
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 1);

        // WeChat invalidates the token (another server fetched a new one).
        *fake.valid.lock().unwrap() = Some("issued-elsewhere".to_owned());
        assert_eq!(api.send(OPENID, REPLY).await, SendOutcome::Delivered);
        assert_eq!((fake.fetches.load(Ordering::SeqCst), fake.forced.load(Ordering::SeqCst)), (2, 1));
        assert_eq!(api.send(OPENID, REPLY).await, SendOutcome::Delivered);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_sends_share_one_fetch_and_one_forced_refresh() {
        let fake =
            FakeWeChat { expires_in: 7200, token_delay: Duration::from_millis(100), ..FakeWeChat::default() };
        let (fake, url) = fake_wechat(fake).await;
        let api = Arc::new(api(&url, SECRET));
        for round in 1..=2 {
            let mut sends = tokio::task::JoinSet::new();
            for _ in 0..8 {
                let api = api.clone();
                sends.spawn(async move { api.send(OPENID, REPLY).await });
            }
            while let Some(outcome) = sends.join_next().await {
                assert_eq!(outcome.unwrap(), SendOutcome::Delivered);
            }
            assert_eq!(fake.fetches.load(Ordering::SeqCst), round);
            *fake.valid.lock().unwrap() = Some("issued-elsewhere".to_owned());
        }
        assert_eq!(fake.forced.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_short_lived_token_is_refreshed_at_half_life() {
        let (fake, url) = fake_wechat(FakeWeChat { expires_in: 1, ..FakeWeChat::default() }).await;
        let api = api(&url, SECRET);
        assert_eq!(api.send(OPENID, REPLY).await, SendOutcome::Delivered);
        assert_eq!(api.send(OPENID, REPLY).await, SendOutcome::Delivered);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(api.send(OPENID, REPLY).await, SendOutcome::Delivered);
        assert_eq!((fake.fetches.load(Ordering::SeqCst), fake.forced.load(Ordering::SeqCst)), (2, 0));
    }

    #[tokio::test]
    async fn send_maps_each_errcode_to_an_outcome() {
        let (_, url) = fake_wechat(FakeWeChat { expires_in: 7200, ..FakeWeChat::default() }).await;
        let api = api(&url, SECRET);
        let permanent = |reason: &str| SendOutcome::Permanent { reason: reason.to_owned() };
        assert_eq!(api.send("late", REPLY).await, permanent("outside WeChat's 48-hour reply window"));
        assert_eq!(
            api.send("chatty", REPLY).await,
            permanent("too many messages without a reply from the customer")
        );
        assert_eq!(api.send("gone", REPLY).await, permanent("the customer no longer follows the account"));
        assert_eq!(api.send("stranger", REPLY).await, permanent("WeChat error 40003: invalid openid"));
        for transient in ["busy", "quota", "down"] {
            let outcome = api.send(transient, REPLY).await;
            assert!(
                matches!(outcome, SendOutcome::Transient { retry_after: None, .. }),
                "{transient}: {outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn no_token_or_no_server_is_transient_and_keeps_secrets() {
        let (fake, url) = fake_wechat(FakeWeChat { expires_in: 7200, ..FakeWeChat::default() }).await;
        let outcome = api(&url, "wrong-secret").send(OPENID, REPLY).await;
        let SendOutcome::Transient { reason, .. } = outcome else { panic!("{outcome:?}") };
        assert!(reason.contains("40125") && !reason.contains("wrong-secret"), "{reason}");
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 0);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let outcome = api(&closed, SECRET).send(OPENID, REPLY).await;
        let SendOutcome::Transient { reason, .. } = outcome else { panic!("{outcome:?}") };
        assert!(!reason.contains(SECRET) && !reason.contains("127.0.0.1"), "{reason}");
    }
}
