//! Rooms and messages, and the one state machine that moves a room between
//! queued, engaged, closed and expired.

use serde::{Deserialize, Serialize};

use super::{DomainError, Millis};

/// Where a room is in its life. See docs/protocol.md "Actors and rooms".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    Queued,
    Engaged,
    Closed,
    Expired,
}

impl RoomStatus {
    pub const ALL: [RoomStatus; 4] = [Self::Queued, Self::Engaged, Self::Closed, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Engaged => "engaged",
            Self::Closed => "closed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Closed and expired rooms never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Expired)
    }

    /// Messages may be stored while someone can still answer them.
    pub fn accepts_messages(self) -> bool {
        !self.is_final()
    }

    /// Checks one transition of docs/protocol.md; the store then applies it with a
    /// conditional update so that the check also holds under concurrency.
    pub fn check_transition(self, to: RoomStatus) -> Result<(), DomainError> {
        use RoomStatus::*;
        let allowed = matches!(
            (self, to),
            (Queued, Engaged)
                | (Engaged, Queued)
                | (Engaged, Engaged) // transfer to another agent
                | (Engaged, Closed)
                | (Queued, Expired)
                | (Engaged, Expired)
        );
        if allowed {
            Ok(())
        } else {
            Err(DomainError::Conflict(format!("room is {}, it cannot become {}", self.as_str(), to.as_str())))
        }
    }
}

/// Why a room ended, as `room_closed.reason` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Closed,
    Expired,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Expired => "expired",
        }
    }
}

/// The visitor's way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Telegram,
    Messenger,
    Wechat,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::Web, Self::Telegram, Self::Messenger, Self::Wechat];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Telegram => "telegram",
            Self::Messenger => "messenger",
            Self::Wechat => "wechat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An id and a display name: how participants see each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
}

/// One support conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: String,
    pub status: RoomStatus,
    pub channel: Channel,
    pub visitor: Person,
    /// The customer's address on their messenger (channel rooms only):
    /// where the room's replies go. Never shown to clients.
    pub external_id: Option<String>,
    /// The engaged agent; for closed or expired rooms, the last one they had.
    pub agent: Option<Person>,
    pub subject: Option<String>,
    pub created_at: Millis,
    pub last_message_at: Millis,
    pub last_seq: u64,
    pub end_message: Option<String>,
}

impl Room {
    /// True when `agent_id` is the agent currently holding the room.
    pub fn is_engaged_by(&self, agent_id: &str) -> bool {
        self.status == RoomStatus::Engaged && self.agent.as_ref().is_some_and(|a| a.id == agent_id)
    }

    /// True when `agent_id` holds or last held the room.
    pub fn belongs_to(&self, agent_id: &str) -> bool {
        self.agent.as_ref().is_some_and(|a| a.id == agent_id)
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    Visitor,
    Agent,
    System,
}

impl SenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visitor => "visitor",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Visitor, Self::Agent, Self::System].into_iter().find(|k| k.as_str() == s)
    }
}

/// The author of a message as stored with it (names are kept as they were).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub kind: SenderKind,
    pub id: String,
    pub name: String,
}

impl Sender {
    /// System messages (join, leave, close texts) come from here.
    pub fn system() -> Self {
        Self { kind: SenderKind::System, id: "system".into(), name: "System".into() }
    }
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub room_id: String,
    pub seq: u64,
    pub sender: Sender,
    pub content: String,
    pub created_at: Millis,
    pub client_id: Option<String>,
}

/// Fills `{agent}` in the join/leave texts of the settings.
pub fn render_agent_text(template: &str, agent_name: &str) -> String {
    template.replace("{agent}", agent_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_leaves_closed_or_expired() {
        for from in [RoomStatus::Closed, RoomStatus::Expired] {
            for to in RoomStatus::ALL {
                assert!(from.check_transition(to).is_err(), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn queued_room_can_be_accepted_or_expire_but_not_closed() {
        assert!(RoomStatus::Queued.check_transition(RoomStatus::Engaged).is_ok());
        assert!(RoomStatus::Queued.check_transition(RoomStatus::Expired).is_ok());
        assert!(RoomStatus::Queued.check_transition(RoomStatus::Closed).is_err());
        assert!(RoomStatus::Queued.check_transition(RoomStatus::Queued).is_err());
    }

    #[test]
    fn engaged_room_can_go_back_close_or_expire() {
        for to in [RoomStatus::Queued, RoomStatus::Closed, RoomStatus::Expired] {
            assert!(RoomStatus::Engaged.check_transition(to).is_ok());
        }
    }

    #[test]
    fn agent_name_is_filled_into_texts() {
        assert_eq!(render_agent_text("{agent} has entered the chat", "Bea"), "Bea has entered the chat");
        assert_eq!(render_agent_text("Hello", "Bea"), "Hello");
    }

    #[test]
    fn statuses_and_channels_round_trip_their_wire_names() {
        for s in RoomStatus::ALL {
            assert_eq!(RoomStatus::parse(s.as_str()), Some(s));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(RoomStatus::parse("open"), None);
    }
}
