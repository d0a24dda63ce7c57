//! Events that tell connected clients what changed, and who may see them.
//!
//! An event carries its own audience, so that any replica can route it to
//! its local subscribers without reading the database.

use serde::{Deserialize, Serialize};

use super::{EndReason, Message, Person, Room, Sender};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    RoomQueued {
        room: Room,
    },
    RoomTaken {
        room_id: String,
        agent: Person,
    },
    Message {
        message: Message,
    },
    /// A private note: its audience is agents only.
    NoteAdded {
        note: super::Note,
    },
    Typing {
        room_id: String,
        from: Sender,
        typing: bool,
    },
    RoomUpdated {
        room: Room,
    },
    RoomClosed {
        room_id: String,
        reason: EndReason,
        message: String,
    },
    /// Not for clients: ends every subscription of the agent (deleted,
    /// disabled or password changed).
    AgentRevoked {
        agent_id: String,
    },
    /// Not for clients: the agent's permissions changed (their group, or
    /// their group's permissions). Their subscriptions end and are opened
    /// again, so that what they see follows their new rights.
    AgentRightsChanged {
        agent_id: String,
    },
    /// Not for clients: the agent set themselves away (or back online);
    /// their subscriptions stay, and are offered new rooms only when not
    /// away.
    AgentAway {
        agent_id: String,
        away: bool,
    },
    /// Not for clients: a message of a channel room for the customer on
    /// their messenger; the channel's adapter sends it (see `outbound`).
    Outbound {
        channel: super::Channel,
        external_id: String,
        message: Message,
    },
}

/// Who should see an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    /// The visitor of this room.
    pub room_visitor: Option<String>,
    /// These agents, by id.
    pub agents: Vec<String>,
    /// Every agent who may accept rooms, except these (who declined).
    pub acceptors_except: Option<Vec<String>>,
}

impl Audience {
    /// The room's visitor and its agent (if any): who sees a room's messages.
    pub fn room(room: &Room) -> Self {
        Self {
            room_visitor: Some(room.id.clone()),
            agents: room.agent.iter().map(|a| a.id.clone()).collect(),
            acceptors_except: None,
        }
    }

    /// Agents who may accept rooms, without those who declined this one.
    pub fn acceptors(except: Vec<String>) -> Self {
        Self { acceptors_except: Some(except), ..Self::default() }
    }

    /// Adds an agent (for example the one who just lost the room).
    pub fn with_agent(mut self, agent_id: &str) -> Self {
        if !self.agents.iter().any(|a| a == agent_id) {
            self.agents.push(agent_id.to_string());
        }
        self
    }
}

/// One routed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub audience: Audience,
    pub kind: EventKind,
}

impl Event {
    pub fn new(audience: Audience, kind: EventKind) -> Self {
        Self { audience, kind }
    }
}
