//! The core's gRPC API: the core's own production assembly per test
//! (`livechat_core::serve`, as the `core-service` binary runs it) with typed
//! clients behind a bearer interceptor, `ErrorDetail` assertions, event
//! streams ([`events`]) and forged tokens ([`tokens`]).

mod calls;
pub mod events;
pub mod tokens;

use std::net::SocketAddr;
use std::time::Duration;

use livechat_core::{Clock, CoreConfig, Secret};
use livechat_proto::v1 as pb;
use pb::admin_service_client::AdminServiceClient;
use pb::auth_service_client::AuthServiceClient;
use pb::canned_response_service_client::CannedResponseServiceClient;
use pb::event_service_client::EventServiceClient;
use pb::message_service_client::MessageServiceClient;
use pb::room_service_client::RoomServiceClient;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

pub use events::{Events, next_event, sender_id, sender_kind, seqs};
pub use tokens::*;

use crate::app::Server;
use crate::database::TestDatabase;
use crate::{ADMIN_PASSWORD, JWT_SECRET};

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

/// The docs/protocol.md error code of a status (`conflict`, `forbidden`, ...).
pub fn code(status: &Status) -> String {
    detail(status).code
}

/// The gRPC code that goes with a docs/protocol.md error code.
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
        other => panic!("not a docs/protocol.md error code: {other}"),
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
    /// The interceptor for `token` (`NO_TOKEN`: no metadata at all).
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

/// A channel that sends the bearer token with every call.
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
// The core

/// A running core (gRPC only) for one test, with the bootstrap admin logged in.
pub struct CoreApp {
    pub addr: SocketAddr,
    pub channel: Channel,
    /// The bootstrap `admin` agent (group admin) and its token.
    pub admin: pb::Agent,
    pub admin_token: String,
    pub database_url: String,
    /// The core's clock: `advance_clock` moves it.
    pub clock: Clock,
    // Held for its Drop: stops the core, then drops the database.
    _server: Server,
}

/// `livechat_core::serve` on 127.0.0.1:0 and a fresh database, once the
/// admin can log in.
pub async fn spawn_core() -> CoreApp {
    let database = TestDatabase::fresh().await;
    let database_url = database.url.clone();
    let mut config = CoreConfig::for_database(database_url.clone());
    config.jwt_secret = Some(Secret::new(JWT_SECRET));
    config.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    config.timer_interval_ms = 100;
    // The core's own suite tests rules, not the abuse limits (the REST
    // suite does): every test's calls come from 127.0.0.1.
    config.rooms_per_ip_per_min = 100_000;
    config.open_rooms_per_ip = 100_000;
    config.login_failures_per_address = 100_000;
    config.login_failures_per_user = 100_000;
    let clock = config.clock.clone();

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let mut server = Server::spawn(database, |stop| {
        livechat_core::serve(
            config,
            listener,
            None,
            async move {
                let _ = stop.await;
            },
            Duration::ZERO,
        )
    });

    let endpoint =
        Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_timeout(Duration::from_secs(2));
    // The listener is bound before `serve` runs, so a connection can succeed
    // while the core still migrates: the first Login is what proves it serves.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (channel, login) = loop {
        server.assert_running("the core").await;
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

    CoreApp {
        addr,
        channel,
        admin: login.agent.expect("LoginResponse.agent is set"),
        admin_token: login.access_token,
        database_url,
        clock,
        _server: server,
    }
}

// The clock, and one typed client per service whose calls carry `token`
// (none for `NO_TOKEN`).
impl CoreApp {
    /// Moves the core's time forward; returns once its timers have acted
    /// on the new time.
    pub async fn advance_clock(&self, by: Duration) {
        crate::app::move_time(&self.clock, by).await
    }

    /// AuthService.
    pub fn auth(&self, token: &str) -> AuthServiceClient<Authed> {
        AuthServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    /// RoomService.
    pub fn rooms(&self, token: &str) -> RoomServiceClient<Authed> {
        RoomServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    /// MessageService.
    pub fn messages(&self, token: &str) -> MessageServiceClient<Authed> {
        MessageServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    /// AdminService.
    pub fn admin_api(&self, token: &str) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    /// CannedResponseService.
    pub fn canned(&self, token: &str) -> CannedResponseServiceClient<Authed> {
        CannedResponseServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
    /// EventService (see `subscribe` for a stream with its Snapshot read).
    pub fn events(&self, token: &str) -> EventServiceClient<Authed> {
        EventServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }
}
