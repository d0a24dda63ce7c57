//! What a channel room sends back to its customer: every agent and system
//! message (joins, leaves, the close text), in seq order, through the
//! channel's adapter. The customer's own messages are not echoed, and a
//! note about a failed delivery stays in the room (`undelivered_note`).

use super::{Audience, Channel, Event, EventKind, Message, Room, SenderKind};

/// The outbound events for messages just stored in `room`: none for a web
/// room or for the customer's own messages.
pub fn events(room: &Room, messages: &[Message]) -> Vec<Event> {
    let Some(external_id) = room.external_id.as_ref().filter(|_| room.channel != Channel::Web) else {
        return Vec::new();
    };
    messages
        .iter()
        .filter(|m| m.sender.kind != SenderKind::Visitor)
        .map(|m| {
            Event::new(
                Audience::default(),
                EventKind::Outbound {
                    channel: room.channel,
                    external_id: external_id.clone(),
                    message: m.clone(),
                },
            )
        })
        .collect()
}

/// What the agent reads when a message did not reach the customer.
pub fn undelivered_note(channel: Channel, reason: &str) -> String {
    format!("Not delivered to {}: {reason}", channel.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Person, RoomStatus, Sender};

    fn room(channel: Channel, external_id: Option<&str>) -> Room {
        Room {
            id: "r-1".into(),
            status: RoomStatus::Engaged,
            channel,
            visitor: Person { id: "v-1".into(), name: "Ana".into() },
            external_id: external_id.map(Into::into),
            agent: None,
            subject: None,
            created_at: 0,
            last_message_at: 0,
            last_seq: 3,
            end_message: None,
        }
    }

    fn message(seq: u64, kind: SenderKind) -> Message {
        Message {
            id: format!("m-{seq}"),
            room_id: "r-1".into(),
            seq,
            sender: Sender { kind, id: "x".into(), name: "X".into() },
            content: "hi".into(),
            created_at: 0,
            client_id: None,
        }
    }

    #[test]
    fn agent_and_system_messages_of_a_channel_room_go_out_in_order() {
        let stored =
            [message(1, SenderKind::Visitor), message(2, SenderKind::System), message(3, SenderKind::Agent)];
        let out = events(&room(Channel::Telegram, Some("42")), &stored);
        let seqs: Vec<u64> = out
            .iter()
            .map(|e| match &e.kind {
                EventKind::Outbound { channel: Channel::Telegram, external_id, message }
                    if external_id == "42" =>
                {
                    message.seq
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(seqs, [2, 3]);
        assert!(out.iter().all(|e| e.audience == Audience::default()), "no client sees them");
    }

    #[test]
    fn a_web_room_sends_nothing_out() {
        assert!(events(&room(Channel::Web, None), &[message(1, SenderKind::Agent)]).is_empty());
        assert!(events(&room(Channel::Telegram, None), &[message(1, SenderKind::Agent)]).is_empty());
    }

    #[test]
    fn the_note_names_the_channel_and_the_reason() {
        assert_eq!(
            undelivered_note(Channel::Messenger, "outside the 24-hour window"),
            "Not delivered to messenger: outside the 24-hour window"
        );
    }
}
