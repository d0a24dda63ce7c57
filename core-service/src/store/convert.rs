//! Rows to domain values. A row that cannot be read back is a bug, reported
//! as an unexpected error, never a panic.

use super::entity::{message, room};
use crate::domain::{Channel, Message, Person, Room, RoomStatus, Sender, SenderKind};
use crate::error::CoreError;

pub(super) fn corrupt(what: &str, value: &str) -> CoreError {
    CoreError::Unexpected(anyhow::anyhow!("stored {what} {value:?} is not valid"))
}

pub(super) fn room(m: room::Model) -> Result<Room, CoreError> {
    let status = RoomStatus::parse(&m.status).ok_or_else(|| corrupt("room status", &m.status))?;
    let channel = Channel::parse(&m.channel).ok_or_else(|| corrupt("channel", &m.channel))?;
    let agent = match (m.agent_id, m.agent_name) {
        (Some(id), Some(name)) => Some(Person { id, name }),
        _ => None,
    };
    Ok(Room {
        id: m.id,
        status,
        channel,
        visitor: Person { id: m.visitor_id, name: m.visitor_name },
        external_id: m.external_id,
        agent,
        subject: m.subject,
        created_at: m.created_at,
        last_message_at: m.last_message_at,
        last_seq: m.last_seq.max(0) as u64,
        end_message: m.end_message,
    })
}

pub(super) fn message(m: message::Model) -> Result<Message, CoreError> {
    let kind = SenderKind::parse(&m.sender_kind).ok_or_else(|| corrupt("sender kind", &m.sender_kind))?;
    Ok(Message {
        id: m.id,
        room_id: m.room_id,
        seq: m.seq.max(0) as u64,
        sender: Sender { kind, id: m.sender_id, name: m.sender_name },
        content: m.content,
        created_at: m.created_at,
        client_id: m.client_id,
    })
}
