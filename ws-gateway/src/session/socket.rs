//! The loop of one connection: it waits on shutdown, the idle timer, the
//! ping timer, the core's events and the client's frames, and closes the
//! socket with the code the session ended with (decided here, or in
//! `events` for the event stream's own endings). Frames are written by the
//! loop itself (`Outgoing`): no writer task, channel or wake-up per frame.
//! Generic over the socket's halves and the event stream, so that tests
//! drive it through channels.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures::FutureExt as _;
use futures::future::{Either, poll_fn};
use futures::{Sink, SinkExt, Stream, StreamExt};
use livechat_proto::client::CoreClient;
use livechat_proto::client::EventStream;
use livechat_proto::v1 as pb;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::delivery::Delivery;
use super::flood::Budgets;
use super::sends::Sends;
use super::{SessionConfig, close};
use crate::frames::ServerFrame;

/// Why the session ends, and with which close code (0: none, the socket
/// is already gone).
pub(super) struct Closing(pub u16, pub &'static str);

/// What handling one thing the loop waited on came to: carry on, or end.
pub(super) type Step = Result<(), Closing>;

/// The state a connection keeps while it lives.
pub(super) struct Session {
    pub core: CoreClient,
    /// Shared with the sends in flight.
    pub token: Arc<str>,
    out: Outgoing,
    /// Sends the core has yet to answer.
    pub sends: Sends,
    pub rooms: Delivery,
    pub budgets: Budgets,
    /// The agent this connection belongs to (None for a visitor): a room
    /// given to them comes with its history.
    pub agent_id: Option<String>,
    /// Rooms where this connection said `typing: true` last: when it ends,
    /// the other side is told `typing: false` at once.
    pub typing_in: Vec<String>,
}

/// A connection's events: the core's stream (`Right`, always so after a
/// resubscription: gRPC's, or the core's own in the all-in-one) or, in
/// tests, any stream (`Left`).
pub(super) type Events<Ev> = Either<Ev, EventStream>;

/// Serves a connection until it ends. `socket` is the two halves of a split
/// WebSocket; `events` the subscription whose snapshot is `snapshot`.
pub(super) async fn serve<W, R, E, Ev>(
    socket: (W, R),
    mut events: Events<Ev>,
    core: CoreClient,
    token: String,
    snapshot: pb::Snapshot,
    cfg: SessionConfig,
    shutdown: CancellationToken,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
    Ev: Stream<Item = Result<pb::Event, Status>> + Unpin,
{
    metrics::gauge!("livechat_ws_connections").increment(1.0);
    let (mut sink, mut stream) = socket;
    let budgets = Budgets::new(cfg.limits, Instant::now());
    let mut s = Session {
        core,
        token: token.into(),
        out: Outgoing::new(cfg.outbound_queue),
        sends: Sends::default(),
        rooms: Delivery::default(),
        budgets,
        agent_id: None,
        typing_in: Vec::new(),
    };

    // The handlers that call the core are boxed while they run: their
    // futures (a whole gRPC call) would otherwise be part of this one,
    // whose size every idle connection pays for as long as it lives. They
    // are also where a panic could come from (in the all-in-one, the
    // core's handlers run in them): `guarded` makes one end this connection
    // alone, with 1011.
    let end = match guarded(s.open(snapshot)).await {
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
                    _ = ping.tick() => match s.out.stalled_for() {
                        Some(stalled) if stalled >= cfg.write_timeout => Err(Closing(0, "write timed out")),
                        _ => s.push(Message::Ping(Default::default())),
                    },
                    // Frames go out before more work is taken on; while
                    // the socket is not ready, the loop serves the rest.
                    written = s.out.write_to(&mut sink), if s.out.has_work() => written,
                    ev = events.next() => match ev {
                        Some(Ok(event)) => match s.on_event(event) {
                            Ok(Some(next)) => guarded(s.follow_up(next)).await,
                            Ok(None) => Ok(()),
                            Err(c) => Err(c),
                        },
                        // The stream ended (None) or failed (an error).
                        ended => match guarded(s.resubscribe(ended.and_then(Result::err))).await {
                            Ok(stream) => {
                                events = Either::Right(stream);
                                Ok(())
                            }
                            Err(c) => Err(c),
                        },
                    },
                    answered = s.sends.next(), if !s.sends.is_empty() => match answered {
                        Some(a) => s.answered(a),
                        None => Ok(()),
                    },
                    // A client with as many sends unanswered as it may
                    // have waits (in TCP) until one is answered.
                    frame = stream.next(), if s.sends.has_room() => {
                        idle.as_mut().reset(Instant::now() + cfg.idle_after);
                        guarded(s.on_client(frame)).await
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
    // Sends the core is storing are seen through, and answered if the
    // client is still there: a call dropped halfway could store a message
    // whose events nobody delivers. Those not started are dropped with a
    // client that is gone.
    if end.0 == 0 {
        s.sends.drop_waiting();
    }
    while let Some(answered) = s.sends.next().await {
        let _ = s.answered(answered);
    }
    s.stop_typing();
    // What is queued goes out, then the close frame: unless the queue is
    // what ended the session (a client not reading), or the socket is gone.
    if end.0 != 0 && !s.out.is_full() {
        let frame = CloseFrame { code: end.0, reason: Utf8Bytes::from_static(end.1) };
        s.out.frames.push_back(Message::Close(Some(frame)));
        if tokio::time::timeout(cfg.write_timeout, s.out.write_to(&mut sink)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
    }
    drop(s);
    metrics::gauge!("livechat_ws_connections").decrement(1.0);
}

/// Boxes one of the session's handlers (so that its state is not part of
/// every idle connection: only this box's pointer is) and turns a panic in
/// it into a 1011 close of this connection. A plain function, not an
/// `async fn`: the latter would keep the unboxed handler in its own state.
fn guarded<'a, T: 'a>(
    work: impl Future<Output = Result<T, Closing>> + 'a,
) -> Pin<Box<impl Future<Output = Result<T, Closing>> + 'a>> {
    Box::pin(AssertUnwindSafe(work).catch_unwind().map(|caught| caught.unwrap_or_else(|_| Err(panicked()))))
}

/// How a session ends after a panic in one of its handlers or calls.
pub(super) fn panicked() -> Closing {
    metrics::counter!("livechat_ws_panics_total").increment(1);
    tracing::error!("a WebSocket session panicked; closing it with 1011");
    Closing(close::INTERNAL, "internal error")
}

/// The frames a connection has yet to write, in order, written from the
/// session's own task. Empty, it holds no memory: an idle connection pays
/// for no queue.
struct Outgoing {
    frames: VecDeque<Message>,
    /// Frames waiting for a slow client before it is disconnected.
    limit: usize,
    /// Frames handed to the socket but not yet flushed.
    unflushed: bool,
    /// When the socket last had nothing waiting: how long a write has
    /// been stuck.
    since: Option<Instant>,
}

/// Queue capacity kept after a burst is written out.
const KEPT_CAPACITY: usize = 4;

impl Outgoing {
    fn new(limit: usize) -> Self {
        Self { frames: VecDeque::new(), limit, unflushed: false, since: None }
    }

    fn has_work(&self) -> bool {
        self.unflushed || !self.frames.is_empty()
    }

    /// How long frames have been waiting for the socket, if they are.
    fn stalled_for(&self) -> Option<Duration> {
        self.since.map(|t| t.elapsed())
    }

    /// As many frames wait as a client may leave unread.
    fn is_full(&self) -> bool {
        self.frames.len() >= self.limit
    }

    fn push(&mut self, msg: Message) -> Step {
        if self.is_full() {
            metrics::counter!("livechat_ws_slow_disconnects_total").increment(1);
            return Err(Closing(close::TRY_LATER, "too slow; reconnect and catch up with history"));
        }
        if self.since.is_none() {
            self.since = Some(Instant::now());
        }
        self.frames.push_back(msg);
        Ok(())
    }

    /// Hands every queued frame to the socket and flushes them in one
    /// write: an ack and the events that came with it are one syscall.
    /// Cancel-safe: a frame leaves the queue only when the socket took it.
    async fn write_to<W: Sink<Message> + Unpin>(&mut self, sink: &mut W) -> Step {
        let gone = |_| Closing(0, "write failed");
        while !self.frames.is_empty() {
            poll_fn(|cx| sink.poll_ready_unpin(cx)).await.map_err(gone)?;
            let frame = self.frames.pop_front().expect("checked: not empty");
            self.unflushed = true;
            sink.start_send_unpin(frame).map_err(gone)?;
        }
        poll_fn(|cx| sink.poll_flush_unpin(cx)).await.map_err(gone)?;
        self.unflushed = false;
        self.since = None;
        if self.frames.capacity() > KEPT_CAPACITY {
            self.frames.shrink_to(KEPT_CAPACITY);
        }
        Ok(())
    }
}

/// The close a failed read deserves, from tungstenite's error wherever it
/// is in the chain of sources (axum wraps it): a frame or message over the
/// size limit is 1009 (docs/protocol.md), a text frame that is not UTF-8 is
/// 1007 (RFC 6455 7.4.1); anything else means the socket is gone (none).
fn closing_for_read_error(e: &(dyn std::error::Error + 'static)) -> Closing {
    let tungstenite = std::iter::successors(Some(e), |e| e.source()).find_map(|e| e.downcast_ref());
    match tungstenite {
        Some(tungstenite::Error::Capacity(_)) => Closing(close::TOO_BIG, "frame too large"),
        Some(tungstenite::Error::Utf8(_)) => Closing(close::INVALID_DATA, "text frames must be UTF-8"),
        _ => Closing(0, "read error"),
    }
}

impl Session {
    /// The connection ends while its person was typing: tell the other
    /// side now rather than when the indicator lapses.
    fn stop_typing(&mut self) {
        for room_id in std::mem::take(&mut self.typing_in) {
            let (core, token) = (self.core.clone(), self.token.clone());
            tokio::spawn(async move {
                let req = pb::SetTypingRequest { room_id, typing: false };
                if let Ok(req) = livechat_proto::client::authed(req, &token, None) {
                    let _ = core.set_typing(req).await;
                }
            });
        }
    }

    /// Keeps `typing_in` in step with what the client said.
    pub fn typed(&mut self, room_id: &str, typing: bool) {
        self.typing_in.retain(|r| r != room_id);
        if typing {
            self.typing_in.push(room_id.to_string());
        }
    }

    /// Queues a frame; a full queue means the client is not keeping up.
    pub fn push(&mut self, msg: Message) -> Step {
        self.out.push(msg)
    }

    pub fn send(&mut self, f: &ServerFrame) -> Step {
        self.push(Message::Text(f.to_json().into()))
    }

    async fn on_client<E>(&mut self, frame: Option<Result<Message, E>>) -> Step
    where
        E: std::error::Error + 'static,
    {
        let msg = match frame {
            None => return Err(Closing(0, "client left")),
            Some(Err(e)) => return Err(closing_for_read_error(&e)),
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
}

#[cfg(test)]
mod tests;
