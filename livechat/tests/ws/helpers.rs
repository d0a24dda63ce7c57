//! A running all-in-one `livechat` per test, REST for setting scenes up, and
//! a WebSocket client that speaks PROTOCOL.md "WebSocket".
//!
//! `spawn_app()` binds two 127.0.0.1:0 listeners (gRPC and HTTP) and runs
//! `livechat::run` against a fresh database: an SQLite file in a temporary
//! directory, or, when `LIVECHAT_TEST_DATABASE_URL` is set, a new database on
//! that PostgreSQL server (an unreachable server is a panic, never a skip).
//! Dropping the `TestApp` shuts the server down and drops the database.
//!
//! `WsClient` keeps the frames it read but was not asked for yet in a
//! buffer, so a test can wait for one kind of frame (an ack, a `room_queued`)
//! without losing the events that arrived around it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use livechat_core::{CoreConfig, Secret};
use livechat_http::HttpConfig;
pub use livechat_ws::SessionConfig;
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const JWT_SECRET: &str = "ws-suite-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password of every agent `create_agent` makes.
pub const AGENT_PASSWORD: &str = "agent-password-1";

/// How long a test waits for a frame it expects before it fails.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The app

/// An agent made for a test (or the bootstrap admin).
#[derive(Debug, Clone)]
pub struct TestAgent {
    pub id: String,
    pub username: String,
    pub name: String,
    pub token: String,
}

/// A visitor's room made for a test.
#[derive(Debug, Clone)]
pub struct TestRoom {
    pub id: String,
    pub room: Value,
    pub visitor_token: String,
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    admin: OnceCell<TestAgent>,
    agents_made: AtomicUsize,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Declared last: dropped after the server has been told to stop.
    _database: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_session(None).await
}

/// As `spawn_app`; with `Some(session)`, the same assembly as
/// `livechat::run` but with these WebSocket session knobs (ping interval,
/// idle timeout), which the all-in-one does not expose.
pub async fn spawn_app_with_session(session: Option<SessionConfig>) -> TestApp {
    let (database_url, database) = fresh_database().await;
    let mut core = CoreConfig::for_database(database_url.clone());
    core.jwt_secret = Some(Secret::new(JWT_SECRET));
    core.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    // Expiry and grace are noticed within this of their deadline.
    core.timer_interval_ms = 100;
    let http = HttpConfig {
        login_rate_per_min: 100_000,
        login_failures_per_user: 100_000,
        api_rate_per_sec: 100_000,
        ..HttpConfig::default()
    };

    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind gRPC listener");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP listener");
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async move {
        let _ = rx.await;
    };
    let server = match session {
        None => tokio::spawn(livechat::run(core, http, grpc, listener, stop)),
        Some(session) => tokio::spawn(run_with_session(core, http, session, grpc, listener, stop)),
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client");

    // The listener is bound before the core has migrated: /healthz answering
    // is what proves the whole process serves.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut server = Some(server);
    loop {
        if server.as_ref().unwrap().is_finished() {
            let result = server.take().unwrap().await;
            panic!("livechat stopped while starting: {result:?}");
        }
        match client.get(format!("{address}/healthz")).timeout(Duration::from_secs(5)).send().await {
            Ok(r) if r.status() == StatusCode::OK => break,
            Ok(r) => {
                if Instant::now() > deadline {
                    panic!("/healthz answers {} after 60 s", r.status());
                }
            }
            Err(e) => {
                if Instant::now() > deadline {
                    panic!("livechat did not answer /healthz within 60 s: {e}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    TestApp {
        address,
        client,
        database_url,
        admin: OnceCell::new(),
        agents_made: AtomicUsize::new(0),
        shutdown: Some(tx),
        server,
        _database: database,
    }
}

/// `livechat::run` with other WebSocket session knobs.
async fn run_with_session(
    core: CoreConfig,
    http: HttpConfig,
    session: SessionConfig,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let running = livechat_core::start(&core).await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let stop = running.stop.clone();
    let grpc = tokio::spawn(livechat_core::grpc::serve(running.core.clone(), grpc_listener, stop.clone()));
    let client = livechat_http::CoreClient::connect_lazy(
        &[format!("http://{grpc_addr}")],
        Some(Duration::from_millis(http.request_timeout_ms)),
    )
    .map_err(anyhow::Error::msg)?;
    let ws = livechat_ws::WsState { core: client.clone(), session, shutdown: stop.clone() };
    let app = livechat_http::router(livechat_http::AppState::new(client, &http), &http)
        .merge(livechat_ws::router(ws));
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    let served = livechat_ws::serve(app, http_listener, stop).await;
    let grpc_result = grpc.await;
    running.shutdown().await;
    served?;
    grpc_result??;
    Ok(())
}

/// One REST answer: the status and the body as JSON (Null when it is not).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "expected {status}, got {} with body {}", self.status, self.text);
        &self.body
    }
}

impl TestApp {
    /// Tells the server to shut down (as SIGTERM does) and waits until it
    /// has stopped; its result.
    pub async fn shut_down(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = self.server.take().expect("the server is running");
        tokio::time::timeout(Duration::from_secs(15), server)
            .await
            .expect("the server did not stop within 15 s of being told to")
            .expect("the server task panicked")
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http://", "ws://", 1))
    }

    /// A REST request under /api/v1 (or at the root for /healthz and such).
    pub async fn rest(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let url = if path.starts_with("/api/") || path.starts_with("/healthz") {
            format!("{}{path}", self.address)
        } else {
            format!("{}/api/v1{path}", self.address)
        };
        let mut req = self.client.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("read the response body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, text, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.rest(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.rest(Method::POST, path, token, Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.post("/auth/login", None, json!({"username": username, "password": password})).await
    }

    /// The bootstrap `admin` (group admin: may accept and manage everything),
    /// logged in once, on first use. Costs no extra password hash, so tests
    /// that need one agent use it.
    pub async fn admin(&self) -> TestAgent {
        self.admin
            .get_or_init(|| async {
                let r = self.login("admin", ADMIN_PASSWORD).await;
                let b = r.ok(200);
                TestAgent {
                    id: b["agent"]["id"].as_str().expect("agent id").into(),
                    username: "admin".into(),
                    name: b["agent"]["name"].as_str().expect("agent name").into(),
                    token: b["access_token"].as_str().expect("access_token").into(),
                }
            })
            .await
            .clone()
    }

    /// Creates an agent in group `agent` through POST /agents and logs it in.
    pub async fn create_agent(&self, name: &str) -> TestAgent {
        let n = self.agents_made.fetch_add(1, Ordering::SeqCst) + 1;
        let username = format!("agent{n}");
        let admin = self.admin().await;
        let r = self
            .post(
                "/agents",
                Some(&admin.token),
                json!({"username": username, "password": AGENT_PASSWORD, "name": name, "group": "agent"}),
            )
            .await;
        let id = r.ok(201)["id"].as_str().expect("agent id").to_string();
        let r = self.login(&username, AGENT_PASSWORD).await;
        let token = r.ok(200)["access_token"].as_str().expect("access_token").to_string();
        TestAgent { id, username, name: name.into(), token }
    }

    /// POST /rooms as a web visitor; `message` becomes seq 1.
    pub async fn create_room(&self, name: &str, message: Option<&str>) -> TestRoom {
        let mut body = json!({"name": name});
        if let Some(m) = message {
            body["message"] = json!(m);
        }
        let r = self.post("/rooms", None, body).await;
        let b = r.ok(201);
        TestRoom {
            id: b["room"]["id"].as_str().expect("room id").to_string(),
            room: b["room"].clone(),
            visitor_token: b["visitor_token"].as_str().expect("visitor_token").to_string(),
        }
    }

    /// GET /rooms/{id} as `token`.
    pub async fn room(&self, token: &str, room_id: &str) -> Value {
        self.get(&format!("/rooms/{room_id}"), token).await.ok(200).clone()
    }

    /// POST /rooms/{id}/accept (asserted to succeed).
    pub async fn accept(&self, agent: &TestAgent, room_id: &str) -> Value {
        let r = self.rest(Method::POST, &format!("/rooms/{room_id}/accept"), Some(&agent.token), None).await;
        let room = r.ok(200).clone();
        assert_eq!(room["status"], "engaged", "{room}");
        room
    }

    /// POST /rooms/{id}/messages (asserted to succeed); the stored message.
    pub async fn send(&self, token: &str, room_id: &str, content: &str) -> Value {
        let r =
            self.post(&format!("/rooms/{room_id}/messages"), Some(token), json!({"content": content})).await;
        r.ok(201).clone()
    }

    /// PUT /settings as the admin (asserted to succeed).
    pub async fn set_settings(&self, settings: Value) -> Value {
        let admin = self.admin().await;
        let r = self.rest(Method::PUT, "/settings", Some(&admin.token), Some(settings)).await;
        r.ok(200).clone()
    }

    // -- WebSocket ------------------------------------------------------------

    /// Connects with `Authorization: Bearer <token>` and asserts the upgrade.
    pub async fn ws(&self, token: &str) -> WsClient {
        match self.try_ws(Some(token), Auth::Header).await {
            Ok(c) => c,
            Err((status, body)) => panic!("the WebSocket upgrade was refused with {status}: {body}"),
        }
    }

    /// Connects and reads the `welcome` frame (asserted to be first).
    pub async fn ws_welcomed(&self, token: &str) -> (WsClient, Value) {
        let mut c = self.ws(token).await;
        let welcome = c.expect_type("welcome").await;
        (c, welcome)
    }

    /// Tries an upgrade; the refusal's HTTP status and body if there is one.
    pub async fn try_ws(&self, token: Option<&str>, auth: Auth) -> Result<WsClient, (u16, String)> {
        let stream = TcpStream::connect(self.address.trim_start_matches("http://"))
            .await
            .expect("connect to the HTTP listener");
        // As browsers do for WebSockets.
        stream.set_nodelay(true).expect("TCP_NODELAY");
        self.try_ws_on(stream, token, auth).await
    }

    /// As `try_ws`, over a TCP connection the caller made (to tune it).
    pub async fn try_ws_on(
        &self,
        stream: TcpStream,
        token: Option<&str>,
        auth: Auth,
    ) -> Result<WsClient, (u16, String)> {
        let url = match (token, auth) {
            (Some(t), Auth::Query) => format!("{}?access_token={t}", self.ws_url()),
            _ => self.ws_url(),
        };
        let mut req = url.into_client_request().expect("a WebSocket request");
        if let (Some(t), Auth::Header) = (token, auth) {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).expect("header value"),
            );
        }
        let handshake = tokio::time::timeout(
            FRAME_TIMEOUT,
            tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream)),
        )
        .await
        .expect("the WebSocket handshake took more than 10 s");
        match handshake {
            Ok((ws, _)) => Ok(WsClient::new(ws)),
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body =
                    resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                Err((status, body))
            }
            Err(e) => panic!("the WebSocket handshake failed: {e}"),
        }
    }
}

/// Where the token goes on an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Header,
    Query,
}

// ---------------------------------------------------------------------------
// The WebSocket client

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code (None: a close frame without one).
    Closed(Option<u16>),
    /// The TCP stream ended or broke without a close frame.
    Dropped(String),
}

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read but not yet taken, oldest first.
    buffered: VecDeque<Value>,
    next_req: u64,
    /// Every frame read from the socket, in order (for failure messages).
    pub log: Vec<Value>,
    /// WebSocket pings received from the server.
    pub pings: usize,
}

/// One line per frame: its type and what it is about.
pub fn brief(frames: &[Value]) -> String {
    frames
        .iter()
        .map(|f| {
            let room = f["room_id"]
                .as_str()
                .or(f["room"]["id"].as_str())
                .or(f["message"]["room_id"].as_str())
                .unwrap_or("");
            let short = &room[room.len().saturating_sub(6)..];
            let extra = match frame_type(f) {
                "message" => format!(" seq {}", f["message"]["seq"]),
                "history" => format!(" seqs {:?}", seqs(f)),
                "ack" | "error" | "pong" => format!(" req {} {}", f["req_id"], f["code"]),
                "room_updated" => format!(" {}", f["room"]["status"]),
                _ => String::new(),
            };
            format!("  {} {short}{extra}", frame_type(f))
        })
        .fold(Vec::<(String, usize)>::new(), |mut runs, line| {
            match runs.last_mut() {
                Some((l, n)) if *l == line => *n += 1,
                _ => runs.push((line, 1)),
            }
            runs
        })
        .into_iter()
        .map(|(line, n)| if n > 1 { format!("{line} (x{n})\n") } else { format!("{line}\n") })
        .collect()
}

fn frame_type(f: &Value) -> &str {
    f["type"].as_str().unwrap_or("")
}

impl WsClient {
    fn new(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws, buffered: VecDeque::new(), next_req: 0, log: Vec::new(), pings: 0 }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::Text(text.into().into())).await.expect("send a WebSocket frame");
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// The next frame from the socket itself (not the buffer), skipping
    /// WebSocket pings and pongs. `Err` when the connection ended; `Ok(None)`
    /// when nothing came within `wait`.
    async fn read_socket(&mut self, wait: Duration) -> Result<Option<Value>, Ended> {
        let deadline = Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(n) => n,
            };
            match next {
                None => return Err(Ended::Dropped("stream ended".into())),
                Some(Err(e)) => return Err(Ended::Dropped(e.to_string())),
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                        panic!("the server sent a text frame that is not JSON ({e}): {t}")
                    });
                    assert!(v["type"].is_string(), "a server frame without a type: {v}");
                    if self.log.len() < 10_000 {
                        self.log.push(v.clone());
                    }
                    return Ok(Some(v));
                }
                Some(Ok(Message::Close(f))) => {
                    return Err(Ended::Closed(f.map(|f: CloseFrame| u16::from(f.code))));
                }
                Some(Ok(Message::Binary(b))) => panic!("the server sent a binary frame: {b:?}"),
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(_)) => continue, // pong
            }
        }
    }

    /// The next frame (buffered ones first); fails the test after 10 s or
    /// when the connection ends.
    pub async fn next_frame(&mut self) -> Value {
        self.next_frame_within(FRAME_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no frame within {FRAME_TIMEOUT:?}"))
    }

    /// The next frame if one comes within `wait`.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(f) = self.buffered.pop_front() {
            return Some(f);
        }
        match self.read_socket(wait).await {
            Ok(f) => f,
            Err(e) => panic!("the connection ended while a frame was expected: {e:?}"),
        }
    }

    /// The next frame, asserted to be of type `t`.
    pub async fn expect_type(&mut self, t: &str) -> Value {
        let f = self.next_frame().await;
        assert_eq!(frame_type(&f), t, "expected a `{t}` frame next, got {f}");
        f
    }

    /// The first frame (buffered or new) that `matches`; frames before it
    /// stay buffered for later. Fails the test after 10 s.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.buffered.iter().position(&matches) {
            return self.buffered.remove(i).unwrap();
        }
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_socket(left).await {
                Ok(Some(f)) if matches(&f) => return f,
                Ok(Some(f)) => self.buffered.push_back(f),
                Ok(None) => {
                    let buffered: Vec<Value> = self.buffered.iter().cloned().collect();
                    panic!(
                        "no {what} within {FRAME_TIMEOUT:?}; frames meanwhile:\n{}every frame of this connection:\n{}",
                        brief(&buffered),
                        brief(&self.log)
                    )
                }
                Err(e) => panic!(
                    "the connection ended ({e:?}) while waiting for {what}; every frame of this connection:\n{}",
                    brief(&self.log)
                ),
            }
        }
    }

    /// The first frame of type `t`, others kept buffered.
    pub async fn wait_for_type(&mut self, t: &str) -> Value {
        self.wait_for(&format!("a `{t}` frame"), |f| frame_type(f) == t).await
    }

    /// Sends `frame` with a fresh `req_id` (unless it has one) and returns
    /// the answer to it: an `ack`, an `error` or a `pong`. Events that come
    /// in between stay buffered.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let req_id = match frame.get("req_id").and_then(Value::as_str) {
            Some(r) => r.to_string(),
            None => {
                self.next_req += 1;
                let r = format!("r{}", self.next_req);
                frame["req_id"] = json!(r);
                r
            }
        };
        self.send_json(frame.clone()).await;

        self.wait_for(&format!("an answer to {frame}"), |f| {
            matches!(frame_type(f), "ack" | "error" | "pong") && f["req_id"] == req_id.as_str()
        })
        .await
    }

    /// `request`, asserting an `ack`.
    pub async fn ack(&mut self, frame: Value) -> Value {
        let answer = self.request(frame.clone()).await;
        assert_eq!(frame_type(&answer), "ack", "{frame} was answered with {answer}");
        answer
    }

    /// `request`, asserting an `error` with `code`.
    pub async fn refused(&mut self, frame: Value, code: &str) -> Value {
        let answer = self.request(frame.clone()).await;
        assert_eq!(frame_type(&answer), "error", "{frame} should be refused, got {answer}");
        assert_eq!(answer["code"], code, "{frame} was refused with {answer}");
        answer
    }

    /// Reads for `wait` and fails if a frame of type `t` is (or was)
    /// received; everything else stays buffered.
    pub async fn assert_no_frame_of_type(&mut self, t: &str, wait: Duration) {
        if let Some(f) = self.buffered.iter().find(|f| frame_type(f) == t) {
            panic!("unexpected `{t}` frame: {f}");
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.read_socket(left).await {
                Ok(Some(f)) if frame_type(&f) == t => panic!("unexpected `{t}` frame: {f}"),
                Ok(Some(f)) => self.buffered.push_back(f),
                Ok(None) => return,
                Err(e) => panic!("the connection ended ({e:?}) while it should have stayed open"),
            }
        }
    }

    /// Frames buffered so far (not taken by a wait).
    pub fn buffered(&self) -> Vec<Value> {
        self.buffered.iter().cloned().collect()
    }

    /// Takes every buffered frame that `matches`, in order.
    pub fn take_buffered(&mut self, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (take, keep): (Vec<Value>, Vec<Value>) = self.buffered.drain(..).partition(|f| matches(f));
        self.buffered = keep.into();
        take
    }

    /// `n` `message` events of `room_id` (buffered ones first), in the order
    /// they arrived; other frames stay buffered.
    pub async fn messages(&mut self, room_id: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let f = self
                .wait_for(&format!("message {} of {n} in room {room_id}", out.len() + 1), |f| {
                    frame_type(f) == "message" && f["message"]["room_id"] == room_id
                })
                .await;
            out.push(f["message"].clone());
        }
        out
    }

    /// Reads until the connection ends (discarding frames) and says how;
    /// fails the test if it is still open after `wait`.
    pub async fn expect_end(&mut self, wait: Duration) -> Ended {
        self.read_until_end(wait).await.1
    }

    /// Every frame until the connection ends (buffered ones first), and how
    /// it ended; fails the test if it is still open after `wait`.
    pub async fn read_until_end(&mut self, wait: Duration) -> (Vec<Value>, Ended) {
        let mut frames: Vec<Value> = self.buffered.drain(..).collect();
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_socket(left).await {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => {
                    panic!("the connection is still open after {wait:?} ({} frames read)", frames.len())
                }
                Err(e) => return (frames, e),
            }
        }
    }

    /// Closes the connection from this side (a normal close).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Read until the server's close answer so that it has seen ours.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// The underlying stream, for tests that need to stop reading.
    pub fn inner(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }
}

// ---------------------------------------------------------------------------
// A raw WebSocket client that only reads

/// A WebSocket over a bare TCP stream that never writes after the upgrade
/// (so it answers no ping), for reading exactly what the server sent,
/// including a close frame a full client might miss while failing to send
/// its pongs to a socket the server already closed.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One server frame: opcode and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    pub const TEXT: u8 = 0x1;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;

    /// The code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == Self::CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

impl TestApp {
    /// Upgrades with the token in the query, by hand; asserts a 101.
    pub async fn raw_ws(&self, token: &str) -> RawWs {
        use tokio::io::AsyncWriteExt;
        let host = self.address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.expect("connect");
        let req = format!(
            "GET /ws?access_token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.expect("send the upgrade");
        let mut raw = RawWs { stream, buf: Vec::new() };
        let end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(raw.fill(FRAME_TIMEOUT).await, "the server closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "the upgrade was refused: {head}");
        raw.buf.drain(..end);
        raw
    }
}

impl RawWs {
    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self, wait: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
            Err(_) => panic!("nothing from the server within {wait:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next whole frame; None when the stream ended first.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill(wait).await {
                return None;
            }
        }
    }

    /// Every frame until a close frame or the end of the stream, and the
    /// close code (None: no close frame came).
    pub async fn read_until_close(&mut self, wait: Duration) -> (Vec<RawFrame>, Option<u16>) {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_frame(left).await {
                Some(f) if f.opcode == RawFrame::CLOSE => {
                    let code = f.close_code();
                    frames.push(f);
                    return (frames, code);
                }
                Some(f) => frames.push(f),
                None => return (frames, None),
            }
        }
    }
}

/// An unmasked server frame at the start of `buf`, and its length.
fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return None;
    }
    let payload = buf[at..at + len].to_vec();
    at += len;
    Some((RawFrame { opcode, payload }, at))
}

// ---------------------------------------------------------------------------
// Shapes

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> =
        v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

#[track_caller]
pub fn assert_keys(v: &Value, expected: &[&str]) {
    let mut e: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    e.sort();
    assert_eq!(keys(v), e, "fields of {v}");
}

/// A PROTOCOL.md Room object.
#[track_caller]
pub fn assert_room_shape(room: &Value) {
    assert_keys(
        room,
        &[
            "id",
            "status",
            "channel",
            "visitor",
            "agent",
            "subject",
            "created_at",
            "last_message_at",
            "last_seq",
        ],
    );
    assert_keys(&room["visitor"], &["id", "name"]);
    if !room["agent"].is_null() {
        assert_keys(&room["agent"], &["id", "name"]);
    }
}

/// A PROTOCOL.md Message object.
#[track_caller]
pub fn assert_message_shape(m: &Value) {
    assert_keys(m, &["id", "room_id", "seq", "sender", "content", "created_at", "client_id"]);
    assert_keys(&m["sender"], &["kind", "id", "name"]);
    assert!(m["seq"].as_u64().is_some_and(|s| s >= 1), "seq: {m}");
}

/// The seqs of a list of messages.
pub fn seqs_of(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {m}"))).collect()
}

/// The seqs of a frame's `messages` array.
pub fn seqs(frame: &Value) -> Vec<u64> {
    seqs_of(frame["messages"].as_array().unwrap_or_else(|| panic!("no messages array: {frame}")))
}

/// The ids of a list of rooms.
pub fn ids(rooms: &Value) -> Vec<String> {
    rooms
        .as_array()
        .unwrap_or_else(|| panic!("not an array of rooms: {rooms}"))
        .iter()
        .map(|r| r["id"].as_str().expect("room id").to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// Databases

/// Where a test's database lives.
enum TestDatabase {
    /// An SQLite file in a directory removed with it.
    Sqlite(TempDir),
    /// A database created on the server of LIVECHAT_TEST_DATABASE_URL,
    /// dropped again when the test ends.
    Server { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Server { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime: clean up on a thread of our own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let db = connect_server(&admin_url).await.ok()?;
                    let _ = db
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                    let _ = db.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

async fn connect_server(url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut options = sea_orm::ConnectOptions::new(url.to_string());
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    sea_orm::Database::connect(options).await
}

/// A fresh, empty database for one test, and its URL.
async fn fresh_database() -> (String, TestDatabase) {
    match std::env::var("LIVECHAT_TEST_DATABASE_URL") {
        Ok(base) if !base.trim().is_empty() => {
            let db = connect_server(&base).await.unwrap_or_else(|e| {
                panic!(
                    "LIVECHAT_TEST_DATABASE_URL is set to {base:?}, but that server cannot be reached: {e}. \
                     Start the database or unset the variable to test on SQLite."
                )
            });
            let name = format!("lc_{}", uuid::Uuid::new_v4().simple());
            db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {base:?} failed: {e}"));
            let _ = db.close().await;
            let url = with_database_name(&base, &name);
            (url, TestDatabase::Server { admin_url: base, name })
        }
        _ => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("livechat.db");
            (format!("sqlite://{}?mode=rwc", path.display()), TestDatabase::Sqlite(dir))
        }
    }
}

/// The same server URL with another database (path) name, query kept.
fn with_database_name(url: &str, name: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let authority_start = main.find("://").map(|i| i + 3).expect("database URL has a scheme");
    let path_start = main[authority_start..].find('/').map(|i| authority_start + i).unwrap_or(main.len());
    let mut out = format!("{}/{}", &main[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[test]
fn database_name_is_replaced_and_the_query_kept() {
    assert_eq!(
        with_database_name("postgres://postgres@127.0.0.1:5432/test", "lc_1"),
        "postgres://postgres@127.0.0.1:5432/lc_1"
    );
    assert_eq!(
        with_database_name("postgres://u:p@h/test?sslmode=disable", "lc_1"),
        "postgres://u:p@h/lc_1?sslmode=disable"
    );
}
