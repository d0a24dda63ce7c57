//! Private notes: what agents write in a room for each other. Stored with
//! the room, never shown to its visitor or sent to a messenger, and kept out
//! of the message sequence so that the visitor's seqs stay gapless.

use serde::{Deserialize, Serialize};

use super::{Millis, Person};

/// One note in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub room_id: String,
    pub author: Person,
    pub content: String,
    pub created_at: Millis,
    /// The room's last message seq when it was written: where it sits
    /// among the messages.
    pub after_seq: u64,
}
