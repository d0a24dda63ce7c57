//! [`FakePlatform`]: the three platforms' APIs on one local port, strict as
//! the real ones about what they are sent (the token in the path or the
//! query, the body's shape, the length limits), answering as they do, and
//! recording every send they accepted. A test scripts failures ahead
//! (`fail_next`) and queues Telegram updates for long polling (`push_update`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{BOT_TOKEN, PAGE_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET};

/// One message a platform accepted for a customer.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `telegram`, `messenger` or `wechat`.
    pub platform: &'static str,
    /// The chat id, PSID or OpenID it went to.
    pub to: String,
    pub text: String,
    pub at: Instant,
}

#[derive(Default)]
struct Platforms {
    sent: Vec<Sent>,
    /// Answers for the next sends, instead of accepting them.
    failures: VecDeque<(u16, Value)>,
    /// Every send attempt, accepted or not.
    attempts: usize,
    /// Calls a real platform would refuse (wrong token, wrong shape).
    refused: Vec<String>,
    /// Telegram updates waiting for getUpdates, and the offsets asked.
    updates: VecDeque<Value>,
    offsets: Vec<Option<i64>>,
    /// WeChat access tokens issued; the last is the valid one.
    tokens_issued: usize,
}

/// The fake APIs; stops serving when dropped.
pub struct FakePlatform {
    /// The base URL every channel's `*_API_URL` is set to.
    pub url: String,
    state: Arc<Mutex<Platforms>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = State<Arc<Mutex<Platforms>>>;

impl FakePlatform {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Platforms::default()));
        let app = Router::new()
            .route("/{bot}/sendMessage", post(telegram_send))
            .route("/{bot}/getUpdates", post(telegram_updates))
            .route("/me/messages", post(messenger_send))
            .route("/cgi-bin/stable_token", post(wechat_token))
            .route("/cgi-bin/message/custom/send", post(wechat_send))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake platform");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the fake platform serves");
        });
        Self { url, state, task }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Platforms) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Every send accepted so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.with(|s| s.sent.clone())
    }

    /// Sends to `to`, in order.
    pub fn sent_to(&self, to: &str) -> Vec<String> {
        self.sent().into_iter().filter(|s| s.to == to).map(|s| s.text).collect()
    }

    /// Every send attempted, accepted or answered with a scripted failure.
    pub fn attempts(&self) -> usize {
        self.with(|s| s.attempts)
    }

    /// Waits until `to` has been sent `text`; all of `to`'s texts then.
    pub async fn wait_for_text(&self, to: &str, text: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let texts = self.sent_to(to);
            if texts.iter().any(|t| t == text) {
                return texts;
            }
            assert!(Instant::now() < deadline, "{to} never got {text:?}; they got {texts:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Calls the real platform would have refused: a test expects none.
    pub fn refused(&self) -> Vec<String> {
        self.with(|s| s.refused.clone())
    }

    /// The next `n` sends are answered with `status` and `body`.
    pub fn fail_next(&self, n: usize, status: u16, body: Value) {
        self.with(|s| s.failures.extend(std::iter::repeat_n((status, body), n)));
    }

    /// The platform is back: scripted failures not used yet are dropped.
    pub fn recover(&self) {
        self.with(|s| s.failures.clear());
    }

    /// Queues a Telegram update for getUpdates.
    pub fn push_update(&self, update: Value) {
        self.with(|s| s.updates.push_back(update));
    }

    /// The offsets getUpdates was called with.
    pub fn offsets(&self) -> Vec<Option<i64>> {
        self.with(|s| s.offsets.clone())
    }

    /// How many WeChat access tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        self.with(|s| s.tokens_issued)
    }
}

/// Records a call the real platform would refuse, and answers as it does.
fn refuse(state: &Shared, what: String, status: StatusCode, body: Value) -> Response {
    state.lock().unwrap().refused.push(what);
    (status, Json(body)).into_response()
}

/// The scripted failure for this send, if any (counted as an attempt).
fn scripted(state: &Shared) -> Option<Response> {
    let mut s = state.lock().unwrap();
    s.attempts += 1;
    let (status, body) = s.failures.pop_front()?;
    Some((StatusCode::from_u16(status).unwrap(), Json(body)).into_response())
}

fn accept(state: &Shared, platform: &'static str, to: String, text: String) {
    state.lock().unwrap().sent.push(Sent { platform, to, text, at: Instant::now() });
}

async fn telegram_send(state: Shared, Path(bot): Path<String>, body: String) -> Response {
    if bot != format!("bot{BOT_TOKEN}") {
        let answer = json!({"ok": false, "error_code": 404, "description": "Not Found"});
        return refuse(&state, format!("telegram: wrong token in {bot}"), StatusCode::NOT_FOUND, answer);
    }
    let bad = |d: &str| json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {d}")});
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return refuse(
            &state,
            format!("telegram: not JSON: {body}"),
            StatusCode::BAD_REQUEST,
            bad("invalid JSON"),
        );
    };
    let chat = match &v["chat_id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return refuse(
                &state,
                format!("telegram: no chat_id: {v}"),
                StatusCode::BAD_REQUEST,
                bad("chat not found"),
            );
        }
    };
    let text = v["text"].as_str().unwrap_or("").to_string();
    if text.is_empty() || text.chars().count() > 4096 {
        let d = if text.is_empty() { "message text is empty" } else { "message is too long" };
        return refuse(
            &state,
            format!("telegram: text of {} chars", text.chars().count()),
            StatusCode::BAD_REQUEST,
            bad(d),
        );
    }
    if let Some(failure) = scripted(&state) {
        return failure;
    }
    accept(&state, "telegram", chat.clone(), text.clone());
    Json(json!({"ok": true, "result": {"message_id": 1, "chat": {"id": chat}, "text": text}})).into_response()
}

async fn telegram_updates(state: Shared, Path(bot): Path<String>, body: String) -> Response {
    if bot != format!("bot{BOT_TOKEN}") {
        let answer = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
        return refuse(&state, format!("telegram: wrong token in {bot}"), StatusCode::UNAUTHORIZED, answer);
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let offset = v["offset"].as_i64();
    state.lock().unwrap().offsets.push(offset);
    // Held briefly when empty, as a long poll is (the real one up to `timeout`).
    for _ in 0..10 {
        let updates: Vec<Value> = {
            let mut s = state.lock().unwrap();
            if let Some(o) = offset {
                // getUpdates with an offset confirms every update before it.
                s.updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
            }
            s.updates.iter().cloned().collect()
        };
        if !updates.is_empty() {
            return Json(json!({"ok": true, "result": updates})).into_response();
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    Json(json!({"ok": true, "result": []})).into_response()
}

#[derive(serde::Deserialize)]
struct AccessToken {
    access_token: Option<String>,
}

async fn messenger_send(state: Shared, Query(q): Query<AccessToken>, body: String) -> Response {
    let oauth =
        json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}});
    if q.access_token.as_deref() != Some(PAGE_TOKEN) {
        return refuse(&state, "messenger: wrong access_token".into(), StatusCode::BAD_REQUEST, oauth);
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let to = v["recipient"]["id"].as_str().unwrap_or("").to_string();
    let text = v["message"]["text"].as_str().unwrap_or("").to_string();
    if to.is_empty() || v["messaging_type"] != "RESPONSE" || text.is_empty() || text.chars().count() > 2000 {
        let bad =
            json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}});
        return refuse(&state, format!("messenger: bad body {v}"), StatusCode::BAD_REQUEST, bad);
    }
    if let Some(failure) = scripted(&state) {
        return failure;
    }
    accept(&state, "messenger", to.clone(), text);
    Json(json!({"recipient_id": to, "message_id": "m_fake"})).into_response()
}

async fn wechat_token(state: Shared, body: String) -> Response {
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if v["grant_type"] != "client_credential"
        || v["appid"] != WECHAT_APP_ID
        || v["secret"] != WECHAT_APP_SECRET
    {
        let bad = json!({"errcode": 40013, "errmsg": "invalid appid"});
        return refuse(&state, format!("wechat: bad stable_token request {v}"), StatusCode::OK, bad);
    }
    let mut s = state.lock().unwrap();
    if s.tokens_issued == 0 || v["force_refresh"] == true {
        s.tokens_issued += 1;
    }
    Json(json!({"access_token": format!("ACCESS-{}", s.tokens_issued), "expires_in": 7200})).into_response()
}

async fn wechat_send(state: Shared, Query(q): Query<AccessToken>, body: String) -> Response {
    let current = format!("ACCESS-{}", state.lock().unwrap().tokens_issued);
    if q.access_token.as_deref() != Some(current.as_str()) {
        let bad =
            json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"});
        return refuse(
            &state,
            format!("wechat: stale access_token {:?}", q.access_token),
            StatusCode::OK,
            bad,
        );
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let to = v["touser"].as_str().unwrap_or("").to_string();
    let text = v["text"]["content"].as_str().unwrap_or("").to_string();
    if to.is_empty() || v["msgtype"] != "text" || text.is_empty() {
        let bad = json!({"errcode": 44002, "errmsg": "empty post data"});
        return refuse(&state, format!("wechat: bad body {v}"), StatusCode::OK, bad);
    }
    if text.len() > 2048 {
        let bad = json!({"errcode": 45002, "errmsg": "content size out of limit"});
        return refuse(&state, format!("wechat: {} bytes", text.len()), StatusCode::OK, bad);
    }
    if let Some(failure) = scripted(&state) {
        return failure;
    }
    accept(&state, "wechat", to, text);
    Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
}
