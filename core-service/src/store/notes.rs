//! Private notes of a room.

use async_trait::async_trait;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::SqlStore;
use super::entity::note;
use crate::app::ports::NoteStore;
use crate::domain::{Event, Note, Person};
use crate::error::CoreResult;

fn from_row(r: note::Model) -> Note {
    Note {
        id: r.id,
        room_id: r.room_id,
        author: Person { id: r.author_id, name: r.author_name },
        content: r.content,
        created_at: r.created_at,
        after_seq: r.after_seq.max(0) as u64,
    }
}

#[async_trait]
impl NoteStore for SqlStore {
    async fn add_note(&self, n: &Note, events: &[Event]) -> CoreResult<()> {
        let (_turn, txn) = self.begin_write().await?;
        note::ActiveModel {
            id: Set(n.id.clone()),
            room_id: Set(n.room_id.clone()),
            author_id: Set(n.author.id.clone()),
            author_name: Set(n.author.name.clone()),
            content: Set(n.content.clone()),
            created_at: Set(n.created_at),
            after_seq: Set(n.after_seq as i64),
        }
        .insert(&txn)
        .await?;
        self.record_events(&txn, events, n.created_at).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn notes(&self, room_id: &str, limit: u64) -> CoreResult<Vec<Note>> {
        let rows = note::Entity::find()
            .filter(note::Column::RoomId.eq(room_id))
            .order_by_asc(note::Column::CreatedAt)
            .order_by_asc(note::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(from_row).collect())
    }
}
