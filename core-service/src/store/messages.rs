//! Appending messages under the room's seq counter, and paging history.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

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
    // One statement bumps the counter and reads the room back (RETURNING).
    let Some(row) = bump.exec_with_returning(txn).await?.pop() else {
        return Ok(None);
    };
    let message = stored_message(room_id.to_string(), row.last_seq, msg);
    // Nothing to read back: every column is known here.
    message::Entity::insert(message::ActiveModel {
        id: Set(message.id.clone()),
        room_id: Set(message.room_id.clone()),
        seq: Set(row.last_seq),
        sender_kind: Set(message.sender.kind.as_str().to_string()),
        sender_id: Set(message.sender.id.clone()),
        sender_name: Set(message.sender.name.clone()),
        content: Set(message.content.clone()),
        client_id: Set(message.client_id.clone()),
        created_at: Set(message.created_at),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(Some((message, row)))
}

/// The message `msg` becomes once its room gave it `seq`.
pub(super) fn stored_message(room_id: String, seq: i64, msg: NewMessage) -> Message {
    Message {
        id: msg.id,
        room_id,
        seq: u64::try_from(seq).unwrap_or(0),
        sender: msg.sender,
        content: msg.content,
        created_at: msg.created_at,
        client_id: msg.client_id,
    }
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
        events: MakeEvents<'static>,
    ) -> CoreResult<Appended> {
        if let Some(queue) = &self.appends {
            return queue.append(self, room_id, guard, msg, events).await;
        }
        let sender = msg.sender.clone();
        let client_id = msg.client_id.clone();
        let now = msg.created_at;
        let (_turn, txn) = self.begin_write().await?;
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
