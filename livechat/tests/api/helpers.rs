//! A running all-in-one `livechat` per test, and a REST client that speaks
//! PROTOCOL.md.
//!
//! `spawn_app()` binds two 127.0.0.1:0 listeners (gRPC and HTTP) and runs
//! `livechat::run` against a fresh database: an SQLite file in a temporary
//! directory, or, when `LIVECHAT_TEST_DATABASE_URL` is set, a new database on
//! that PostgreSQL server (an unreachable server is a panic, never a skip).
//! Dropping the `TestApp` shuts the server down and drops the database.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use livechat_core::{CoreConfig, Secret};
use livechat_http::HttpConfig;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const JWT_SECRET: &str = "rest-suite-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password of every agent `create_agent` makes.
pub const AGENT_PASSWORD: &str = "agent-password-1";

/// The PROTOCOL.md settings defaults.
pub fn default_settings() -> Value {
    json!({
        "history_load_count": 20,
        "room_idle_timeout_secs": 120,
        "agent_grace_secs": 30,
        "agent_join_message": "{agent} has entered the chat",
        "agent_leave_message": "{agent} has left the chat",
        "close_message": "This chat has been closed. Thank you!",
        "max_message_chars": 4000,
    })
}

// ---------------------------------------------------------------------------
// Responses

/// One HTTP answer: status, headers and the body (as JSON when it is JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON; `Value::Null` when it is not JSON.
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts the status and a JSON body, and returns the body.
    #[track_caller]
    pub fn json(&self, status: u16) -> &Value {
        assert_eq!(self.code(), status, "expected {status}, got {} with body {}", self.code(), self.text);
        assert!(
            self.content_type().starts_with("application/json"),
            "a {status} answer should be application/json, is {:?}: {}",
            self.content_type(),
            self.text
        );
        &self.body
    }

    /// Asserts a problem+json answer with this status and PROTOCOL.md code.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.code(),
            status,
            "expected a {status} `{code}` problem, got {} with body {}",
            self.code(),
            self.text
        );
        assert_problem_shape(self);
        assert_eq!(self.body["code"], code, "wrong problem code: {}", self.text);
        &self.body
    }

    /// Asserts a 422 `invalid` problem whose `errors` name `field`.
    #[track_caller]
    pub fn invalid_field(&self, field: &str) -> &Value {
        self.problem(422, "invalid");
        let fields = self.error_fields();
        assert!(
            fields.iter().any(|f| f == field),
            "the 422 should name `{field}` in errors, names {fields:?}: {}",
            self.text
        );
        &self.body
    }

    /// The `field`s of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    }
}

/// The RFC 9457 shape PROTOCOL.md asks for, whatever the code.
#[track_caller]
pub fn assert_problem_shape(r: &Resp) {
    assert_eq!(
        r.content_type(),
        "application/problem+json",
        "an error must be application/problem+json: {} {}",
        r.code(),
        r.text
    );
    let b = &r.body;
    assert!(b.is_object(), "problem body is not a JSON object: {}", r.text);
    assert_eq!(b["type"], "about:blank", "problem type: {}", r.text);
    assert!(b["title"].is_string(), "problem title: {}", r.text);
    assert!(b["detail"].is_string(), "problem detail: {}", r.text);
    assert_eq!(b["status"], r.code(), "problem status must equal the HTTP status: {}", r.text);
    let code = b["code"].as_str().unwrap_or_else(|| panic!("problem code missing: {}", r.text));
    let expected_status = match code {
        "invalid" => vec![400, 405, 422],
        "unauthorized" => vec![401],
        "forbidden" => vec![403],
        "not_found" => vec![404],
        "conflict" => vec![409],
        "too_large" => vec![413],
        "rate_limited" => vec![429],
        "unavailable" => vec![503],
        "internal" => vec![500],
        other => panic!("`{other}` is not a PROTOCOL.md code: {}", r.text),
    };
    assert!(expected_status.contains(&r.code()), "code `{code}` with status {}: {}", r.code(), r.text);
    if let Some(errors) = b.get("errors") {
        for e in errors.as_array().expect("errors is an array") {
            assert!(e["field"].is_string() && e["message"].is_string(), "errors item: {e}");
        }
    }
}

/// `2026-11-23T10:00:00.123Z`: UTC, exactly three fractional digits and a Z.
pub fn is_protocol_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

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
    assert!(room["id"].as_str().is_some_and(|s| !s.is_empty()), "room id: {room}");
    assert!(
        ["queued", "engaged", "closed", "expired"].contains(&room["status"].as_str().unwrap_or("")),
        "room status: {room}"
    );
    assert!(
        ["web", "telegram", "messenger", "wechat"].contains(&room["channel"].as_str().unwrap_or("")),
        "room channel: {room}"
    );
    assert_keys(&room["visitor"], &["id", "name"]);
    if !room["agent"].is_null() {
        assert_keys(&room["agent"], &["id", "name"]);
    }
    assert!(room["subject"].is_null() || room["subject"].is_string(), "subject: {room}");
    for t in ["created_at", "last_message_at"] {
        assert!(
            room[t].as_str().is_some_and(is_protocol_time),
            "{t} is not an RFC 3339 UTC time with milliseconds: {room}"
        );
    }
    assert!(room["last_seq"].is_u64(), "last_seq: {room}");
}

/// A PROTOCOL.md Message object.
#[track_caller]
pub fn assert_message_shape(m: &Value) {
    assert_keys(m, &["id", "room_id", "seq", "sender", "content", "created_at", "client_id"]);
    assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()), "message id: {m}");
    assert!(m["seq"].as_u64().is_some_and(|s| s >= 1), "seq: {m}");
    assert_keys(&m["sender"], &["kind", "id", "name"]);
    assert!(
        ["visitor", "agent", "system"].contains(&m["sender"]["kind"].as_str().unwrap_or("")),
        "sender kind: {m}"
    );
    assert!(m["content"].is_string(), "content: {m}");
    assert!(m["created_at"].as_str().is_some_and(is_protocol_time), "created_at: {m}");
    assert!(m["client_id"].is_null() || m["client_id"].is_string(), "client_id: {m}");
}

/// The seqs of a `{"messages":[…]}` page.
pub fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array: {page}"))
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

/// The ids of a `{"rooms":[…]}` list.
pub fn room_ids(list: &Value) -> Vec<String> {
    list["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("no rooms array: {list}"))
        .iter()
        .map(|r| r["id"].as_str().expect("room id").to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// The app

/// An agent made for a test.
#[derive(Debug, Clone)]
pub struct TestAgent {
    pub id: String,
    pub username: String,
    pub name: String,
    pub group: String,
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
    admin_token: OnceCell<String>,
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
    spawn_app_with(|_, _| {}).await
}

/// As `spawn_app`, with a chance to change the configuration first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut CoreConfig, &mut HttpConfig)) -> TestApp {
    let (database_url, database) = fresh_database().await;
    let mut core = CoreConfig::for_database(database_url.clone());
    core.jwt_secret = Some(Secret::new(JWT_SECRET));
    core.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    core.timer_interval_ms = 100;
    let mut http = HttpConfig::default();
    configure(&mut core, &mut http);

    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind gRPC listener");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP listener");
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(livechat::run(core, http, grpc, listener, async move {
        let _ = rx.await;
    }));
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
        admin_token: OnceCell::new(),
        agents_made: AtomicUsize::new(0),
        shutdown: Some(tx),
        server,
        _database: database,
    }
}

impl TestApp {
    /// The URL of `path`: under /api/v1 unless it starts with /api/ or is
    /// one of the operator endpoints.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") || is_root_path(path) {
            format!("{}{path}", self.address)
        } else {
            format!("{}/api/v1{path}", self.address)
        }
    }

    /// Sends a request and reads the whole answer. `path` is under /api/v1
    /// unless it is /healthz, /readyz or /metrics or starts with /api/.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"))).await
    }

    /// Sends raw bytes as the body (with a JSON content type).
    pub async fn request_raw(&self, method: Method, path: &str, token: Option<&str>, body: Vec<u8>) -> Resp {
        let mut req =
            self.client.request(method, self.url(path)).header(CONTENT_TYPE, "application/json").body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        read(req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"))).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::POST, path, token, Some(body)).await
    }
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::POST, path, token, None).await
    }
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PUT, path, token, Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PATCH, path, token, Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::DELETE, path, token, None).await
    }

    // -- auth ---------------------------------------------------------------

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.post("/auth/login", None, json!({"username": username, "password": password})).await
    }

    /// A token of the bootstrap `admin` (logged in once, on first use).
    pub async fn admin_token(&self) -> String {
        self.admin_token
            .get_or_init(|| async {
                let r = self.login("admin", ADMIN_PASSWORD).await;
                r.json(200)["access_token"].as_str().expect("access_token").to_string()
            })
            .await
            .clone()
    }

    /// Creates an agent in `group` through POST /agents and logs it in.
    pub async fn create_agent(&self, group: &str) -> TestAgent {
        let n = self.agents_made.fetch_add(1, Ordering::SeqCst) + 1;
        let username = format!("{group}{n}");
        let name = format!("Agent {group} {n}");
        let admin = self.admin_token().await;
        let r = self
            .post(
                "/agents",
                Some(&admin),
                json!({"username": username, "password": AGENT_PASSWORD, "name": name, "group": group}),
            )
            .await;
        let agent = r.json(201).clone();
        let id = agent["id"].as_str().expect("agent id").to_string();
        let r = self.login(&username, AGENT_PASSWORD).await;
        let token = r.json(200)["access_token"].as_str().expect("access_token").to_string();
        TestAgent { id, username, name, group: group.into(), token }
    }

    // -- rooms --------------------------------------------------------------

    /// POST /rooms as a web visitor; `message` becomes seq 1.
    pub async fn create_room(&self, name: &str, message: Option<&str>) -> TestRoom {
        let mut body = json!({"name": name});
        if let Some(m) = message {
            body["message"] = json!(m);
        }
        let r = self.post("/rooms", None, body).await;
        let b = r.json(201);
        assert_keys(b, &["room", "visitor_token"]);
        TestRoom {
            id: b["room"]["id"].as_str().expect("room id").to_string(),
            room: b["room"].clone(),
            visitor_token: b["visitor_token"].as_str().expect("visitor_token").to_string(),
        }
    }

    pub async fn get_room(&self, token: &str, room_id: &str) -> Resp {
        self.get(&format!("/rooms/{room_id}"), Some(token)).await
    }

    pub async fn list_rooms(&self, token: &str, query: &str) -> Resp {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        self.get(&format!("/rooms{q}"), Some(token)).await
    }

    pub async fn accept(&self, token: &str, room_id: &str) -> Resp {
        self.post_empty(&format!("/rooms/{room_id}/accept"), Some(token)).await
    }

    /// A room that `agent` has accepted (asserted).
    pub async fn engaged_room(&self, agent: &TestAgent, name: &str) -> TestRoom {
        let room = self.create_room(name, Some("hello")).await;
        let r = self.accept(&agent.token, &room.id).await;
        assert_eq!(r.json(200)["status"], "engaged");
        room
    }

    pub async fn close(&self, token: &str, room_id: &str, body: Option<Value>) -> Resp {
        self.request(Method::POST, &format!("/rooms/{room_id}/close"), Some(token), body).await
    }

    pub async fn send(&self, token: &str, room_id: &str, content: &str, client_id: Option<&str>) -> Resp {
        let mut body = json!({"content": content});
        if let Some(c) = client_id {
            body["client_id"] = json!(c);
        }
        self.post(&format!("/rooms/{room_id}/messages"), Some(token), body).await
    }

    /// GET /rooms/{id}/messages with a raw query string ("" for none).
    pub async fn history(&self, token: &str, room_id: &str, query: &str) -> Resp {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        self.get(&format!("/rooms/{room_id}/messages{q}"), Some(token)).await
    }

    pub async fn settings(&self, token: &str) -> Resp {
        self.get("/settings", Some(token)).await
    }
}

fn is_root_path(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or(path);
    matches!(p, "/healthz" | "/readyz" | "/metrics")
}

async fn read(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("read the response body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, headers, text, body }
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

#[test]
fn protocol_times_are_recognised() {
    assert!(is_protocol_time("2026-11-23T10:00:00.123Z"));
    assert!(!is_protocol_time("2026-11-23T10:00:00Z"));
    assert!(!is_protocol_time("2026-11-23T10:00:00.123456Z"));
    assert!(!is_protocol_time("2026-11-23T10:00:00.123+00:00"));
}
