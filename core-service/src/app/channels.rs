//! Customers writing from their messengers, through the channel adapters:
//! each message finds the customer's open room or opens a queued one, once
//! per platform message id however often it is delivered; and an adapter's
//! report that a reply did not reach the customer becomes a note for the
//! agent in the room. In the all-in-one, the adapters' outbound messages
//! wait in the outbox (`pending_outbound`) until the platform took them.

use super::Core;
use super::ports::{Appended, NewMessage, SendGuard};
use super::rooms::{CreateRoom, system_message};
use crate::domain::{Audience, Channel, Sender, SenderKind, inbound, new_id, outbound};
use crate::error::{CoreError, CoreResult};

/// How often a message chases a room that changes under it (opened or
/// closed by another replica at the same moment) before giving up.
const ATTEMPTS: usize = 4;

/// A customer's message as the adapter normalised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub channel: Channel,
    pub external_id: String,
    pub display_name: String,
    pub text: String,
    pub platform_message_id: String,
}

/// What became of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored (in a room opened for it, or the customer's open room).
    Stored,
    /// A redelivery: it was stored before.
    AlreadyStored,
}

/// An adapter's report that a message did not reach the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub channel: Channel,
    pub room_id: String,
    pub seq: u64,
    pub reason: String,
    /// Refused for good (true), or given up on after retries (false).
    pub permanent: bool,
}

impl Core {
    /// Stores a customer's message: in their queued or engaged room, or as
    /// the first message of a new queued room. Idempotent per platform
    /// message id while the room is open.
    pub async fn receive_inbound(&self, msg: InboundMessage) -> CoreResult<Received> {
        if msg.channel == Channel::Web {
            return Err(CoreError::invalid("channel", "must be a messenger channel"));
        }
        let external_id = msg.external_id.trim();
        if external_id.is_empty()
            || external_id.chars().count() > 128
            || external_id.chars().any(char::is_control)
        {
            return Err(CoreError::invalid("external_user_id", "must be 1 to 128 printable characters"));
        }
        if msg.platform_message_id.is_empty() {
            return Err(CoreError::invalid("platform_message_id", "must not be empty"));
        }
        let settings = self.settings.get().await?;
        let parts = inbound::message_parts(&msg.text, settings.max_message_chars);
        for _ in 0..ATTEMPTS {
            match self.store.open_channel_room(msg.channel, external_id).await? {
                Some(room) => {
                    let visitor = Sender {
                        kind: SenderKind::Visitor,
                        id: room.visitor.id.clone(),
                        name: room.visitor.name.clone(),
                    };
                    if let Some(received) = self.append_parts(&room.id, &visitor, &msg, &parts).await? {
                        return Ok(received);
                    }
                    // The room ended meanwhile: the message opens the next one.
                }
                None => {
                    // A redelivery that arrives after its room ended must
                    // not open a room of its own.
                    let key = inbound::client_id(msg.channel, &msg.platform_message_id, 0);
                    if self.store.customer_wrote(msg.channel, external_id, &key).await? {
                        return Ok(Received::AlreadyStored);
                    }
                    let first = parts.first().cloned();
                    let opened = self
                        .open_room(CreateRoom {
                            name: inbound::customer_name(&msg.display_name, external_id),
                            email: None,
                            offline_message: false,
                            message: first,
                            channel: Some(msg.channel),
                            external_id: Some(external_id.to_string()),
                            visitor_address: None,
                            first_client_id: Some(inbound::client_id(
                                msg.channel,
                                &msg.platform_message_id,
                                0,
                            )),
                        })
                        .await;
                    match opened {
                        Ok(created) => {
                            let visitor = Sender {
                                kind: SenderKind::Visitor,
                                id: created.room.visitor.id.clone(),
                                name: created.room.visitor.name.clone(),
                            };
                            if parts.len() > 1 {
                                self.append_parts(&created.room.id, &visitor, &msg, &parts).await?;
                            }
                            return Ok(Received::Stored);
                        }
                        // Another replica opened the customer's room first.
                        Err(CoreError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(CoreError::Unavailable("the customer's room kept changing; try again".into()))
    }

    /// Appends every part not stored yet. None when the room no longer
    /// takes messages.
    async fn append_parts(
        &self,
        room_id: &str,
        visitor: &Sender,
        msg: &InboundMessage,
        parts: &[String],
    ) -> CoreResult<Option<Received>> {
        let mut received = Received::AlreadyStored;
        for (index, part) in parts.iter().enumerate() {
            let new = NewMessage {
                id: new_id(),
                sender: visitor.clone(),
                content: part.clone(),
                client_id: Some(inbound::client_id(msg.channel, &msg.platform_message_id, index)),
                created_at: self.now_ms(),
            };
            let make = Box::new(|room: &crate::domain::Room, stored: &[crate::domain::Message]| {
                super::rooms::room_messages(Audience::room(room), room, stored)
            });
            let _turn = self.room_order.lock(room_id).await;
            match self.store.append(room_id, SendGuard::Visitor, new, make).await? {
                Appended::Stored(_, events) => {
                    received = Received::Stored;
                    self.deliver(events).await;
                }
                Appended::Duplicate(_) => {}
                Appended::Refused if index == 0 => return Ok(None),
                // Part of the message is in the room already; the rest
                // would land in another room: keep what is there.
                Appended::Refused => break,
            }
        }
        Ok(Some(received))
    }

    /// Tells the room's agent that a message did not reach the customer.
    /// The note is not sent out (it is about the channel), and is stored
    /// once however often the report is delivered. A room that ended
    /// meanwhile takes no note: the report is only logged.
    pub async fn note_undelivered(&self, report: Undelivered) -> CoreResult<()> {
        let why = if report.permanent { "refused" } else { "gave_up" };
        metrics::counter!("livechat_channel_undelivered_total", "channel" => report.channel.as_str(), "why" => why)
            .increment(1);
        let settings = self.settings.get().await?;
        let text: String = outbound::undelivered_note(report.channel, &report.reason)
            .chars()
            .take(settings.max_message_chars as usize)
            .collect();
        let mut note = system_message(text, self.now_ms());
        note.client_id = Some(format!("undelivered:{}", report.seq));
        let make = Box::new(|room: &crate::domain::Room, stored: &[crate::domain::Message]| {
            super::rooms::message_events(Audience::room(room), stored)
        });
        let _turn = self.room_order.lock(&report.room_id).await;
        match self.store.append(&report.room_id, SendGuard::Visitor, note, make).await? {
            Appended::Stored(_, events) => self.deliver(events).await,
            Appended::Duplicate(_) => {}
            Appended::Refused => {
                tracing::info!(room = %report.room_id, seq = report.seq, reason = %report.reason,
                    "a message of an ended room did not reach its customer");
            }
        }
        Ok(())
    }

    /// The all-in-one's channel adapters: the oldest `limit` outbound
    /// messages for `channel`, with their outbox ids, as sealed envelopes.
    /// In seq order per room: a room's messages are recorded in order, each
    /// under the room's turn.
    pub async fn pending_outbound(&self, channel: Channel, limit: u64) -> CoreResult<Vec<(i64, Vec<u8>)>> {
        let key = livechat_proto::bus::queues::outbound_routing_key(channel.as_str());
        self.store.pending_outbound(&key, limit).await
    }

    /// Forgets an outbound message the platform took.
    pub async fn forget_outbound(&self, id: i64) -> CoreResult<()> {
        self.store.forget_events(&[id]).await
    }

    /// Keeps an outbound message the adapter gave up on aside, with why
    /// (the all-in-one has no broker to dead-letter it to).
    pub async fn keep_dead_outbound(&self, id: i64, reason: &str) -> CoreResult<()> {
        self.store.keep_dead_letter(id, reason).await
    }

    /// Wakes the all-in-one's adapters when outbound messages were stored.
    pub fn outbound_stored(&self) -> &tokio::sync::Notify {
        &self.outbound_wakeup
    }
}
