//! Events to and from their bus format, the versioned `BusEnvelope` of
//! proto/livechat/v1/bus.proto: what the outbox keeps and RabbitMQ carries.
//! The domain's own types never leave the process; a replica of another
//! version reads the envelope, not our structs.

use livechat_proto::bus::{self, Refused};
use livechat_proto::v1 as pb;
use pb::bus_envelope::Payload;
use pb::bus_event::Kind;

use crate::app::channels::{InboundMessage, Undelivered};
use crate::domain::{
    Audience, Channel, EndReason, Event, EventKind, Message, Person, Room, Sender, SenderKind,
};

/// An event in its bus format, with the routing key it is published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub routing_key: String,
    pub bytes: Vec<u8>,
}

/// Routing keys say what an event is about, so that bindings could narrow
/// what a replica receives later without changing publishers.
fn routing_key(e: &Event) -> String {
    match &e.kind {
        EventKind::RoomQueued { room } | EventKind::RoomUpdated { room } => format!("room.{}", room.id),
        EventKind::RoomTaken { room_id, .. }
        | EventKind::Typing { room_id, .. }
        | EventKind::RoomClosed { room_id, .. } => format!("room.{room_id}"),
        EventKind::Message { message } => format!("room.{}", message.room_id),
        EventKind::NoteAdded { note } => format!("room.{}", note.room_id),
        EventKind::AgentRevoked { agent_id }
        | EventKind::AgentRightsChanged { agent_id }
        | EventKind::AgentAway { agent_id, .. } => format!("agent.{agent_id}"),
        EventKind::Outbound { channel, .. } => bus::queues::outbound_routing_key(channel.as_str()),
    }
}

/// The envelope of one event: a `BusEvent` for the replicas, or, for a
/// channel room's message to its customer, an `OutboundMessage`.
pub fn seal(e: &Event) -> Sealed {
    let audience = pb::BusAudience {
        room_visitor: e.audience.room_visitor.clone(),
        agents: e.audience.agents.clone(),
        acceptors_except: e.audience.acceptors_except.clone().map(|ids| pb::AgentIds { ids }),
    };
    let kind = match e.kind.clone() {
        EventKind::RoomQueued { room } => Kind::RoomQueued(pb::RoomQueued { room: Some(super::room(room)) }),
        EventKind::RoomTaken { room_id, agent } => {
            Kind::RoomTaken(pb::RoomTaken { room_id, agent: Some(super::person(agent)) })
        }
        EventKind::Message { message } => {
            Kind::Message(pb::MessageStored { message: Some(super::message(message)) })
        }
        EventKind::NoteAdded { note } => Kind::NoteAdded(pb::NoteAdded { note: Some(super::note(note)) }),
        EventKind::Typing { room_id, from, typing } => {
            Kind::Typing(pb::Typing { room_id, from: Some(super::sender(from)), typing })
        }
        EventKind::RoomUpdated { room } => {
            Kind::RoomUpdated(pb::RoomUpdated { room: Some(super::room(room)) })
        }
        EventKind::RoomClosed { room_id, reason, message } => {
            Kind::RoomClosed(pb::RoomClosed { room_id, reason: reason.as_str().into(), message })
        }
        EventKind::AgentRevoked { agent_id } => Kind::AgentRevoked(pb::AgentRevoked { agent_id }),
        EventKind::AgentRightsChanged { agent_id } => {
            Kind::AgentRightsChanged(pb::AgentRightsChanged { agent_id })
        }
        EventKind::AgentAway { agent_id, away } => Kind::AgentAway(pb::AgentAway { agent_id, away }),
        // Not an event for the replicas: the customer's message, on its own.
        EventKind::Outbound { channel, external_id, message } => {
            let outbound = pb::OutboundMessage {
                channel: super::channel(channel).into(),
                room_id: message.room_id.clone(),
                external_user_id: external_id,
                message: Some(super::message(message)),
            };
            let bytes = bus::seal(Payload::Outbound(outbound), None);
            return Sealed { routing_key: routing_key(e), bytes };
        }
    };
    let bytes = bus::seal(Payload::Event(pb::BusEvent { kind: Some(kind) }), Some(audience));
    Sealed { routing_key: routing_key(e), bytes }
}

/// The room a message for a messenger customer belongs to (an outbound
/// envelope, as the outbox keeps it for the adapter or as a dead letter);
/// None for anything else.
pub fn outbound_room(bytes: &[u8]) -> Option<String> {
    match bus::open(bytes).ok()?.payload {
        Some(Payload::Outbound(m)) => Some(m.room_id),
        _ => None,
    }
}

/// What one broker message carries for the replicas. Matched as soon as
/// it is returned, never stored: boxing the event would cost an
/// allocation per event for nothing.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Opened {
    Event(Event),
    /// A relay round's events, each an envelope to `open` on its own (so
    /// that an unreadable one is refused alone).
    Batch(Vec<Vec<u8>>),
}

/// Opens a broker message: one event, or a batch of them.
pub fn open_any(bytes: &[u8]) -> Result<Opened, Refused> {
    let envelope = bus::open(bytes)?;
    match envelope.payload {
        Some(Payload::Batch(batch)) => Ok(Opened::Batch(batch.envelopes)),
        _ => event_of(envelope).map(Opened::Event),
    }
}

/// The event an envelope carries. Anything else (another version, an
/// adapter's message, a batch, a field this build needs but finds empty)
/// is refused.
pub fn open(bytes: &[u8]) -> Result<Event, Refused> {
    event_of(bus::open(bytes)?)
}

fn event_of(envelope: pb::BusEnvelope) -> Result<Event, Refused> {
    let Some(Payload::Event(pb::BusEvent { kind: Some(kind) })) = envelope.payload else {
        return Err(Refused::UnexpectedPayload);
    };
    let audience = envelope.audience.unwrap_or_default();
    let audience = Audience {
        room_visitor: audience.room_visitor,
        agents: audience.agents,
        acceptors_except: audience.acceptors_except.map(|a| a.ids),
    };
    let missing = || Refused::Undecodable("an event lacks a field it needs".into());
    let kind = match kind {
        Kind::RoomQueued(e) => EventKind::RoomQueued { room: room(e.room.ok_or_else(missing)?)? },
        Kind::RoomTaken(e) => {
            EventKind::RoomTaken { room_id: e.room_id, agent: person(e.agent.ok_or_else(missing)?) }
        }
        Kind::Message(e) => EventKind::Message { message: message(e.message.ok_or_else(missing)?)? },
        Kind::NoteAdded(e) => {
            let n = e.note.ok_or_else(missing)?;
            EventKind::NoteAdded {
                note: crate::domain::Note {
                    id: n.id,
                    room_id: n.room_id,
                    author: person(n.author.ok_or_else(missing)?),
                    content: n.content,
                    created_at: n.created_at_ms,
                    after_seq: n.after_seq,
                },
            }
        }
        Kind::Typing(e) => EventKind::Typing {
            room_id: e.room_id,
            from: sender(e.from.ok_or_else(missing)?)?,
            typing: e.typing,
        },
        Kind::RoomUpdated(e) => EventKind::RoomUpdated { room: room(e.room.ok_or_else(missing)?)? },
        Kind::RoomClosed(e) => EventKind::RoomClosed {
            room_id: e.room_id,
            reason: match e.reason.as_str() {
                "closed" => EndReason::Closed,
                "expired" => EndReason::Expired,
                other => return Err(Refused::Undecodable(format!("unknown end reason {other:?}"))),
            },
            message: e.message,
        },
        Kind::AgentRevoked(e) => EventKind::AgentRevoked { agent_id: e.agent_id },
        Kind::AgentRightsChanged(e) => EventKind::AgentRightsChanged { agent_id: e.agent_id },
        Kind::AgentAway(e) => EventKind::AgentAway { agent_id: e.agent_id, away: e.away },
    };
    Ok(Event::new(audience, kind))
}

/// What a channel adapter puts on the inbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromAdapter {
    /// A customer wrote.
    Message(InboundMessage),
    /// A reply did not reach its customer.
    Undelivered(Undelivered),
}

/// Opens an envelope from the inbound queue. A web channel, an unknown
/// channel or an event is refused (it was never meant for this queue).
pub fn open_from_adapter(bytes: &[u8]) -> Result<FromAdapter, Refused> {
    let channel = |raw: i32| match super::channel_from(raw) {
        Some(c) if c != Channel::Web => Ok(c),
        _ => Err(Refused::Undecodable(format!("channel {raw} is not a messenger"))),
    };
    match bus::open(bytes)?.payload {
        Some(Payload::Inbound(m)) => Ok(FromAdapter::Message(InboundMessage {
            channel: channel(m.channel)?,
            external_id: m.external_user_id,
            display_name: m.display_name,
            text: m.text,
            platform_message_id: m.platform_message_id,
        })),
        Some(Payload::DeliveryFailed(f)) => Ok(FromAdapter::Undelivered(Undelivered {
            channel: channel(f.channel)?,
            room_id: f.room_id,
            seq: f.seq,
            reason: f.reason,
            permanent: f.permanent,
        })),
        _ => Err(Refused::UnexpectedPayload),
    }
}

fn person(p: pb::Person) -> Person {
    Person { id: p.id, name: p.name }
}

fn room(r: pb::Room) -> Result<Room, Refused> {
    let unknown = |what: &str, n: i32| Refused::Undecodable(format!("unknown {what} {n}"));
    Ok(Room {
        status: super::status_from(r.status).ok_or_else(|| unknown("room status", r.status))?,
        channel: super::channel_from(r.channel).ok_or_else(|| unknown("channel", r.channel))?,
        visitor: person(r.visitor.ok_or_else(|| Refused::Undecodable("a room without visitor".into()))?),
        id: r.id,
        // The customer's address stays in the core (see OutboundMessage).
        external_id: None,
        agent: r.agent.map(person),
        subject: r.subject,
        created_at: r.created_at_ms,
        last_message_at: r.last_message_at_ms,
        last_seq: r.last_seq,
        end_message: r.end_message,
    })
}

fn sender(s: pb::Sender) -> Result<Sender, Refused> {
    let kind = match pb::SenderKind::try_from(s.kind) {
        Ok(pb::SenderKind::Visitor) => SenderKind::Visitor,
        Ok(pb::SenderKind::Agent) => SenderKind::Agent,
        Ok(pb::SenderKind::System) => SenderKind::System,
        _ => return Err(Refused::Undecodable(format!("unknown sender kind {}", s.kind))),
    };
    Ok(Sender { kind, id: s.id, name: s.name })
}

fn message(m: pb::Message) -> Result<Message, Refused> {
    Ok(Message {
        sender: sender(m.sender.ok_or_else(|| Refused::Undecodable("a message without sender".into()))?)?,
        id: m.id,
        room_id: m.room_id,
        seq: m.seq,
        content: m.content,
        created_at: m.created_at_ms,
        client_id: m.client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, RoomStatus};
    use prost::Message as _;

    fn a_room() -> Room {
        Room {
            id: "r-1".into(),
            status: RoomStatus::Engaged,
            channel: Channel::Telegram,
            visitor: Person { id: "v-1".into(), name: "Ana".into() },
            external_id: None,
            agent: Some(Person { id: "a-1".into(), name: "Bea".into() }),
            subject: Some("my order".into()),
            created_at: 1_000,
            last_message_at: 2_000,
            last_seq: 3,
            end_message: None,
        }
    }

    fn every_kind() -> Vec<Event> {
        let message = Message {
            id: "m-1".into(),
            room_id: "r-1".into(),
            seq: 3,
            sender: Sender { kind: SenderKind::Agent, id: "a-1".into(), name: "Bea".into() },
            content: "Hello 👋".into(),
            created_at: 2_000,
            client_id: Some("c-1".into()),
        };
        let room_audience = Audience::room(&a_room());
        vec![
            Event::new(Audience::acceptors(vec!["a-2".into()]), EventKind::RoomQueued { room: a_room() }),
            Event::new(
                Audience::acceptors(vec![]),
                EventKind::RoomTaken {
                    room_id: "r-1".into(),
                    agent: Person { id: "a-1".into(), name: "Bea".into() },
                },
            ),
            Event::new(room_audience.clone(), EventKind::Message { message }),
            Event::new(
                room_audience.clone(),
                EventKind::Typing {
                    room_id: "r-1".into(),
                    from: Sender { kind: SenderKind::Visitor, id: "v-1".into(), name: "Ana".into() },
                    typing: true,
                },
            ),
            Event::new(room_audience.clone(), EventKind::RoomUpdated { room: a_room() }),
            Event::new(
                room_audience,
                EventKind::RoomClosed {
                    room_id: "r-1".into(),
                    reason: EndReason::Expired,
                    message: "Bye".into(),
                },
            ),
            Event::new(
                Audience { agents: vec!["a-1".into(), "a-2".into()], ..Audience::default() },
                EventKind::NoteAdded {
                    note: crate::domain::Note {
                        id: "n-1".into(),
                        room_id: "r-1".into(),
                        author: Person { id: "a-2".into(), name: "Cal".into() },
                        content: "between us".into(),
                        created_at: 3_000,
                        after_seq: 3,
                    },
                },
            ),
            Event::new(
                Audience { agents: vec!["a-1".into()], ..Audience::default() },
                EventKind::AgentRevoked { agent_id: "a-1".into() },
            ),
            Event::new(Audience::default(), EventKind::AgentRightsChanged { agent_id: "a-1".into() }),
            Event::new(Audience::default(), EventKind::AgentAway { agent_id: "a-1".into(), away: true }),
        ]
    }

    #[test]
    fn every_event_survives_the_bus_unchanged() {
        for event in every_kind() {
            let sealed = seal(&event);
            assert_eq!(open(&sealed.bytes), Ok(event.clone()), "{:?}", event.kind);
        }
    }

    #[test]
    fn no_audience_and_an_empty_acceptor_list_stay_different() {
        let everyone =
            seal(&Event::new(Audience::acceptors(vec![]), EventKind::AgentRevoked { agent_id: "a".into() }));
        let nobody = seal(&Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: "a".into() }));
        assert_eq!(open(&everyone.bytes).unwrap().audience.acceptors_except, Some(vec![]));
        assert_eq!(open(&nobody.bytes).unwrap().audience.acceptors_except, None);
    }

    #[test]
    fn events_are_routed_by_what_they_are_about() {
        let keys: Vec<String> = every_kind().iter().map(|e| seal(e).routing_key).collect();
        assert!(keys[..7].iter().all(|k| k == "room.r-1"), "{keys:?}");
        assert_eq!(keys[7..], ["agent.a-1", "agent.a-1", "agent.a-1"]);
    }

    #[test]
    fn an_adapters_message_is_not_an_event() {
        let inbound = pb::InboundMessage { text: "hi".into(), ..Default::default() };
        let bytes = bus::seal(Payload::Inbound(inbound), None);
        assert_eq!(open(&bytes), Err(Refused::UnexpectedPayload));
    }

    #[test]
    fn a_room_with_an_unknown_status_is_refused() {
        let mut room = crate::wire::room(a_room());
        room.status = 99;
        let envelope = pb::BusEnvelope {
            version: bus::BUS_VERSION,
            audience: None,
            payload: Some(Payload::Event(pb::BusEvent {
                kind: Some(Kind::RoomUpdated(pb::RoomUpdated { room: Some(room) })),
            })),
        };
        assert!(matches!(open(&envelope.encode_to_vec()), Err(Refused::Undecodable(_))));
    }
}
