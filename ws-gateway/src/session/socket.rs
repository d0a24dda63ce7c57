//! The loop of one connection: it waits on shutdown, the idle timer, the
//! ping timer, the core's events and the client's frames, and closes the
//! socket with the code the session ended with (decided here, or in
//! `events` for the event stream's own endings). Frames go out through a bounded
//! queue to a writer task. Generic over the socket's halves and the event
//! stream, so that tests drive it through channels.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures::FutureExt as _;
use futures::future::Either;
use futures::{Sink, SinkExt, Stream, StreamExt};
use livechat_proto::client::CoreClient;
use livechat_proto::client::EventStream;
use livechat_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::delivery::Delivery;
use super::flood::Budgets;
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
    pub token: String,
    out: mpsc::Sender<Message>,
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
    W: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
    Ev: Stream<Item = Result<pb::Event, Status>> + Unpin,
{
    metrics::gauge!("livechat_ws_connections").increment(1.0);
    let (sink, mut stream) = socket;
    let (out, rx) = mpsc::channel(cfg.outbound_queue);
    let writer = tokio::spawn(write_frames(sink, rx, cfg.write_timeout));
    let budgets = Budgets::new(cfg.limits, Instant::now());
    let mut s = Session {
        core,
        token,
        out,
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
                    _ = ping.tick() => s.push(Message::Ping(Default::default())),
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
                    frame = stream.next() => {
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
    if end.0 != 0 {
        let frame = CloseFrame { code: end.0, reason: Utf8Bytes::from_static(end.1) };
        if s.out.try_send(Message::Close(Some(frame))).is_err() {
            // The queue is full (a stalled client): drop the connection now
            // rather than wait for writes that will not complete.
            writer.abort();
        }
    }
    s.stop_typing();
    drop(s);
    let _ = writer.await;
    metrics::gauge!("livechat_ws_connections").decrement(1.0);
}

/// Boxes one of the session's handlers (so that its state is not part of
/// every idle connection: only this box's pointer is) and turns a panic in
/// it into a 1011 close of this connection. A plain function, not an
/// `async fn`: the latter would keep the unboxed handler in its own state.
fn guarded<'a, T: 'a>(
    work: impl Future<Output = Result<T, Closing>> + 'a,
) -> Pin<Box<impl Future<Output = Result<T, Closing>> + 'a>> {
    Box::pin(AssertUnwindSafe(work).catch_unwind().map(|caught| {
        caught.unwrap_or_else(|_| {
            metrics::counter!("livechat_ws_panics_total").increment(1);
            tracing::error!("a WebSocket session panicked; closing it with 1011");
            Err(Closing(close::INTERNAL, "internal error"))
        })
    }))
}

/// Owns the socket's sending half. Ends on a close frame, a write error,
/// or a write that takes too long (a stalled client).
async fn write_frames<W>(mut sink: W, mut rx: mpsc::Receiver<Message>, write_timeout: Duration)
where
    W: Sink<Message> + Unpin,
{
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
    pub fn push(&self, msg: Message) -> Step {
        match self.out.try_send(msg) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("livechat_ws_slow_disconnects_total").increment(1);
                Err(Closing(close::TRY_LATER, "too slow; reconnect and catch up with history"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closing(0, "gone")),
        }
    }

    pub fn send(&self, f: &ServerFrame) -> Step {
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
