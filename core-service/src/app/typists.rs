//! Who is typing in which room on this replica, and until when. A
//! `typing: true` lasts `TYPING_LASTS_MS` unless the typist says it again
//! (clients repeat it every 3 s while typing): when it lapses, the timers
//! tell the other side `typing: false`, so an indicator never sticks after
//! its typist's connection dropped or their page closed.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{Event, Millis};

/// How long a `typing: true` holds without being repeated.
pub const TYPING_LASTS_MS: Millis = 6_000;

/// (room id, typist id) → when it lapses, and the event that ends it.
#[derive(Debug, Default)]
pub struct Typists(Mutex<HashMap<(String, String), (Millis, Event)>>);

impl Typists {
    /// `typist` typed in `room_id` at `now`; `ends` is what to publish if
    /// they stop saying so.
    pub fn typed(&self, room_id: &str, typist: &str, now: Millis, ends: Event) {
        let mut map = self.0.lock().expect("typists lock poisoned");
        map.insert((room_id.to_string(), typist.to_string()), (now + TYPING_LASTS_MS, ends));
    }

    /// `typist` said they stopped (or sent their message).
    pub fn stopped(&self, room_id: &str, typist: &str) {
        let mut map = self.0.lock().expect("typists lock poisoned");
        map.remove(&(room_id.to_string(), typist.to_string()));
    }

    /// The ends of every indicator that lapsed by `now`, forgotten here.
    pub fn lapsed(&self, now: Millis) -> Vec<Event> {
        let mut map = self.0.lock().expect("typists lock poisoned");
        let due: Vec<(String, String)> =
            map.iter().filter(|(_, (until, _))| *until <= now).map(|(k, _)| k.clone()).collect();
        due.into_iter().filter_map(|k| map.remove(&k)).map(|(_, ends)| ends).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Audience, EventKind};

    fn ends(room: &str) -> Event {
        Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: room.into() })
    }

    #[test]
    fn an_indicator_lapses_unless_repeated_and_a_stop_forgets_it() {
        let t = Typists::default();
        t.typed("r1", "ana", 0, ends("r1"));
        t.typed("r2", "bo", 0, ends("r2"));
        t.typed("r3", "cy", 0, ends("r3"));
        // Ana repeats it; Cy stops.
        t.typed("r1", "ana", 4_000, ends("r1"));
        t.stopped("r3", "cy");
        assert!(t.lapsed(TYPING_LASTS_MS - 1).is_empty());
        assert_eq!(t.lapsed(TYPING_LASTS_MS), vec![ends("r2")]);
        assert_eq!(t.lapsed(4_000 + TYPING_LASTS_MS), vec![ends("r1")]);
        assert!(t.lapsed(Millis::MAX).is_empty(), "each end is told once");
    }
}
