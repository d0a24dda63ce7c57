//! Private notes: agents who may read a room write notes in it for each
//! other. The room's visitor and its messenger never see them.

use super::{Core, Principal};
use crate::domain::value::MessageContent;
use crate::domain::{Audience, Event, EventKind, Note, new_id};
use crate::error::CoreResult;

/// Most notes one room lists.
const NOTES_LIMIT: u64 = 1000;

impl Core {
    /// Stores a note and shows it to the room's agent and the author's
    /// other connections (never to the visitor).
    pub async fn add_note(&self, p: &Principal, room_id: &str, content: &str) -> CoreResult<Note> {
        let me = p.agent()?;
        let room = self.room(p, room_id).await?;
        let settings = self.settings.get().await?;
        let content = MessageContent::parse(content, settings.max_message_chars)?;
        let note = Note {
            id: new_id(),
            room_id: room.id.clone(),
            author: p.person(),
            content: content.into_inner(),
            created_at: self.now_ms(),
            after_seq: room.last_seq,
        };
        let mut audience =
            Audience { agents: room.agent.iter().map(|a| a.id.clone()).collect(), ..Audience::default() };
        audience = audience.with_agent(&me.id);
        let events = vec![Event::new(audience, EventKind::NoteAdded { note: note.clone() })];
        self.store.add_note(&note, &events).await?;
        self.deliver(events).await;
        Ok(note)
    }

    /// The room's notes, oldest first, for agents who may read it.
    pub async fn notes(&self, p: &Principal, room_id: &str) -> CoreResult<Vec<Note>> {
        p.agent()?;
        let room = self.room(p, room_id).await?;
        self.store.notes(&room.id, NOTES_LIMIT).await
    }
}
