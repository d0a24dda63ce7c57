//! What a connection is shown from the core: the opening frames (welcome,
//! ended rooms, a history frame per room), live events as frames, gaps
//! filled from history, and a new subscription when the core's stream
//! ends. `delivery` decides; this module calls the core and sends.

use std::time::Duration;

use livechat_proto::client::EventStream;
use livechat_proto::client::authed;
use livechat_proto::{json, v1 as pb};
use tonic::{Code, Status};

use super::delivery::{CatchUp, Gap, Verdict};
use super::socket::{Closing, Session, Step};
use super::{close, subscribe};
use crate::frames::{self, ServerFrame};

/// Attempts to subscribe again (about 6 s with backoff) before the client
/// is told to reconnect.
const RESUBSCRIBE_TRIES: usize = 10;

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

/// What a live event leaves to do once the core has been asked.
pub enum FollowUp {
    /// Send the missed messages from history, then this one.
    FillGap(Gap, pb::Message),
    /// Send the room's history frame.
    History(String),
}

impl Session {
    /// welcome, then (visitor whose room ended) room_closed, then a history
    /// frame per room.
    pub async fn open(&mut self, snapshot: pb::Snapshot) -> Step {
        let rooms = snapshot.rooms.clone();
        let visitor = snapshot.role == "visitor";
        if !visitor {
            self.agent_id = snapshot.user.as_ref().map(|u| u.id.clone());
        }
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
        let Some(reason) = self.rooms.tell_ended(&room.id, room.status) else { return Ok(()) };
        self.send(&ServerFrame::RoomClosed {
            room_id: room.id.clone(),
            reason: reason.into(),
            message: room.end_message.clone().unwrap_or_default(),
        })
    }

    /// The last history_load_count messages as a `history` frame.
    pub async fn send_history(&mut self, room_id: &str) -> Step {
        let req = pb::ListMessagesRequest {
            room_id: room_id.into(),
            before_seq: None,
            after_seq: None,
            limit: None,
        };
        match self.call_history(req).await {
            Ok(page) => {
                self.rooms.history_shown(room_id, page.messages.last().map(|m| m.seq));
                self.send(&ServerFrame::History {
                    room_id: room_id.into(),
                    messages: page.messages.into_iter().map(json::Message::from).collect(),
                    has_more: page.has_more,
                })
            }
            Err(status) => self.send(&ServerFrame::error(None, &status)),
        }
    }

    /// Owns what it needs, so the session is not borrowed (it is not
    /// `Sync`: its sends in flight are not) while the core answers.
    pub fn call_history(
        &self,
        req: pb::ListMessagesRequest,
    ) -> impl Future<Output = Result<pb::ListMessagesResponse, Status>> + Send + 'static {
        let (core, req) = (self.core.clone(), authed(req, &self.token, None));
        async move { core.list_messages(req?).await }
    }

    /// Handles a live event at once, or returns what has to call the core
    /// first, for `follow_up`: a message that comes after a gap, or a room
    /// just given to this agent, whose history they have not seen.
    pub fn on_event(&mut self, ev: pb::Event) -> Result<Option<FollowUp>, Closing> {
        let Some(kind) = ev.kind else { return Ok(None) };
        let kind = match kind {
            pb::event::Kind::Message(pb::MessageStored { message: Some(m) }) => {
                return match self.rooms.judge(&m.room_id, m.seq) {
                    Verdict::Duplicate => Ok(None),
                    Verdict::FillGapFirst(gap) => Ok(Some(FollowUp::FillGap(gap, m))),
                    Verdict::Deliver => self.deliver_next(m).map(|()| None),
                };
            }
            other => other,
        };
        let given_to_me = match &kind {
            pb::event::Kind::RoomUpdated(pb::RoomUpdated { room: Some(r) }) if self.given_to_me(r) => {
                Some(r.id.clone())
            }
            _ => None,
        };
        match frames::event(kind) {
            Some(f) => {
                if let ServerFrame::RoomClosed { room_id, .. } = &f {
                    self.rooms.told_closed(room_id);
                }
                self.send(&f)?;
                Ok(given_to_me.map(FollowUp::History))
            }
            None => Ok(None),
        }
    }

    /// A room this agent now holds, engaged, whose history this connection
    /// has not shown (a transfer to them, or an accept in another tab).
    fn given_to_me(&self, room: &pb::Room) -> bool {
        room.status == pb::RoomStatus::Engaged as i32
            && room.agent.as_ref().is_some_and(|a| self.agent_id.as_deref() == Some(a.id.as_str()))
            && self.rooms.needs_history(&room.id)
    }

    /// Does what `on_event` left for later.
    pub async fn follow_up(&mut self, next: FollowUp) -> Step {
        match next {
            FollowUp::FillGap(gap, m) => self.deliver_after_gap(gap, m).await,
            FollowUp::History(room_id) => self.send_history(&room_id).await,
        }
    }

    /// The core ended this connection's event stream (`why`: the error, if
    /// it failed). If it went away (a replica stopped or died, or its bus
    /// reconnected), subscribe again, on whichever replica answers, catch
    /// up, and return the new stream: the client sees nothing but the
    /// messages it missed, in order. A refused token or a client too slow
    /// to keep up ends the connection instead.
    pub async fn resubscribe(&mut self, why: Option<Status>) -> Result<EventStream, Closing> {
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
                    metrics::counter!("livechat_ws_resubscribes_total").increment(1);
                    self.catch_up(snapshot).await?;
                    return Ok(stream);
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
            match self.rooms.catch_up(&room.id) {
                CatchUp::Missed(gap) => self.fill_gap(&room.id, gap).await?,
                CatchUp::New => {
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

    /// Delivers the stored messages of a gap, page by page.
    async fn fill_gap(&mut self, room_id: &str, mut gap: Gap) -> Step {
        while let Some((after, limit)) = gap.next_page() {
            let req = pb::ListMessagesRequest {
                room_id: room_id.into(),
                before_seq: None,
                after_seq: Some(after),
                limit: Some(limit),
            };
            let Ok(page) = self.call_history(req).await else { return Ok(()) };
            for missed in page.messages {
                if !gap.wants(missed.seq) {
                    continue;
                }
                gap.filled(missed.seq);
                self.rooms.delivered(&missed.room_id, missed.seq);
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
    async fn deliver_after_gap(&mut self, gap: Gap, m: pb::Message) -> Step {
        self.fill_gap(&m.room_id, gap).await?;
        self.deliver_next(m)
    }

    /// Sends the message that follows the last one delivered in its room.
    fn deliver_next(&mut self, m: pb::Message) -> Step {
        self.rooms.delivered(&m.room_id, m.seq);
        self.send(&ServerFrame::Message { message: m.into() })
    }
}
