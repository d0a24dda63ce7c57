//! What one connection has been shown, per room: the last message seq
//! delivered, and the rooms it has been told have ended. Pure bookkeeping
//! with no I/O: the session asks what to do with a message (deliver it,
//! drop it as a duplicate, or fill a gap from history first), tells it what
//! went out, and pages through a gap with it.
//!
//! This is where "each connection sees every message once, in seq order"
//! is decided: the bus delivers at least once, and history frames overlap
//! live events, so a message at or below the last one delivered is dropped;
//! one past a gap waits for the missed ones.

use std::collections::{HashMap, HashSet};

use livechat_proto::v1 as pb;

/// Largest history page the core serves.
pub const MAX_PAGE: u64 = 500;

/// What to do with a live message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It follows the last one delivered in its room (or is the first this
    /// connection sees there): send it.
    Deliver,
    /// At or below the last one delivered: the bus repeated it, or a
    /// history frame already had it.
    Duplicate,
    /// Past a gap: send the gap's messages from history first, then it.
    FillGapFirst(Gap),
}

/// What a new subscription means for a room in its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Shown before: send the messages missed since.
    Missed(Gap),
    /// New to this connection (queued, or given to this agent meanwhile):
    /// send its history.
    New,
}

/// Messages missing from a room, `after < seq < before`, asked from history
/// page by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    after: u64,
    before: u64,
}

impl Gap {
    pub fn new(after: u64, before: u64) -> Self {
        Self { after, before }
    }

    /// The next page to ask for, as (`after_seq`, `limit`); None once
    /// nothing is missing.
    pub fn next_page(&self) -> Option<(u64, u32)> {
        (self.after + 1 < self.before).then(|| (self.after, (self.before - self.after).min(MAX_PAGE) as u32))
    }

    /// Whether a message of a page belongs to the gap (a page may reach
    /// past it, up to the live message that revealed it).
    pub fn wants(&self, seq: u64) -> bool {
        seq < self.before
    }

    /// A message of the gap went out; the next page starts after it.
    pub fn filled(&mut self, seq: u64) {
        self.after = seq;
    }
}

/// What one connection has been shown of a room.
#[derive(Debug, Clone, Copy)]
struct Shown {
    /// The last seq delivered.
    last: u64,
    /// Whether a history frame went out for it (live messages alone are
    /// its newest, not its past).
    history: bool,
}

/// One connection's delivery state, per room.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Per room, once it has been shown: the last seq delivered and
    /// whether its history went out. One map, one entry per room: every
    /// idle connection pays for it.
    shown: HashMap<String, Shown>,
    /// Rooms this connection was told are closed or expired.
    told_ended: HashSet<String>,
}

impl Delivery {
    /// Decides what to do with a live message of `room_id`.
    pub fn judge(&self, room_id: &str, seq: u64) -> Verdict {
        match self.shown.get(room_id).map(|s| s.last) {
            Some(last) if seq <= last => Verdict::Duplicate,
            Some(last) if seq - last > 1 => Verdict::FillGapFirst(Gap::new(last, seq)),
            _ => Verdict::Deliver,
        }
    }

    /// A message went out (live, or filling a gap): later ones are judged
    /// against it.
    pub fn delivered(&mut self, room_id: &str, seq: u64) {
        match self.shown.get_mut(room_id) {
            Some(s) => s.last = seq,
            None => {
                self.shown.insert(room_id.to_owned(), Shown { last: seq, history: false });
            }
        }
    }

    /// A history frame went out with `newest` as its last message: the room
    /// counts as shown even when the page was empty, and nothing it already
    /// delivered is forgotten.
    pub fn history_shown(&mut self, room_id: &str, newest: Option<u64>) {
        let seq = newest.unwrap_or(0);
        match self.shown.get_mut(room_id) {
            Some(s) => {
                s.last = s.last.max(seq);
                s.history = true;
            }
            None => {
                self.shown.insert(room_id.to_owned(), Shown { last: seq, history: true });
            }
        }
    }

    /// Whether no history frame has gone out for the room yet.
    pub fn needs_history(&self, room_id: &str) -> bool {
        !self.shown.get(room_id).is_some_and(|s| s.history)
    }

    /// After subscribing again: what to send for a room of the snapshot.
    pub fn catch_up(&self, room_id: &str) -> CatchUp {
        match self.shown.get(room_id).map(|s| s.last) {
            Some(last) => CatchUp::Missed(Gap::new(last, u64::MAX)),
            None => CatchUp::New,
        }
    }

    /// The reason to tell for a room in `status` (`pb::RoomStatus` as the
    /// protobuf carries it) if it has ended and this connection has not
    /// been told yet; from then on it has been.
    pub fn tell_ended(&mut self, room_id: &str, status: i32) -> Option<&'static str> {
        let reason = match pb::RoomStatus::try_from(status) {
            Ok(pb::RoomStatus::Closed) => "closed",
            Ok(pb::RoomStatus::Expired) => "expired",
            _ => return None,
        };
        self.told_ended.insert(room_id.to_owned()).then_some(reason)
    }

    /// A live `room_closed` event went out: the end is not told again.
    pub fn told_closed(&mut self, room_id: &str) {
        if !self.told_ended.contains(room_id) {
            self.told_ended.insert(room_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSED: i32 = pb::RoomStatus::Closed as i32;
    const EXPIRED: i32 = pb::RoomStatus::Expired as i32;
    const ENGAGED: i32 = pb::RoomStatus::Engaged as i32;

    #[test]
    fn a_room_never_shown_delivers_whatever_comes_first() {
        let d = Delivery::default();
        assert_eq!(d.judge("r", 1), Verdict::Deliver);
        assert_eq!(d.judge("r", 42), Verdict::Deliver);
    }

    #[test]
    fn the_next_seq_is_delivered_and_a_repeat_is_dropped() {
        let mut d = Delivery::default();
        d.delivered("r", 1);
        assert_eq!(d.judge("r", 2), Verdict::Deliver);
        d.delivered("r", 2);
        assert_eq!(d.judge("r", 2), Verdict::Duplicate);
        assert_eq!(d.judge("r", 1), Verdict::Duplicate);
    }

    #[test]
    fn a_message_past_a_gap_waits_for_the_missed_ones() {
        let mut d = Delivery::default();
        d.delivered("r", 3);
        assert_eq!(d.judge("r", 7), Verdict::FillGapFirst(Gap::new(3, 7)));
    }

    #[test]
    fn rooms_are_counted_apart() {
        let mut d = Delivery::default();
        d.delivered("a", 5);
        assert_eq!(d.judge("a", 5), Verdict::Duplicate);
        assert_eq!(d.judge("b", 5), Verdict::Deliver);
    }

    #[test]
    fn a_history_frame_marks_the_room_shown_and_its_newest_delivered() {
        let mut d = Delivery::default();
        d.history_shown("empty", None);
        assert_eq!(d.judge("empty", 1), Verdict::Deliver);
        assert_eq!(d.judge("empty", 3), Verdict::FillGapFirst(Gap::new(0, 3)));
        d.history_shown("r", Some(10));
        assert_eq!(d.judge("r", 10), Verdict::Duplicate);
        assert_eq!(d.judge("r", 11), Verdict::Deliver);
    }

    #[test]
    fn live_messages_alone_leave_a_room_without_its_history() {
        let mut d = Delivery::default();
        d.delivered("transferred", 7);
        assert!(d.needs_history("transferred"), "the messages before 7 were never shown");
        d.history_shown("transferred", Some(7));
        assert!(!d.needs_history("transferred"));
    }

    #[test]
    fn an_older_history_page_forgets_nothing_delivered_since() {
        let mut d = Delivery::default();
        d.delivered("r", 20);
        d.history_shown("r", Some(12));
        d.history_shown("r", None);
        assert_eq!(d.judge("r", 20), Verdict::Duplicate);
        assert_eq!(d.judge("r", 21), Verdict::Deliver);
    }

    #[test]
    fn a_gap_is_asked_for_in_pages_until_it_is_filled() {
        let mut gap = Gap::new(0, 1201);
        assert_eq!(gap.next_page(), Some((0, 500)));
        gap.filled(500);
        assert_eq!(gap.next_page(), Some((500, 500)));
        gap.filled(1000);
        assert_eq!(gap.next_page(), Some((1000, 201)));
        assert!(gap.wants(1200));
        assert!(!gap.wants(1201), "the message that revealed the gap goes out live");
        gap.filled(1200);
        assert_eq!(gap.next_page(), None);
    }

    #[test]
    fn adjacent_seqs_leave_no_gap() {
        assert_eq!(Gap::new(4, 5).next_page(), None);
        assert_eq!(Gap::new(4, 6).next_page(), Some((4, 2)));
    }

    #[test]
    fn catching_up_asks_for_everything_missed_in_rooms_shown_and_history_for_new_ones() {
        let mut d = Delivery::default();
        d.delivered("shown", 8);
        let CatchUp::Missed(gap) = d.catch_up("shown") else { panic!("a shown room is caught up") };
        assert_eq!(gap.next_page(), Some((8, 500)));
        assert!(gap.wants(u64::MAX - 1));
        assert_eq!(d.catch_up("new"), CatchUp::New);
    }

    #[test]
    fn an_ended_room_is_told_once_with_its_reason() {
        let mut d = Delivery::default();
        assert_eq!(d.tell_ended("r", ENGAGED), None);
        assert_eq!(d.tell_ended("r", CLOSED), Some("closed"));
        assert_eq!(d.tell_ended("r", CLOSED), None);
        assert_eq!(d.tell_ended("x", EXPIRED), Some("expired"));
        assert_eq!(d.tell_ended("bad", 999), None);
    }

    #[test]
    fn a_live_room_closed_is_not_told_again() {
        let mut d = Delivery::default();
        d.told_closed("r");
        d.told_closed("r");
        assert_eq!(d.tell_ended("r", CLOSED), None);
    }
}
