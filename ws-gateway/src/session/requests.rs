//! Client requests: each text frame is parsed and becomes one core call,
//! answered by an `ack` or an `error` with the frame's `req_id`. A frame
//! that cannot be understood gets an `invalid` error; the connection stays
//! open either way. Sends run beside the session (`sends`); every other
//! call is made in turn, once the sends before it were answered.

use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use livechat_proto::client::{CoreClient, authed};
use livechat_proto::{json, v1 as pb};
use tonic::Status;

use tokio::time::Instant;

use super::close;
use super::flood::{Costly, Verdict};
use super::sends::Answered;
use super::socket::{Closing, Session, Step, panicked};
use crate::frames::{self, AckResult, ClientFrame, ServerFrame};

impl Session {
    pub async fn on_text(&mut self, text: &str) -> Step {
        let (req_id, frame) = match frames::parse(text) {
            Ok(parsed) => parsed,
            Err(bad) => return self.send(&ServerFrame::invalid(bad.req_id, bad.message)),
        };
        if let ClientFrame::Ping {} = frame {
            return self.send(&ServerFrame::Pong { req_id });
        }
        let costly = match &frame {
            ClientFrame::Send { .. } => Some(Costly::Message),
            ClientFrame::Typing { .. } => Some(Costly::Typing),
            _ => None,
        };
        if let Some(kind) = costly {
            match self.budgets.spend(kind, Instant::now()) {
                Verdict::Go => {}
                Verdict::Wait(wait) => {
                    metrics::counter!("livechat_ws_rate_limited_total", "frame" => kind.as_str())
                        .increment(1);
                    return self.send(&ServerFrame::rate_limited(req_id, wait));
                }
                Verdict::Flooding => {
                    metrics::counter!("livechat_ws_flood_disconnects_total").increment(1);
                    return Err(Closing(close::POLICY, "too many frames; slow down"));
                }
            }
        }
        // A send goes on beside what comes next (`sends`); anything else
        // waits for the sends before it to be answered.
        if let ClientFrame::Send { room_id, .. } = &frame {
            let room_id = room_id.clone();
            let (core, token) = (self.core.clone(), self.token.clone());
            let call = AssertUnwindSafe(async move { call_with_retry(&core, &token, frame).await })
                .catch_unwind()
                .map({
                    let room_id = room_id.clone();
                    move |caught| Answered { req_id, room_id, result: caught.map_err(|_| panicked()) }
                });
            self.sends.start(room_id, Box::pin(call));
            return Ok(());
        }
        self.finish_sends().await?;
        let accepted_room = match &frame {
            ClientFrame::Accept { room_id } => Some(room_id.clone()),
            _ => None,
        };
        let typing = match &frame {
            ClientFrame::Typing { room_id, typing } => Some((room_id.clone(), *typing)),
            _ => None,
        };
        match call_with_retry(&self.core, &self.token, frame).await {
            Ok(fields) => {
                if let Some((room_id, typing)) = typing {
                    self.typed(&room_id, typing);
                }
                self.send(&ServerFrame::ack(req_id, fields))?;
                match accepted_room {
                    Some(room_id) => self.send_history(&room_id).await,
                    None => Ok(()),
                }
            }
            Err(status) => self.send(&ServerFrame::error(req_id, &status)),
        }
    }

    /// Waits for every send in flight to be answered, and answers the client.
    pub async fn finish_sends(&mut self) -> Step {
        while let Some(answered) = self.sends.next().await {
            self.answered(answered)?;
        }
        Ok(())
    }

    /// A send's ack (which also ends its sender's typing there, as a
    /// `typing: false` does) or error.
    pub fn answered(&mut self, a: Answered) -> Step {
        match a.result? {
            Ok(fields) => {
                self.typed(&a.room_id, false);
                self.send(&ServerFrame::ack(a.req_id, fields))
            }
            Err(status) => self.send(&ServerFrame::error(a.req_id, &status)),
        }
    }
}

/// `call`, once more when the first try failed on the way and the frame is
/// safe to repeat (a read, a typing flag, a send that carries its
/// `client_id`). A call that certainly never reached a core is already
/// tried again by the transport (`CoreClient`), whatever it is.
async fn call_with_retry(core: &CoreClient, token: &str, frame: ClientFrame) -> Result<AckResult, Status> {
    let repeatable = match &frame {
        ClientFrame::History { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::Team {}
        | ClientFrame::Visitor { .. }
        | ClientFrame::Notes { .. }
        | ClientFrame::Presence { .. }
        | ClientFrame::Ping {} => true,
        ClientFrame::Send { client_id, .. } => client_id.is_some(),
        _ => false,
    };
    match call(core, token, frame.clone()).await {
        Err(status)
            if repeatable && status.code() == tonic::Code::Unavailable && status.details().is_empty() =>
        {
            metrics::counter!("livechat_ws_core_retries_total").increment(1);
            call(core, token, frame).await
        }
        other => other,
    }
}

/// One client frame as one core call; what its ack carries.
async fn call(core: &CoreClient, t: &str, frame: ClientFrame) -> Result<AckResult, Status> {
    let room = |r: pb::Room| AckResult::Room { room: r.into() };
    Ok(match frame {
        ClientFrame::Accept { room_id } => {
            room(core.rooms().accept_room(authed(pb::RoomRequest { room_id }, t, None)?).await?.into_inner())
        }
        ClientFrame::Decline { room_id } => {
            core.rooms().decline_room(authed(pb::RoomRequest { room_id }, t, None)?).await?;
            AckResult::Nothing {}
        }
        ClientFrame::Send { room_id, content, client_id } => {
            let req = pb::SendMessageRequest { room_id, content, client_id };
            let r = core.send_message(authed(req, t, None)?).await?;
            let m = r.message.ok_or_else(|| Status::internal("no message"))?;
            AckResult::Message { message: m.into() }
        }
        ClientFrame::Typing { room_id, typing } => {
            core.set_typing(authed(pb::SetTypingRequest { room_id, typing }, t, None)?).await?;
            AckResult::Nothing {}
        }
        ClientFrame::History { room_id, before_seq, after_seq, limit } => {
            let req = pb::ListMessagesRequest { room_id, before_seq, after_seq, limit };
            let page = core.list_messages(authed(req, t, None)?).await?;
            AckResult::History {
                messages: page.messages.into_iter().map(json::Message::from).collect(),
                has_more: page.has_more,
            }
        }
        ClientFrame::Close { room_id, message } => room(
            core.rooms()
                .close_room(authed(pb::CloseRoomRequest { room_id, message }, t, None)?)
                .await?
                .into_inner(),
        ),
        ClientFrame::Transfer { room_id, agent_id } => {
            let req = pb::TransferRoomRequest { room_id, agent_id };
            room(core.rooms().transfer_room(authed(req, t, None)?).await?.into_inner())
        }
        ClientFrame::Presence { status } => {
            let req = pb::SetAvailabilityRequest { status: pb::AgentStatus::from(status) as i32 };
            let me = core.team().set_availability(authed(req, t, None)?).await?.into_inner();
            AckResult::Agent { agent: me.into() }
        }
        ClientFrame::Team {} => {
            let r = core.team().list_team(authed(pb::ListTeamRequest {}, t, None)?).await?;
            AckResult::Team {
                agents: r.into_inner().agents.into_iter().map(json::TeamMember::from).collect(),
            }
        }
        ClientFrame::Visitor { room_id } => {
            let r = core.rooms().get_visitor(authed(pb::GetRoomRequest { room_id }, t, None)?).await?;
            AckResult::Visitor { visitor: r.into_inner().into() }
        }
        ClientFrame::Note { room_id, content } => {
            let req = authed(pb::AddNoteRequest { room_id, content }, t, None)?;
            AckResult::Note { note: core.messages().add_note(req).await?.into_inner().into() }
        }
        ClientFrame::Notes { room_id } => {
            let req = authed(pb::ListNotesRequest { room_id }, t, None)?;
            let notes = core.messages().list_notes(req).await?.into_inner().notes;
            AckResult::Notes { notes: notes.into_iter().map(json::Note::from).collect() }
        }
        ClientFrame::Rate { room_id, score, comment } => {
            let req = authed(pb::RateRoomRequest { room_id, score, comment }, t, None)?;
            AckResult::Rating { rating: core.rooms().rate_room(req).await?.into_inner().into() }
        }
        ClientFrame::Ping {} => AckResult::Nothing {},
    })
}
