//! livechat's WebSocket gateway (docs/protocol.md "WebSocket") and the two web
//! pages: the agent console at `/` and the demo widget at `/widget`.
//!
//! Stateless: each connection opens one `Subscribe` stream on the core with
//! the caller's token (which is also the agent's presence) and turns frames
//! into core calls. See `session` for the delivery guarantees.
//!
//! Fan-out: one gRPC stream per WebSocket, multiplexed over one HTTP/2
//! connection to the core; the core routes each event to the streams in
//! its audience by index. BENCHMARKS.md has what that costs.

pub mod cli;
pub mod connections;
pub mod frames;
pub mod pages;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::FutureExt;
use livechat_proto::client::CoreClient;
use livechat_proto::{ErrorCode, Failure};
use livechat_runtime::ApiError;
use livechat_runtime::client_address::TrustedProxies;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use connections::{ConnectionLimits, Connections};
pub use session::SessionConfig;
pub use session::flood::FrameLimits;

/// Largest client frame; bigger ones close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Per-connection socket buffers. tungstenite's defaults (128 KiB read
/// buffer) cost ~133 KB per idle connection. The read buffer is allocated
/// up front for every connection; 512 bytes take a chat frame or three
/// per read (a `send` of 100 characters is ~150 bytes), and the buffer
/// grows to the length of a bigger frame once its header is read (measured
/// in BENCHMARKS.md: no cost to throughput, 0.9 KiB less per connection
/// than 2 KiB). The write buffer is
/// only a flush threshold and costs nothing while idle.
pub const READ_BUFFER_BYTES: usize = 512;
pub const WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// How long a stopping gateway waits for requests and sockets in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where `ws-gateway` listens unless told otherwise.
pub const WS_GATEWAY_LISTEN: ([u8; 4], u16) = ([0, 0, 0, 0], 8080);

#[derive(Clone)]
pub struct WsState {
    pub core: CoreClient,
    pub session: SessionConfig,
    /// Cancelled on shutdown: every connection closes with 1001.
    pub shutdown: CancellationToken,
    /// Open connections per token and per address, and their caps.
    pub connections: Arc<Connections>,
    /// Whose address a connection comes from.
    pub proxies: TrustedProxies,
}

impl std::fmt::Debug for WsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsState").field("core", &self.core).finish_non_exhaustive()
    }
}

/// `/ws` plus the pages.
pub fn router(state: WsState) -> Router {
    let frames = Arc::new(pages::WidgetFrames::new(state.core.clone(), &state.session.embedding));
    let pages = pages::router(frames);
    Router::new().route("/ws", get(upgrade)).merge(pages).with_state(state)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string()).filter(|t| !t.is_empty())
}

/// Why an upgrade is refused, as the same problem+json the REST API
/// answers with. A refusal of the caller (401, 403, 404, 429) keeps its
/// code; anything else is the core being unavailable (503), which a
/// client retries.
fn refusal(status: &tonic::Status) -> ApiError {
    let failure = Failure::from_status(status);
    match failure.code {
        ErrorCode::Unauthorized | ErrorCode::Forbidden | ErrorCode::NotFound | ErrorCode::RateLimited => {
            failure.into()
        }
        _ => ApiError::unavailable(failure.message),
    }
}

/// Authenticates by opening the subscription before upgrading, so that a
/// missing or bad token is an HTTP 401 and never a WebSocket.
async fn upgrade(
    State(state): State<WsState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = bearer(&headers).or(q.access_token.filter(|t| !t.is_empty())) else {
        return ApiError::unauthorized("a bearer token is required").into_response();
    };
    // Before the core is asked anything: a refused connection costs nothing.
    let address = state.proxies.client(peer.ip(), &headers);
    let admitted = match state.connections.admit(&token, address) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    let (events, snapshot) = match session::subscribe(&state.core, &token).await {
        Ok(opened) => opened,
        Err(status) => return refusal(&status).into_response(),
    };
    let WsState { core, session, shutdown, .. } = state;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            // `map`, not an async block around the session: an async block
            // would hold the session's future twice (as its capture and as
            // the future it awaits), 1.7 KiB more per idle connection.
            session::run(socket, core, token, events, snapshot, session, shutdown)
                .map(move |()| drop(admitted))
        })
}

/// Serves `router` on `listener` until `shutdown` is cancelled; open
/// WebSockets get a 1001 close first. A client gets `header_read_timeout`
/// to send a request's headers.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stopping = shutdown.clone();
    let server = livechat_runtime::http_server::serve(listener, router, header_read_timeout, async move {
        shutdown.cancelled().await;
        // Let sessions send their 1001 before connections are dropped.
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served?,
        _ = async {
            stopping.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("HTTP connections still open after the shutdown grace; closing them"),
    }
    Ok(())
}
