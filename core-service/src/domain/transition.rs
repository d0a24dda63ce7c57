//! The room transitions as data: what each one requires of the room and what
//! it changes. The store applies a transition with one conditional update,
//! so the precondition is checked atomically, across every replica.

use super::{Millis, Person, RoomStatus};

/// One change of a room's status or agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// queued → engaged by `agent`.
    Accept { agent: Person },
    /// queued → engaged by `agent`, handed out by automatic assignment,
    /// if the agent is enabled, not away and holds fewer than `capacity`
    /// rooms at that moment (checked under a lock on the agent, so replicas
    /// assigning at once never take an agent past it, and an agent who
    /// just went away is not handed a room chosen before).
    Assign { agent: Person, capacity: u32 },
    /// engaged → closed; `by_agent` must hold the room unless None
    /// (rooms.manage_all).
    Close { by_agent: Option<String>, text: String },
    /// engaged by `from_agent` → queued (grace ran out, given back, or the
    /// agent was deleted).
    Requeue { from_agent: String },
    /// engaged by `from_agent` → engaged by `to`.
    Transfer { from_agent: String, to: Person },
    /// queued|engaged → expired, if still idle since before `idle_before`.
    Expire { idle_before: Millis, text: String },
}

/// How the agent column changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChange {
    Keep,
    Set(Person),
    Clear,
}

/// What a transition requires, checked inside the conditional update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    pub statuses: &'static [RoomStatus],
    pub agent_id: Option<String>,
    pub idle_before: Option<Millis>,
    /// This agent must be enabled, not away, and hold fewer than this many
    /// engaged rooms.
    pub capacity: Option<(String, u32)>,
}

/// What a transition writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub status: RoomStatus,
    pub agent: AgentChange,
    /// Set for the final states: the text clients show when the room ended.
    pub end_message: Option<String>,
}

impl Transition {
    pub fn precondition(&self) -> Precondition {
        use RoomStatus::*;
        match self {
            Self::Accept { .. } => {
                Precondition { statuses: &[Queued], agent_id: None, idle_before: None, capacity: None }
            }
            Self::Assign { agent, capacity } => Precondition {
                statuses: &[Queued],
                agent_id: None,
                idle_before: None,
                capacity: Some((agent.id.clone(), *capacity)),
            },
            Self::Close { by_agent, .. } => Precondition {
                statuses: &[Engaged],
                agent_id: by_agent.clone(),
                idle_before: None,
                capacity: None,
            },
            Self::Requeue { from_agent } | Self::Transfer { from_agent, .. } => Precondition {
                statuses: &[Engaged],
                agent_id: Some(from_agent.clone()),
                idle_before: None,
                capacity: None,
            },
            Self::Expire { idle_before, .. } => Precondition {
                statuses: &[Queued, Engaged],
                agent_id: None,
                idle_before: Some(*idle_before),
                capacity: None,
            },
        }
    }

    pub fn effect(&self) -> Effect {
        use RoomStatus::*;
        match self {
            Self::Accept { agent } | Self::Assign { agent, .. } => {
                Effect { status: Engaged, agent: AgentChange::Set(agent.clone()), end_message: None }
            }
            Self::Close { text, .. } => {
                Effect { status: Closed, agent: AgentChange::Keep, end_message: Some(text.clone()) }
            }
            Self::Requeue { .. } => Effect { status: Queued, agent: AgentChange::Clear, end_message: None },
            Self::Transfer { to, .. } => {
                Effect { status: Engaged, agent: AgentChange::Set(to.clone()), end_message: None }
            }
            Self::Expire { text, .. } => {
                Effect { status: Expired, agent: AgentChange::Keep, end_message: Some(text.clone()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_is_allowed_by_the_state_machine() {
        let p = Person { id: "a".into(), name: "A".into() };
        let all = [
            Transition::Accept { agent: p.clone() },
            Transition::Close { by_agent: None, text: "bye".into() },
            Transition::Requeue { from_agent: "a".into() },
            Transition::Transfer { from_agent: "a".into(), to: p },
            Transition::Expire { idle_before: 0, text: "gone".into() },
        ];
        for t in all {
            for from in t.precondition().statuses {
                assert!(from.check_transition(t.effect().status).is_ok(), "{t:?} from {from:?}");
            }
        }
    }

    #[test]
    fn only_final_states_carry_an_end_message() {
        let close = Transition::Close { by_agent: Some("a".into()), text: "bye".into() };
        assert_eq!(close.effect().end_message.as_deref(), Some("bye"));
        assert_eq!(close.precondition().agent_id.as_deref(), Some("a"));
        let requeue = Transition::Requeue { from_agent: "a".into() };
        assert_eq!(requeue.effect().end_message, None);
        assert_eq!(requeue.effect().agent, AgentChange::Clear);
    }
}
