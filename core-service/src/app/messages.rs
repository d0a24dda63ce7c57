//! Sending messages, paging history, and typing indicators.

use super::ports::{Appended, NewMessage, Page, SendGuard};
use super::{Core, Principal};
use crate::domain::value::{ClientId, MessageContent};
use crate::domain::{Audience, Event, EventKind, Message, RoomStatus, Sender, SenderKind, new_id};
use crate::error::{CoreError, CoreResult};

/// Largest page of history.
pub const MAX_PAGE: u32 = 500;

impl Core {
    /// Stores a message, then publishes it. Returns the message and whether
    /// it is new (false: the client_id was used before by the same sender).
    pub async fn send(
        &self,
        p: &Principal,
        room_id: &str,
        content: &str,
        client_id: Option<&str>,
    ) -> CoreResult<(Message, bool)> {
        p.check_room_scope(room_id)?;
        let settings = self.settings.get().await?;
        let content = MessageContent::parse(content, settings.max_message_chars)?;
        let client_id = client_id.map(ClientId::parse).transpose()?.map(ClientId::into_inner);
        let person = p.person();
        let (kind, guard) = match p {
            Principal::Visitor(..) => (SenderKind::Visitor, SendGuard::Visitor),
            Principal::Agent(a, _) => (SenderKind::Agent, SendGuard::EngagedAgent(a.id.clone())),
        };
        let sender = Sender { kind, id: person.id, name: person.name };
        // No look-up first: a repeated client_id is caught by the unique
        // index inside the append, which then returns the stored message.
        let client_id_for_retry = client_id.clone();
        let retry_sender = sender.clone();
        let msg = NewMessage {
            id: new_id(),
            sender,
            content: content.into_inner(),
            client_id,
            created_at: self.now_ms(),
        };
        let make = Box::new(|room: &crate::domain::Room, stored: &[Message]| {
            super::rooms::room_messages(Audience::room(room), room, stored)
        });
        let _turn = self.room_order.lock(room_id).await;
        match self.store.append(room_id, guard, msg, make).await? {
            Appended::Stored(message, events) => {
                self.deliver(events).await;
                Ok((message, true))
            }
            Appended::Duplicate(message) => Ok((message, false)),
            Appended::Refused => {
                // A retry after the room ended still gets its stored message.
                if let Some(cid) = &client_id_for_retry
                    && let Some(stored) = self.store.by_client_id(room_id, &retry_sender, cid).await?
                {
                    return Ok((stored, false));
                }
                Err(self.why_refused(p, room_id).await)
            }
        }
    }

    async fn why_refused(&self, p: &Principal, room_id: &str) -> CoreError {
        let room = match self.room(p, room_id).await {
            Ok(room) => room,
            Err(e) => return e,
        };
        if room.status.is_final() {
            return CoreError::Conflict(format!("room is {}", room.status.as_str()));
        }
        match room.status {
            RoomStatus::Queued => CoreError::Conflict("accept the room before writing in it".into()),
            _ => CoreError::forbidden("only the agent engaged in this room may write in it"),
        }
    }

    /// A page of history, oldest first, and whether more exist that way.
    pub async fn history(
        &self,
        p: &Principal,
        room_id: &str,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: Option<u32>,
    ) -> CoreResult<(Vec<Message>, bool)> {
        let limit = match limit {
            Some(l) if (1..=MAX_PAGE).contains(&l) => l,
            Some(_) => {
                return Err(CoreError::invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
            }
            None => self.settings.get().await?.history_load_count,
        } as u64;
        let page = match (before_seq, after_seq) {
            (Some(_), Some(_)) => {
                return Err(CoreError::Invalid(vec![
                    crate::domain::FieldError::new("before_seq", "give before_seq or after_seq, not both"),
                    crate::domain::FieldError::new("after_seq", "give before_seq or after_seq, not both"),
                ]));
            }
            (_, Some(after)) => Page::After { after, limit },
            (before, None) => Page::Before { before, limit },
        };
        self.room(p, room_id).await?;
        self.store.page(room_id, page).await
    }

    /// Relays typing to the other side of the room; nothing is stored. A
    /// `true` lapses by itself unless repeated (`typists`).
    pub async fn typing(&self, p: &Principal, room_id: &str, typing: bool) -> CoreResult<()> {
        let room = self.room(p, room_id).await?;
        if !room.status.accepts_messages() {
            return Err(CoreError::Conflict(format!("room is {}", room.status.as_str())));
        }
        let person = p.person();
        let (kind, audience) = match p {
            Principal::Visitor(..) => (
                SenderKind::Visitor,
                Audience { agents: room.agent.iter().map(|a| a.id.clone()).collect(), ..Default::default() },
            ),
            Principal::Agent(a, _) => {
                if !room.is_engaged_by(&a.id) {
                    return Err(CoreError::forbidden("only the agent engaged in this room may type in it"));
                }
                (SenderKind::Agent, Audience { room_visitor: Some(room.id.clone()), ..Default::default() })
            }
        };
        let from = Sender { kind, id: person.id, name: person.name };
        if typing {
            let ends = EventKind::Typing { room_id: room.id.clone(), from: from.clone(), typing: false };
            self.typists.typed(&room.id, &from.id, self.now_ms(), Event::new(audience.clone(), ends));
        } else {
            self.typists.stopped(&room.id, &from.id);
        }
        self.publish(vec![Event::new(audience, EventKind::Typing { room_id: room.id, from, typing })]).await;
        Ok(())
    }
}
