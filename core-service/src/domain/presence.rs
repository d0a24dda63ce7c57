//! An agent's presence as colleagues see it: connected or not, and whether
//! they take new rooms while connected.

use serde::{Deserialize, Serialize};

/// Online, away or offline. Only `away` is chosen by the agent; online and
/// offline follow their live connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Connected and offered new rooms.
    Online,
    /// Connected, keeps their rooms, is offered no new ones.
    Away,
    /// No live connection.
    Offline,
}

impl AgentStatus {
    /// What colleagues see, from whether the agent has a live connection
    /// and whether they set themselves away.
    pub fn of(connected: bool, away: bool) -> Self {
        match (connected, away) {
            (false, _) => Self::Offline,
            (true, true) => Self::Away,
            (true, false) => Self::Online,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}

/// One colleague: what every agent may know of another (no username, no
/// group), enough to pick whom to transfer a room to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub id: String,
    pub name: String,
    pub status: AgentStatus,
    /// Rooms they hold now.
    pub open_rooms: u32,
    /// Whether a room can be transferred to them (their group has rooms.accept).
    pub accepts_rooms: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_connection_an_agent_is_offline_whatever_they_chose() {
        assert_eq!(AgentStatus::of(false, false), AgentStatus::Offline);
        assert_eq!(AgentStatus::of(false, true), AgentStatus::Offline);
    }

    #[test]
    fn a_connected_agent_is_away_only_when_they_said_so() {
        assert_eq!(AgentStatus::of(true, true), AgentStatus::Away);
        assert_eq!(AgentStatus::of(true, false), AgentStatus::Online);
    }
}
