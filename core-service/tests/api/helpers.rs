//! A running core per test, with typed clients for every service.
//!
//! `spawn_app()` starts `livechat_core::serve` on 127.0.0.1:0 against a fresh
//! database: an SQLite file in a temporary directory, or, when
//! `LIVECHAT_TEST_DATABASE_URL` is set, a new database on that PostgreSQL
//! server. Dropping the `TestApp` shuts the server down.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use livechat_core::{CoreConfig, Secret};
use livechat_proto::v1 as pb;
use livechat_proto::v1::event::Kind;
use pb::admin_service_client::AdminServiceClient;
use pb::auth_service_client::AuthServiceClient;
use pb::canned_response_service_client::CannedResponseServiceClient;
use pb::event_service_client::EventServiceClient;
use pb::message_service_client::MessageServiceClient;
use pb::room_service_client::RoomServiceClient;
use prost::Message as _;
use sea_orm::ConnectionTrait as _;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};

/// The HS256 secret every test core signs with (tests forge tokens with it).
pub const JWT_SECRET: &str = "test-secret-for-the-livechat-api-suite-0123456789";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password of every agent `create_agent` makes.
pub const AGENT_PASSWORD: &str = "agent-password-1";
/// How long a test waits for an event that must come. Generous on purpose:
/// this is a correctness suite, not a latency benchmark.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pass as the token to make a call without `authorization` metadata.
pub const NO_TOKEN: &str = "";

// ---------------------------------------------------------------------------
// Errors

/// The `ErrorDetail` every non-OK status of the core carries.
pub fn detail(status: &Status) -> pb::ErrorDetail {
    assert!(!status.details().is_empty(), "status carries no ErrorDetail in its details: {status:?}");
    pb::ErrorDetail::decode(status.details())
        .unwrap_or_else(|e| panic!("status details are not an ErrorDetail ({e}): {status:?}"))
}

/// The PROTOCOL.md error code of a status (`conflict`, `forbidden`, ...).
pub fn code(status: &Status) -> String {
    detail(status).code
}

/// The gRPC code that goes with a PROTOCOL.md error code.
pub fn grpc_code_of(code: &str) -> Code {
    match code {
        "invalid" => Code::InvalidArgument,
        "unauthorized" => Code::Unauthenticated,
        "forbidden" => Code::PermissionDenied,
        "not_found" => Code::NotFound,
        "conflict" => Code::FailedPrecondition,
        "too_large" => Code::OutOfRange,
        "rate_limited" => Code::ResourceExhausted,
        "unavailable" => Code::Unavailable,
        "internal" => Code::Internal,
        other => panic!("not a PROTOCOL.md error code: {other}"),
    }
}

/// Asserts that a call failed with `expected` (both the ErrorDetail code and
/// the matching gRPC code) and returns the status.
#[track_caller]
pub fn expect_err<T: std::fmt::Debug>(result: Result<T, Status>, expected: &str) -> Status {
    let status = match result {
        Ok(v) => panic!("expected `{expected}`, but the call succeeded with {v:?}"),
        Err(s) => s,
    };
    let got = code(&status);
    assert_eq!(got, expected, "wrong ErrorDetail code; status: {status:?}");
    assert_eq!(status.code(), grpc_code_of(expected), "wrong gRPC code for `{expected}`; status: {status:?}");
    status
}

/// Unwraps a call that must succeed, showing the status otherwise.
#[track_caller]
pub fn ok<T>(result: Result<tonic::Response<T>, Status>, what: &str) -> T {
    match result {
        Ok(r) => r.into_inner(),
        Err(s) => {
            let d = pb::ErrorDetail::decode(s.details()).ok();
            panic!("{what} failed: {s:?} (detail: {d:?})")
        }
    }
}

// ---------------------------------------------------------------------------
// Bearer tokens

/// Adds `authorization: Bearer <token>` to every call (none for `NO_TOKEN`).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        if token.is_empty() {
            Self(None)
        } else {
            Self(Some(format!("Bearer {token}").parse().expect("token is valid metadata")))
        }
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

/// A request with the bearer token attached, for plain (non-intercepted) clients.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut req = Request::new(message);
    if !token.is_empty() {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().expect("token is valid metadata"));
    }
    req
}

// ---------------------------------------------------------------------------
// Forged tokens

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims the core signs for an agent.
pub fn agent_claims(agent_id: &str, ver: i64, iat: i64, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": "livechat", "aud": "livechat", "sub": agent_id, "role": "agent",
        "iat": iat, "exp": exp, "ver": ver,
    })
}

/// The claims the core signs for a visitor.
pub fn visitor_claims(visitor_id: &str, room_id: &str, name: &str, iat: i64, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": "livechat", "aud": "livechat", "sub": visitor_id, "role": "visitor",
        "iat": iat, "exp": exp, "room": room_id, "name": name,
    })
}

/// A token signed HS256 with `secret`.
pub fn forge_token_with(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode JWT")
}

/// A token signed with the test core's own secret: as good as a real one.
pub fn forge_token(claims: &serde_json::Value) -> String {
    forge_token_with(JWT_SECRET, claims)
}

/// An unsigned token: header `{"alg":"none"}` and an empty signature.
pub fn forge_unsigned_token(claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// The decoded claims of a JWT, without checking anything.
pub fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON payload")
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

pub struct TestApp {
    pub addr: SocketAddr,
    pub channel: Channel,
    /// The bootstrap `admin` agent (group admin) and its token.
    pub admin: pb::Agent,
    pub admin_token: String,
    pub database_url: String,
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
                    let db = match connect_server(&admin_url).await {
                        Ok(db) => db,
                        Err(e) => {
                            eprintln!("could not connect to drop the test database {name}: {e}");
                            return None;
                        }
                    };
                    // The core's pool may still be reconnecting: shut the door first.
                    let _ = db
                        .execute_unprepared(&format!(
                            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
                        ))
                        .await;
                    for _ in 0..5 {
                        let dropped = db
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .await;
                        match dropped {
                            Ok(_) => break,
                            Err(e) => eprintln!("could not drop the test database {name} (will retry): {e}"),
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
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
    assert_eq!(with_database_name("postgres://h:5432", "lc_1"), "postgres://h:5432/lc_1");
}

pub async fn spawn_app() -> TestApp {
    let (database_url, database) = fresh_database().await;
    let mut config = CoreConfig::for_database(database_url.clone());
    config.jwt_secret = Some(Secret::new(JWT_SECRET));
    config.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    config.timer_interval_ms = 100;

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(livechat_core::serve(config, listener, async move {
        let _ = rx.await;
    }));

    let endpoint =
        Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_timeout(Duration::from_secs(2));
    // The listener is bound before `serve` runs, so a connection can succeed
    // while the core still migrates: the first Login is what proves it serves.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut server = Some(server);
    let (channel, login) = loop {
        if server.as_ref().unwrap().is_finished() {
            let result = server.take().unwrap().await;
            panic!("the core stopped while starting: {result:?}");
        }
        let attempt = async {
            let channel = endpoint.connect().await.map_err(|e| format!("connect: {e}"))?;
            let login = AuthServiceClient::new(channel.clone())
                .login(pb::LoginRequest { username: "admin".into(), password: ADMIN_PASSWORD.into() })
                .await
                .map_err(|s| format!("admin login: {s:?}"))?
                .into_inner();
            Ok::<_, String>((channel, login))
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok(v)) => break v,
            Ok(Err(e)) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(Err(e)) => panic!("the core on {addr} did not start serving within 30 s: {e}"),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => panic!("the core on {addr} did not answer within 30 s"),
        }
    };

    TestApp {
        addr,
        channel,
        admin: login.agent.expect("LoginResponse.agent is set"),
        admin_token: login.access_token,
        database_url,
        shutdown: Some(tx),
        server,
        _database: database,
    }
}

impl TestApp {
    // -- clients ------------------------------------------------------------

    pub fn auth(&self, token: &str) -> AuthServiceClient<Authed> {
        AuthServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    pub fn rooms(&self, token: &str) -> RoomServiceClient<Authed> {
        RoomServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    pub fn messages(&self, token: &str) -> MessageServiceClient<Authed> {
        MessageServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    pub fn admin_api(&self, token: &str) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    pub fn canned(&self, token: &str) -> CannedResponseServiceClient<Authed> {
        CannedResponseServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    pub fn events(&self, token: &str) -> EventServiceClient<Authed> {
        EventServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    // -- auth and accounts ----------------------------------------------------

    pub async fn login(&self, username: &str, password: &str) -> Result<pb::LoginResponse, Status> {
        self.auth(NO_TOKEN)
            .login(pb::LoginRequest { username: username.into(), password: password.into() })
            .await
            .map(|r| r.into_inner())
    }

    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    pub async fn who_am_i(&self, token: &str) -> Result<pb::WhoAmIResponse, Status> {
        self.auth(token).who_am_i(pb::WhoAmIRequest {}).await.map(|r| r.into_inner())
    }

    /// A new agent in `group` (unique username, password AGENT_PASSWORD), logged in.
    pub async fn create_agent_full(&self, group: &str) -> TestAgent {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let username = format!("agent-{}", &suffix[..12]);
        let name = format!("Agent {}", &suffix[..6]);
        let agent = ok(
            self.admin_api(&self.admin_token)
                .create_agent(pb::CreateAgentRequest {
                    username: username.clone(),
                    password: AGENT_PASSWORD.into(),
                    name: name.clone(),
                    group: group.into(),
                })
                .await,
            "CreateAgent",
        );
        let login = self
            .login(&username, AGENT_PASSWORD)
            .await
            .unwrap_or_else(|s| panic!("login of the new agent {username} failed: {s:?}"));
        TestAgent { id: agent.id, username, name: agent.name, group: agent.group, token: login.access_token }
    }

    /// `(agent_id, token)` of a new agent in `group`.
    pub async fn create_agent(&self, group: &str) -> (String, String) {
        let a = self.create_agent_full(group).await;
        (a.id, a.token)
    }

    /// `n` agents of `group`, created concurrently.
    pub async fn create_agents(&self, group: &str, n: usize) -> Vec<TestAgent> {
        join_all((0..n).map(|_| self.create_agent_full(group))).await
    }

    pub async fn create_group(&self, name: &str, permissions: &[&str]) -> pb::Group {
        ok(
            self.admin_api(&self.admin_token)
                .create_group(pb::Group {
                    name: name.into(),
                    permissions: permissions.iter().map(|p| p.to_string()).collect(),
                })
                .await,
            "CreateGroup",
        )
    }

    pub async fn settings(&self) -> pb::Settings {
        ok(self.admin_api(&self.admin_token).get_settings(pb::GetSettingsRequest {}).await, "GetSettings")
    }

    pub async fn update_settings(&self, update: pb::UpdateSettingsRequest) -> pb::Settings {
        ok(self.admin_api(&self.admin_token).update_settings(update).await, "UpdateSettings")
    }

    // -- rooms and messages --------------------------------------------------

    /// A new web room, as a visitor requesting an agent: `(room, visitor_token)`.
    pub async fn create_room(&self, name: &str, message: Option<&str>) -> (pb::Room, String) {
        let r = ok(
            self.rooms(NO_TOKEN)
                .create_room(pb::CreateRoomRequest {
                    name: name.into(),
                    message: message.map(str::to_string),
                    ..Default::default()
                })
                .await,
            "CreateRoom",
        );
        (r.room.expect("CreateRoomResponse.room is set"), r.visitor_token)
    }

    pub async fn get_room(&self, token: &str, room_id: &str) -> Result<pb::Room, Status> {
        self.rooms(token)
            .get_room(pb::GetRoomRequest { room_id: room_id.into() })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn try_accept(&self, token: &str, room_id: &str) -> Result<pb::Room, Status> {
        self.rooms(token)
            .accept_room(pb::RoomRequest { room_id: room_id.into() })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn accept(&self, token: &str, room_id: &str) -> pb::Room {
        self.try_accept(token, room_id).await.unwrap_or_else(|s| panic!("AcceptRoom {room_id} failed: {s:?}"))
    }

    pub async fn try_send(
        &self,
        token: &str,
        room_id: &str,
        content: &str,
        client_id: Option<&str>,
    ) -> Result<pb::SendMessageResponse, Status> {
        self.messages(token)
            .send_message(pb::SendMessageRequest {
                room_id: room_id.into(),
                content: content.into(),
                client_id: client_id.map(str::to_string),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Sends and returns the stored message (which must be new).
    pub async fn send(&self, token: &str, room_id: &str, content: &str) -> pb::Message {
        let r = self
            .try_send(token, room_id, content, None)
            .await
            .unwrap_or_else(|s| panic!("SendMessage {content:?} failed: {s:?}"));
        assert!(r.created, "a send without client_id must store a new message");
        r.message.expect("SendMessageResponse.message is set")
    }

    pub async fn try_history(
        &self,
        token: &str,
        room_id: &str,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: Option<u32>,
    ) -> Result<pb::ListMessagesResponse, Status> {
        self.messages(token)
            .list_messages(pb::ListMessagesRequest { room_id: room_id.into(), before_seq, after_seq, limit })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn history(
        &self,
        token: &str,
        room_id: &str,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: Option<u32>,
    ) -> pb::ListMessagesResponse {
        self.try_history(token, room_id, before_seq, after_seq, limit)
            .await
            .unwrap_or_else(|s| panic!("ListMessages of {room_id} failed: {s:?}"))
    }

    /// Every message of a room (up to 500), oldest first.
    pub async fn all_messages(&self, token: &str, room_id: &str) -> Vec<pb::Message> {
        let page = self.history(token, room_id, None, Some(0), Some(500)).await;
        assert!(!page.has_more, "the room has more than 500 messages");
        page.messages
    }

    pub async fn close(&self, token: &str, room_id: &str, message: Option<&str>) -> pb::Room {
        ok(
            self.rooms(token)
                .close_room(pb::CloseRoomRequest {
                    room_id: room_id.into(),
                    message: message.map(str::to_string),
                })
                .await,
            "CloseRoom",
        )
    }

    // -- events -----------------------------------------------------------------

    /// Subscribes and reads the first event, which must be the Snapshot.
    /// Everything that happens after this returns reaches the stream.
    pub async fn subscribe(&self, token: &str) -> Events {
        let mut stream =
            tokio::time::timeout(EVENT_TIMEOUT, self.events(token).subscribe(pb::SubscribeRequest {}))
                .await
                .expect("Subscribe did not answer within 10 s")
                .unwrap_or_else(|s| panic!("Subscribe failed: {s:?}"))
                .into_inner();
        let first = next_raw(&mut stream, EVENT_TIMEOUT).await;
        match first {
            Kind::Snapshot(snapshot) => Events { snapshot, stream, pending: VecDeque::new() },
            other => panic!("the first event of a subscription must be a Snapshot, got {other:?}"),
        }
    }

    /// Subscribes without reading anything: for calls expected to fail.
    pub async fn try_subscribe(&self, token: &str) -> Result<Streaming<pb::Event>, Status> {
        let mut stream = self.events(token).subscribe(pb::SubscribeRequest {}).await?.into_inner();
        // Some servers refuse on the first message rather than in the headers.
        match tokio::time::timeout(EVENT_TIMEOUT, stream.message()).await {
            Ok(Err(s)) => Err(s),
            _ => Ok(stream),
        }
    }
}

async fn next_raw(stream: &mut Streaming<pb::Event>, timeout: Duration) -> Kind {
    match tokio::time::timeout(timeout, stream.message()).await {
        Err(_) => panic!("no event within {timeout:?}"),
        Ok(Err(s)) => panic!("the event stream failed: {s:?}"),
        Ok(Ok(None)) => panic!("the event stream ended"),
        Ok(Ok(Some(pb::Event { kind: None }))) => panic!("an Event without a kind"),
        Ok(Ok(Some(pb::Event { kind: Some(k) }))) => k,
    }
}

/// The next event of a stream; fails the test after `timeout`.
pub async fn next_event(events: &mut Events, timeout: Duration) -> Kind {
    events.next(timeout).await
}

/// One subscription. Events a `wait_for` skipped stay pending for later ones,
/// so a test can wait for several events in whatever order they arrive.
pub struct Events {
    pub snapshot: pb::Snapshot,
    stream: Streaming<pb::Event>,
    pending: VecDeque<Kind>,
}

impl Events {
    /// The next event (pending ones first); fails after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Kind {
        if let Some(k) = self.pending.pop_front() {
            return k;
        }
        next_raw(&mut self.stream, timeout).await
    }

    /// The first event (pending or new) `f` picks, within EVENT_TIMEOUT.
    /// Events it does not pick stay pending.
    pub async fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut(&Kind) -> Option<T>) -> T {
        if let Some(i) = self.pending.iter().position(|k| f(k).is_some()) {
            let k = self.pending.remove(i).unwrap();
            return f(&k).unwrap();
        }
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = match tokio::time::timeout(left, self.stream.message()).await {
                Err(_) => {
                    panic!("waited {EVENT_TIMEOUT:?} for {what}; other events seen: {:#?}", self.pending)
                }
                Ok(Err(s)) => panic!("the event stream failed while waiting for {what}: {s:?}"),
                Ok(Ok(None)) => panic!("the event stream ended while waiting for {what}"),
                Ok(Ok(Some(pb::Event { kind: None }))) => panic!("an Event without a kind"),
                Ok(Ok(Some(pb::Event { kind: Some(k) }))) => k,
            };
            if let Some(v) = f(&got) {
                return v;
            }
            self.pending.push_back(got);
        }
    }

    /// Every event that arrives within `d` (pending ones included), taken.
    pub async fn collect_for(&mut self, d: Duration) -> Vec<Kind> {
        let mut out: Vec<Kind> = self.pending.drain(..).collect();
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.message()).await {
                Err(_) => return out,
                Ok(Ok(Some(pb::Event { kind: Some(k) }))) => out.push(k),
                Ok(Ok(Some(pb::Event { kind: None }))) => panic!("an Event without a kind"),
                Ok(Ok(None)) => return out,
                Ok(Err(s)) => panic!("the event stream failed: {s:?}"),
            }
        }
    }

    /// The stored message with `seq` in `room_id`.
    pub async fn message(&mut self, room_id: &str, seq: u64) -> pb::Message {
        self.wait_for(&format!("MessageStored seq {seq} of room {room_id}"), |k| match k {
            Kind::Message(m) => m.message.as_ref().filter(|m| m.room_id == room_id && m.seq == seq).cloned(),
            _ => None,
        })
        .await
    }

    /// The MessageStored events of `room_id`, in arrival order, up to and
    /// including `last_seq`. Other events stay pending.
    pub async fn messages_through(&mut self, room_id: &str, last_seq: u64) -> Vec<pb::Message> {
        let mut out = Vec::new();
        loop {
            let m = self
                .wait_for(&format!("messages of {room_id} through seq {last_seq}"), |k| match k {
                    Kind::Message(m) => m.message.as_ref().filter(|m| m.room_id == room_id).cloned(),
                    _ => None,
                })
                .await;
            let seq = m.seq;
            out.push(m);
            if seq >= last_seq {
                return out;
            }
        }
    }

    pub async fn room_queued(&mut self, room_id: &str) -> pb::Room {
        self.wait_for(&format!("RoomQueued {room_id}"), |k| match k {
            Kind::RoomQueued(q) => q.room.as_ref().filter(|r| r.id == room_id).cloned(),
            _ => None,
        })
        .await
    }

    pub async fn room_taken(&mut self, room_id: &str) -> pb::RoomTaken {
        self.wait_for(&format!("RoomTaken {room_id}"), |k| match k {
            Kind::RoomTaken(t) if t.room_id == room_id => Some(t.clone()),
            _ => None,
        })
        .await
    }

    /// The first RoomUpdated of `room_id` with `status`.
    pub async fn room_updated(&mut self, room_id: &str, status: pb::RoomStatus) -> pb::Room {
        self.wait_for(&format!("RoomUpdated {room_id} to {status:?}"), |k| match k {
            Kind::RoomUpdated(u) => {
                u.room.as_ref().filter(|r| r.id == room_id && r.status() == status).cloned()
            }
            _ => None,
        })
        .await
    }

    pub async fn room_closed(&mut self, room_id: &str) -> pb::RoomClosed {
        self.wait_for(&format!("RoomClosed {room_id}"), |k| match k {
            Kind::RoomClosed(c) if c.room_id == room_id => Some(c.clone()),
            _ => None,
        })
        .await
    }
}

/// Seqs of a list of messages.
pub fn seqs(messages: &[pb::Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

pub fn sender_kind(m: &pb::Message) -> pb::SenderKind {
    m.sender.as_ref().map(|s| s.kind()).unwrap_or(pb::SenderKind::Unspecified)
}

pub fn sender_id(m: &pb::Message) -> String {
    m.sender.as_ref().map(|s| s.id.clone()).unwrap_or_default()
}
