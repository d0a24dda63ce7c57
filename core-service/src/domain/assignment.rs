//! Automatic assignment as rules: which agents may be handed a queued
//! room and in which order they are tried. Fewest open rooms first, under
//! each agent's capacity; among equals, whoever was handed a room longest
//! ago (round robin). The store makes each hand-over atomic (see
//! `Transition::Assign`).

use super::{Millis, Person};

/// Whether queued rooms wait for an agent to accept them or are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentMode {
    Manual,
    Automatic,
}

impl AssignmentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Automatic => "automatic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Automatic].into_iter().find(|m| m.as_str() == s)
    }
}

/// An agent who is online, not away and takes rooms, with their load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent: Person,
    pub open_rooms: u32,
    pub capacity: u32,
    /// When they were last handed a room (0: never).
    pub last_assigned_at: Millis,
}

impl Candidate {
    pub fn has_room(&self) -> bool {
        self.open_rooms < self.capacity
    }
}

/// The order in which agents are offered a room: those under capacity who
/// did not decline it, fewest open rooms first, then longest since their
/// last hand-over, then by id (so every replica orders alike).
pub fn pick_order<'a>(candidates: &'a [Candidate], declined: &[String]) -> Vec<&'a Candidate> {
    let mut order: Vec<&Candidate> =
        candidates.iter().filter(|c| c.has_room() && !declined.contains(&c.agent.id)).collect();
    order.sort_by(|a, b| {
        a.open_rooms
            .cmp(&b.open_rooms)
            .then(a.last_assigned_at.cmp(&b.last_assigned_at))
            .then(a.agent.id.cmp(&b.agent.id))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, open_rooms: u32, capacity: u32, last_assigned_at: Millis) -> Candidate {
        Candidate { agent: Person { id: id.into(), name: id.into() }, open_rooms, capacity, last_assigned_at }
    }

    fn ids(order: Vec<&Candidate>) -> Vec<&str> {
        order.into_iter().map(|c| c.agent.id.as_str()).collect()
    }

    #[test]
    fn the_least_loaded_agent_with_room_goes_first() {
        let team = [agent("a", 2, 3, 0), agent("b", 1, 3, 0), agent("c", 3, 3, 0), agent("d", 0, 1, 0)];
        assert_eq!(ids(pick_order(&team, &[])), ["d", "b", "a"], "c is full");
    }

    #[test]
    fn equals_take_turns_and_decliners_are_skipped() {
        let team = [agent("a", 1, 3, 500), agent("b", 1, 3, 100), agent("c", 1, 3, 900)];
        assert_eq!(ids(pick_order(&team, &[])), ["b", "a", "c"]);
        assert_eq!(ids(pick_order(&team, &["b".into()])), ["a", "c"]);
    }

    #[test]
    fn nobody_with_room_means_the_queue() {
        let team = [agent("a", 2, 2, 0), agent("b", 5, 5, 0)];
        assert!(pick_order(&team, &[]).is_empty());
        assert_eq!(AssignmentMode::parse("automatic"), Some(AssignmentMode::Automatic));
        assert_eq!(AssignmentMode::parse("round-robin"), None);
    }
}
