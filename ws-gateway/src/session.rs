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

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use livechat_proto::client::{CoreClient, authed};
use livechat_proto::{json, v1 as pb};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status, Streaming};

use crate::frames::{self, AckResult, ClientFrame, ServerFrame};

/// Close codes of PROTOCOL.md and RFC 6455.
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const RESTART: u16 = 1012;
    pub const TRY_LATER: u16 = 1013;
    pub const TOKEN: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const IDLE: u16 = 4408;
}

/// Largest history page the core serves.
const MAX_PAGE: u64 = 500;
/// Attempts to subscribe again (about 6 s with backoff) before the client
/// is told to reconnect.
const RESUBSCRIBE_TRIES: usize = 10;

/// Opens the caller's event stream and reads its first event, the snapshot.
pub async fn subscribe(
    core: &CoreClient,
    token: &str,
) -> Result<(Streaming<pb::Event>, pb::Snapshot), Status> {
    let mut events =
        core.events().subscribe(authed(pb::SubscribeRequest {}, token, None)?).await?.into_inner();
    match events.message().await? {
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
    /// Longest a single write to the socket may take.
    pub write_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(20),
            idle_after: Duration::from_secs(120),
            outbound_queue: 256,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the session ends, and with which close code.
struct Closing(u16, &'static str);

struct Session {
    core: CoreClient,
    token: String,
    out: mpsc::Sender<Message>,
    /// Last seq delivered per room.
    delivered: HashMap<String, u64>,
    /// Rooms this connection was told are closed or expired.
    closed: HashSet<String>,
}

/// Runs a connection whose subscription is already open (the upgrade
/// handler opened it, so that a bad token is refused before the upgrade).
pub async fn run(
    socket: WebSocket,
    core: CoreClient,
    token: String,
    mut events: Streaming<pb::Event>,
    snapshot: pb::Snapshot,
    cfg: SessionConfig,
    shutdown: CancellationToken,
) {
    metrics::gauge!("livechat_ws_connections").increment(1.0);
    let (sink, mut stream) = socket.split();
    let (out, rx) = mpsc::channel(cfg.outbound_queue);
    let writer = tokio::spawn(write_frames(sink, rx, cfg.write_timeout));
    let mut s = Session { core, token, out, delivered: HashMap::new(), closed: HashSet::new() };

    // The handlers that call the core are boxed while they run: their
    // futures (a whole gRPC call) would otherwise be part of this one,
    // whose size every idle connection pays for as long as it lives.
    let end = match Box::pin(s.open(snapshot)).await {
        Err(c) => c,
        Ok(()) => {
            let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_every, cfg.ping_every);
            let idle = sleep_until(Instant::now() + cfg.idle_after);
            tokio::pin!(idle);
            loop {
                // Events before client frames: a client that keeps frames
                // coming (an agent typing in many rooms) must not starve
                // its own event stream until the core drops it as too slow.
                let step = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => Err(Closing(close::GOING_AWAY, "server shutting down")),
                    _ = &mut idle => Err(Closing(close::IDLE, "idle")),
                    _ = ping.tick() => s.push(Message::Ping(Default::default())),
                    ev = events.message() => match ev {
                        Ok(Some(event)) => match s.on_event(event) {
                            Ok(Some(gap)) => Box::pin(s.deliver_after_gap(gap)).await,
                            Ok(None) => Ok(()),
                            Err(c) => Err(c),
                        },
                        Ok(None) => Box::pin(s.resubscribe(&mut events, None)).await,
                        Err(status) => Box::pin(s.resubscribe(&mut events, Some(status))).await,
                    },
                    frame = stream.next() => {
                        idle.as_mut().reset(Instant::now() + cfg.idle_after);
                        Box::pin(s.on_client(frame)).await
                    }
                };
                if let Err(c) = step {
                    break c;
                }
            }
        }
    };
    // While the server stops, the core's streams end too; whichever is seen
    // first, the client is told the truth: the server is going away.
    let end = if shutdown.is_cancelled() && end.0 != 0 {
        Closing(close::GOING_AWAY, "server shutting down")
    } else {
        end
    };
    if end.0 != 0 {
        let frame = CloseFrame { code: end.0, reason: Utf8Bytes::from_static(end.1) };
        if s.out.try_send(Message::Close(Some(frame))).is_err() {
            // The queue is full (a stalled client): drop the connection now
            // rather than wait for writes that will not complete.
            writer.abort();
        }
    }
    drop(s);
    let _ = writer.await;
    metrics::gauge!("livechat_ws_connections").decrement(1.0);
}

/// Owns the socket's sending half. Ends on a close frame, a write error,
/// or a write that takes too long (a stalled client).
async fn write_frames(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    write_timeout: Duration,
) {
    while let Some(msg) = rx.recv().await {
        let closing = matches!(msg, Message::Close(_));
        // Frames already queued go out in the same write: one syscall for
        // an ack and the events that came with it, not one each.
        let more = !closing && !rx.is_empty();
        let write = async { if more { sink.feed(msg).await } else { sink.send(msg).await } };
        match tokio::time::timeout(write_timeout, write).await {
            Ok(Ok(())) if !closing => {}
            _ => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// The close code for a status that ended the event stream.
fn closing_for(status: &Status) -> Closing {
    match status.code() {
        Code::Unauthenticated => Closing(close::TOKEN, "token expired or revoked"),
        Code::PermissionDenied => Closing(close::FORBIDDEN, "forbidden"),
        Code::ResourceExhausted => Closing(close::TRY_LATER, "too slow; reconnect and catch up with history"),
        Code::Unavailable => Closing(close::RESTART, "server restarting; reconnect"),
        _ => Closing(close::INTERNAL, "event stream failed"),
    }
}

type Step = Result<(), Closing>;

impl Session {
    /// Queues a frame; a full queue means the client is not keeping up.
    fn push(&self, msg: Message) -> Step {
        match self.out.try_send(msg) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("livechat_ws_slow_disconnects_total").increment(1);
                Err(Closing(close::TRY_LATER, "too slow; reconnect and catch up with history"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closing(0, "gone")),
        }
    }

    fn send(&self, f: &ServerFrame) -> Step {
        self.push(Message::Text(f.to_json().into()))
    }

    /// welcome, then (visitor whose room ended) room_closed, then a history
    /// frame per room.
    async fn open(&mut self, snapshot: pb::Snapshot) -> Step {
        let rooms = snapshot.rooms.clone();
        let visitor = snapshot.role == "visitor";
        self.send(&frames::welcome(snapshot))?;
        for room in rooms {
            if visitor {
                self.tell_if_ended(&room)?;
            }
            self.send_history(&room.id).await?;
        }
        Ok(())
    }

    /// A `room_closed` for a room that has ended, once per connection.
    fn tell_if_ended(&mut self, room: &pb::Room) -> Step {
        let reason = match pb::RoomStatus::try_from(room.status) {
            Ok(pb::RoomStatus::Closed) => "closed",
            Ok(pb::RoomStatus::Expired) => "expired",
            _ => return Ok(()),
        };
        if !self.closed.insert(room.id.clone()) {
            return Ok(());
        }
        self.send(&ServerFrame::RoomClosed {
            room_id: room.id.clone(),
            reason: reason.into(),
            message: room.end_message.clone().unwrap_or_default(),
        })
    }

    /// The last history_load_count messages as a `history` frame.
    async fn send_history(&mut self, room_id: &str) -> Step {
        let req = pb::ListMessagesRequest {
            room_id: room_id.into(),
            before_seq: None,
            after_seq: None,
            limit: None,
        };
        match self.call_history(req).await {
            Ok(page) => {
                if let Some(last) = page.messages.last() {
                    let seen = self.delivered.entry(room_id.to_string()).or_insert(0);
                    *seen = (*seen).max(last.seq);
                } else {
                    self.delivered.entry(room_id.to_string()).or_insert(0);
                }
                self.send(&ServerFrame::History {
                    room_id: room_id.into(),
                    messages: page.messages.into_iter().map(json::Message::from).collect(),
                    has_more: page.has_more,
                })
            }
            Err(status) => self.send(&ServerFrame::error(None, &status)),
        }
    }

    async fn call_history(&self, req: pb::ListMessagesRequest) -> Result<pb::ListMessagesResponse, Status> {
        Ok(self.core.messages().list_messages(authed(req, &self.token, None)?).await?.into_inner())
    }

    async fn on_client(&mut self, frame: Option<Result<Message, axum::Error>>) -> Step {
        let msg = match frame {
            None => return Err(Closing(0, "client left")),
            Some(Err(e)) => {
                let too_big =
                    e.to_string().contains("too long") || e.to_string().to_lowercase().contains("capacity");
                return Err(if too_big {
                    Closing(close::TOO_BIG, "frame too large")
                } else {
                    Closing(0, "read error")
                });
            }
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(text) => self.on_text(text.as_str()).await,
            Message::Binary(_) => {
                self.send(&ServerFrame::invalid(None, "binary frames are not supported; send JSON text"))
            }
            Message::Close(_) => Err(Closing(0, "client closed")),
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        }
    }

    async fn on_text(&mut self, text: &str) -> Step {
        let (req_id, frame) = match frames::parse(text) {
            Ok(parsed) => parsed,
            Err(bad) => return self.send(&ServerFrame::invalid(bad.req_id, bad.message)),
        };
        if let ClientFrame::Ping {} = frame {
            return self.send(&ServerFrame::Pong { req_id });
        }
        let accepted_room = match &frame {
            ClientFrame::Accept { room_id } => Some(room_id.clone()),
            _ => None,
        };
        match self.call(frame).await {
            Ok(fields) => {
                self.send(&ServerFrame::ack(req_id, fields))?;
                match accepted_room {
                    Some(room_id) => self.send_history(&room_id).await,
                    None => Ok(()),
                }
            }
            Err(status) => self.send(&ServerFrame::error(req_id, &status)),
        }
    }

    /// One client frame as one core call; what its ack carries.
    async fn call(&self, frame: ClientFrame) -> Result<AckResult, Status> {
        let t = self.token.as_str();
        let room = |r: pb::Room| AckResult::Room { room: r.into() };
        Ok(match frame {
            ClientFrame::Accept { room_id } => room(
                self.core
                    .rooms()
                    .accept_room(authed(pb::RoomRequest { room_id }, t, None)?)
                    .await?
                    .into_inner(),
            ),
            ClientFrame::Decline { room_id } => {
                self.core.rooms().decline_room(authed(pb::RoomRequest { room_id }, t, None)?).await?;
                AckResult::Nothing {}
            }
            ClientFrame::Send { room_id, content, client_id } => {
                let req = pb::SendMessageRequest { room_id, content, client_id };
                let r = self.core.messages().send_message(authed(req, t, None)?).await?.into_inner();
                let m = r.message.ok_or_else(|| Status::internal("no message"))?;
                AckResult::Message { message: m.into() }
            }
            ClientFrame::Typing { room_id, typing } => {
                self.core
                    .messages()
                    .set_typing(authed(pb::SetTypingRequest { room_id, typing }, t, None)?)
                    .await?;
                AckResult::Nothing {}
            }
            ClientFrame::History { room_id, before_seq, after_seq, limit } => {
                let page = self
                    .call_history(pb::ListMessagesRequest { room_id, before_seq, after_seq, limit })
                    .await?;
                AckResult::History {
                    messages: page.messages.into_iter().map(json::Message::from).collect(),
                    has_more: page.has_more,
                }
            }
            ClientFrame::Close { room_id, message } => room(
                self.core
                    .rooms()
                    .close_room(authed(pb::CloseRoomRequest { room_id, message }, t, None)?)
                    .await?
                    .into_inner(),
            ),
            ClientFrame::Transfer { room_id, agent_id } => {
                let req = pb::TransferRoomRequest { room_id, agent_id };
                room(self.core.rooms().transfer_room(authed(req, t, None)?).await?.into_inner())
            }
            ClientFrame::Ping {} => AckResult::Nothing {},
        })
    }

    /// Handles a live event at once, or returns a message that comes after
    /// a gap, for `deliver_after_gap` to fill from history first (the one
    /// case that needs to call the core).
    fn on_event(&mut self, ev: pb::Event) -> Result<Option<pb::Message>, Closing> {
        let Some(kind) = ev.kind else { return Ok(None) };
        let kind = match kind {
            pb::event::Kind::Message(pb::MessageStored { message: Some(m) }) => {
                return match self.delivered.get(&m.room_id).copied() {
                    Some(last) if m.seq <= last => Ok(None),
                    Some(last) if m.seq > last + 1 => Ok(Some(m)),
                    _ => self.deliver_next(m).map(|()| None),
                };
            }
            other => other,
        };
        match frames::event(kind) {
            Some(f) => {
                if let ServerFrame::RoomClosed { room_id, .. } = &f {
                    self.closed.insert(room_id.clone());
                }
                self.send(&f).map(|()| None)
            }
            None => Ok(None),
        }
    }

    /// The core ended this connection's event stream. If it went away (a
    /// replica stopped or died, or its bus reconnected), subscribe again,
    /// on whichever replica answers, and catch up: the client sees nothing
    /// but the messages it missed, in order. A refused token or a client
    /// too slow to keep up ends the connection instead.
    async fn resubscribe(&mut self, events: &mut Streaming<pb::Event>, why: Option<Status>) -> Step {
        if let Some(status) = &why
            && !matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled | Code::Aborted
            )
        {
            return Err(closing_for(status));
        }
        let mut wait = Duration::from_millis(50);
        for _ in 0..RESUBSCRIBE_TRIES {
            match subscribe(&self.core, &self.token).await {
                Ok((stream, snapshot)) => {
                    *events = stream;
                    metrics::counter!("livechat_ws_resubscribes_total").increment(1);
                    return self.catch_up(snapshot).await;
                }
                Err(status) if matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied) => {
                    return Err(closing_for(&status));
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
        Err(Closing(close::RESTART, "event stream lost; reconnect"))
    }

    /// After a new subscription: the messages missed in every room already
    /// shown, the end of rooms that ended meanwhile, and rooms that are new
    /// to this connection (queued, or given to this agent) with their history.
    async fn catch_up(&mut self, snapshot: pb::Snapshot) -> Step {
        let agent = snapshot.role != "visitor";
        for room in snapshot.rooms {
            match self.delivered.get(&room.id).copied() {
                Some(last) => self.fill_gap(&room.id, last, u64::MAX).await?,
                None => {
                    if agent && room.status == pb::RoomStatus::Queued as i32 {
                        self.send(&ServerFrame::RoomQueued { room: room.clone().into() })?;
                    }
                    self.send_history(&room.id).await?;
                }
            }
            self.tell_if_ended(&room)?;
        }
        Ok(())
    }

    /// Delivers the stored messages with `after < seq < before`, page by page.
    async fn fill_gap(&mut self, room_id: &str, mut after: u64, before: u64) -> Step {
        while after + 1 < before {
            let req = pb::ListMessagesRequest {
                room_id: room_id.into(),
                before_seq: None,
                after_seq: Some(after),
                limit: Some((before - after).min(MAX_PAGE) as u32),
            };
            let Ok(page) = self.call_history(req).await else { return Ok(()) };
            for missed in page.messages.into_iter().filter(|x| x.seq < before) {
                after = missed.seq;
                self.delivered.insert(missed.room_id.clone(), missed.seq);
                self.send(&ServerFrame::Message { message: missed.into() })?;
            }
            if !page.has_more {
                break;
            }
        }
        Ok(())
    }

    /// Delivers a message that `on_event` found past a gap: the missed
    /// ones from history first, so the connection sees each once, in order.
    async fn deliver_after_gap(&mut self, m: pb::Message) -> Step {
        let last = self.delivered.get(&m.room_id).copied().unwrap_or(0);
        self.fill_gap(&m.room_id, last, m.seq).await?;
        self.deliver_next(m)
    }

    /// Sends the message that follows the last one delivered in its room.
    fn deliver_next(&mut self, m: pb::Message) -> Step {
        match self.delivered.get_mut(&m.room_id) {
            Some(last) => *last = m.seq,
            None => {
                self.delivered.insert(m.room_id.clone(), m.seq);
            }
        }
        self.send(&ServerFrame::Message { message: m.into() })
    }
}
