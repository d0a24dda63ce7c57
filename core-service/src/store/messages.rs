//! Appending messages under the room's seq counter, and paging history.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::entity::{message, room};
use super::{SqlStore, convert, is_unique_violation};
use crate::app::ports::{Appended, MakeEvents, MessageStore, NewMessage, Page, SendGuard};
use crate::domain::{Message, Room, RoomStatus, Sender};
use crate::error::{CoreError, CoreResult};

/// Bumps the room's counter and stores `msg` with the new seq. Must run in
/// the caller's transaction; on PostgreSQL the UPDATE takes the row lock
/// that serialises concurrent appends to one room until commit.
/// Returns None when no room matched `guard`.
pub(super) async fn append_in<C: ConnectionTrait>(
    txn: &C,
    room_id: &str,
    guard: Option<&SendGuard>,
    msg: NewMessage,
) -> Result<Option<(Message, room::Model)>, sea_orm::DbErr> {
    let mut bump = room::Entity::update_many()
        .col_expr(room::Column::LastSeq, Expr::col(room::Column::LastSeq).add(1))
        .col_expr(room::Column::LastMessageAt, Expr::value(msg.created_at))
        .filter(room::Column::Id.eq(room_id));
    match guard {
        Some(SendGuard::Visitor) => {
            bump = bump.filter(
                room::Column::Status.is_in([RoomStatus::Queued.as_str(), RoomStatus::Engaged.as_str()]),
            );
        }
        Some(SendGuard::EngagedAgent(agent_id)) => {
            bump = bump
                .filter(room::Column::Status.eq(RoomStatus::Engaged.as_str()))
                .filter(room::Column::AgentId.eq(agent_id.as_str()));
        }
        None => {}
    }
    if bump.exec(txn).await?.rows_affected == 0 {
        return Ok(None);
    }
    let Some(row) = room::Entity::find_by_id(room_id).one(txn).await? else {
        return Ok(None);
    };
    let stored = message::ActiveModel {
        id: Set(msg.id),
        room_id: Set(room_id.to_string()),
        seq: Set(row.last_seq),
        sender_kind: Set(msg.sender.kind.as_str().to_string()),
        sender_id: Set(msg.sender.id),
        sender_name: Set(msg.sender.name),
        content: Set(msg.content),
        client_id: Set(msg.client_id),
        created_at: Set(msg.created_at),
    }
    .insert(txn)
    .await?;
    let message = convert::message(stored).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    Ok(Some((message, row)))
}

/// Seqs are BIGINT; a cursor past i64::MAX means "after everything".
fn seq_value(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn append(
        &self,
        room_id: &str,
        guard: SendGuard,
        msg: NewMessage,
        events: MakeEvents<'_>,
    ) -> CoreResult<Appended> {
        let sender = msg.sender.clone();
        let client_id = msg.client_id.clone();
        let now = msg.created_at;
        let txn = self.db.begin().await?;
        match append_in(&txn, room_id, Some(&guard), msg).await {
            Ok(Some((message, row))) => {
                let room: Room = convert::room(row)?;
                let events = events(&room, std::slice::from_ref(&message));
                self.record_events(&txn, &events, now).await?;
                txn.commit().await?;
                Ok(Appended::Stored(message, events))
            }
            Ok(None) => {
                txn.rollback().await?;
                Ok(Appended::Refused)
            }
            Err(e) if is_unique_violation(&e) && client_id.is_some() => {
                // A concurrent retry with the same client_id won the race;
                // rolling back also undoes our seq bump, so no gap is left.
                txn.rollback().await?;
                let cid = client_id.expect("checked");
                match self.by_client_id(room_id, &sender, &cid).await? {
                    Some(m) => Ok(Appended::Duplicate(m)),
                    None => Err(CoreError::Unexpected(anyhow::Error::new(e))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn by_client_id(
        &self,
        room_id: &str,
        sender: &Sender,
        client_id: &str,
    ) -> CoreResult<Option<Message>> {
        message::Entity::find()
            .filter(message::Column::RoomId.eq(room_id))
            .filter(message::Column::SenderKind.eq(sender.kind.as_str()))
            .filter(message::Column::SenderId.eq(sender.id.as_str()))
            .filter(message::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await?
            .map(convert::message)
            .transpose()
    }

    async fn page(&self, room_id: &str, page: Page) -> CoreResult<(Vec<Message>, bool)> {
        let q = message::Entity::find().filter(message::Column::RoomId.eq(room_id));
        let (q, limit, newest_first) = match page {
            Page::Before { before, limit } => {
                let q = match before {
                    Some(b) => q.filter(message::Column::Seq.lt(seq_value(b))),
                    None => q,
                };
                (q.order_by_desc(message::Column::Seq), limit, true)
            }
            Page::After { after, limit } => (
                q.filter(message::Column::Seq.gt(seq_value(after))).order_by_asc(message::Column::Seq),
                limit,
                false,
            ),
        };
        let mut rows = q.limit(limit + 1).all(&self.db).await?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        if newest_first {
            rows.reverse();
        }
        let messages = rows.into_iter().map(convert::message).collect::<CoreResult<Vec<_>>>()?;
        Ok((messages, has_more))
    }
}
