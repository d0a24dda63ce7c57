//! One WebSocket connection: client frames become core calls, the core's
//! event stream becomes server frames.
//!
//! Delivery: per room the session remembers the last seq it delivered.
//! A message event at or below it is dropped (at-least-once delivery from
//! the bus, or already in a history frame); one past a gap first fills the
//! gap from history. So each connection sees every message once, in seq
//! order. Frames go out through a bounded queue to a writer task; a client
//! that lets it fill up is disconnected, so a stalled client cannot grow
//! memory or hold up anyone else.
//!
//! - `socket`: the loop over the socket and the event stream, the writer
//!   task, and every close code a connection can end with.
//! - `requests`: client frames as core calls, answered by an ack or error.
//! - `sends`: sends in flight, several rooms' at once, each room's in order.
//! - `events`: what the connection is shown from the core: the opening
//!   frames, live events, gaps filled from history, resubscription.
//! - `delivery`: the per-room bookkeeping behind "once, in order"; pure.
//! - `flood`: how fast a connection may send messages and typing; pure.

mod delivery;
mod events;
pub mod flood;
mod requests;
mod sends;
mod socket;

use std::time::Duration;

use axum::extract::ws::WebSocket;
use futures::StreamExt;
use futures::future::Either;
use futures::stream::Pending;
use livechat_proto::client::{CoreClient, EventStream};
use livechat_proto::v1 as pb;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// Close codes of docs/protocol.md and RFC 6455.
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const RESTART: u16 = 1012;
    pub const TRY_LATER: u16 = 1013;
    pub const TOKEN: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const IDLE: u16 = 4408;
}

/// Opens the caller's event stream and reads its first event, the snapshot.
pub async fn subscribe(core: &CoreClient, token: &str) -> Result<(EventStream, pb::Snapshot), Status> {
    let mut events = core.subscribe(token).await?;
    match events.next().await.transpose()? {
        Some(pb::Event { kind: Some(pb::event::Kind::Snapshot(s)) }) => Ok((events, s)),
        _ => Err(Status::unavailable("the core sent no snapshot")),
    }
}

/// Knobs of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub ping_every: Duration,
    pub idle_after: Duration,
    /// Frames waiting for a slow client before it is disconnected.
    pub outbound_queue: usize,
    /// Longest frames may wait for the socket before the connection is
    /// dropped (looked at with each ping).
    pub write_timeout: Duration,
    /// How fast the client may send messages and typing frames.
    pub limits: flood::FrameLimits,
    /// How many connections a token, and an address, may hold (checked at
    /// the upgrade).
    pub connections: crate::ConnectionLimits,
    /// Which sites may frame the widget page.
    pub embedding: crate::pages::WidgetEmbedding,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(20),
            idle_after: Duration::from_secs(120),
            outbound_queue: 256,
            write_timeout: Duration::from_secs(30),
            limits: flood::FrameLimits::default(),
            connections: crate::ConnectionLimits::default(),
            embedding: Default::default(),
        }
    }
}

/// Runs a connection whose subscription is already open (the upgrade
/// handler opened it, so that a bad token is refused before the upgrade).
/// Not an `async fn`: the connection's future is the loop's own, without
/// a second copy of the arguments around it.
pub fn run(
    socket: WebSocket,
    core: CoreClient,
    token: String,
    events: EventStream,
    snapshot: pb::Snapshot,
    cfg: SessionConfig,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send {
    let events: socket::Events<Pending<_>> = Either::Right(events);
    socket::serve(socket.split(), events, core, token, snapshot, cfg, shutdown)
}
