//! Visitors' data requests: the rooms a request is about, and erasure.

use async_trait::async_trait;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{message, note, outbox, room, webhook_delivery};
use super::{SqlStore, convert};
use crate::app::ports::VisitorDataStore;
use crate::domain::data_request::{ERASED_NAME, ERASED_TEXT, VisitorSelector};
use crate::domain::{Millis, Room, RoomStatus, SenderKind};
use crate::error::CoreResult;
use crate::wire::envelope;

/// Most outbox rows looked through for an erased room's leftovers.
const OUTBOX_SCAN: u64 = 10_000;

#[async_trait]
impl VisitorDataStore for SqlStore {
    async fn rooms_of_subject(&self, who: &VisitorSelector, limit: u64) -> CoreResult<Vec<Room>> {
        let condition = match who {
            VisitorSelector::Room(id) => Condition::all().add(room::Column::Id.eq(id.as_str())),
            VisitorSelector::Email(email) => {
                let lower = Expr::expr(Func::lower(Expr::col(room::Column::VisitorEmail)));
                Condition::all().add(ExprTrait::eq(lower, email.to_lowercase()))
            }
            VisitorSelector::Channel { channel, external_id } => Condition::all()
                .add(room::Column::Channel.eq(channel.as_str()))
                .add(room::Column::ExternalId.eq(external_id.as_str())),
        };
        let rows = room::Entity::find()
            .filter(condition)
            .order_by_asc(room::Column::CreatedAt)
            .order_by_asc(room::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert::room).collect()
    }

    async fn erase_rooms(&self, room_ids: &[String], now: Millis) -> CoreResult<(u64, u64)> {
        if room_ids.is_empty() {
            return Ok((0, 0));
        }
        let ids = || room_ids.iter().cloned();
        // Outbox rows of these rooms: events (keyed by room) and messages
        // for a messenger or kept as dead letters (read to be recognised).
        let leftovers: Vec<i64> = outbox::Entity::find()
            .order_by_asc(outbox::Column::Id)
            .limit(OUTBOX_SCAN)
            .all(&self.db)
            .await?
            .into_iter()
            .filter(|row| {
                let keyed = row.routing_key.as_deref().and_then(|k| k.strip_prefix("room."));
                let of_room =
                    row.envelope.as_deref().and_then(envelope::outbound_room).or(keyed.map(str::to_string));
                of_room.is_some_and(|r| room_ids.contains(&r))
            })
            .map(|row| row.id)
            .collect();
        let (_turn, txn) = self.begin_write().await?;
        let messages = message::Entity::update_many()
            .col_expr(message::Column::Content, Expr::value(ERASED_TEXT))
            .filter(message::Column::RoomId.is_in(ids()))
            .exec(&txn)
            .await?
            .rows_affected;
        message::Entity::update_many()
            .col_expr(message::Column::SenderName, Expr::value(ERASED_NAME))
            .filter(message::Column::RoomId.is_in(ids()))
            .filter(message::Column::SenderKind.eq(SenderKind::Visitor.as_str()))
            .exec(&txn)
            .await?;
        note::Entity::update_many()
            .col_expr(note::Column::Content, Expr::value(ERASED_TEXT))
            .filter(note::Column::RoomId.is_in(ids()))
            .exec(&txn)
            .await?;
        let rooms = room::Entity::update_many()
            .col_expr(room::Column::VisitorName, Expr::value(ERASED_NAME))
            .col_expr(room::Column::VisitorEmail, Expr::value(Option::<String>::None))
            .col_expr(room::Column::ExternalId, Expr::value(Option::<String>::None))
            .col_expr(room::Column::VisitorAddress, Expr::value(Option::<String>::None))
            .col_expr(room::Column::Subject, Expr::value(Option::<String>::None))
            .col_expr(room::Column::RatingComment, Expr::value(Option::<String>::None))
            .col_expr(room::Column::ErasedAt, Expr::value(Some(now)))
            .filter(room::Column::Id.is_in(ids()))
            .exec(&txn)
            .await?
            .rows_affected;
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Body, Expr::value(r#"{"erased":true}"#))
            .filter(webhook_delivery::Column::RoomKey.is_in(ids()))
            .exec(&txn)
            .await?;
        if !leftovers.is_empty() {
            outbox::Entity::delete_many().filter(outbox::Column::Id.is_in(leftovers)).exec(&txn).await?;
        }
        txn.commit().await?;
        Ok((rooms, messages))
    }

    async fn rooms_past_retention(&self, before: Millis, limit: u64) -> CoreResult<Vec<String>> {
        let ended = [RoomStatus::Closed.as_str(), RoomStatus::Expired.as_str()];
        Ok(room::Entity::find()
            .select_only()
            .column(room::Column::Id)
            .filter(room::Column::Status.is_in(ended))
            .filter(room::Column::ErasedAt.is_null())
            .filter(room::Column::LastMessageAt.lt(before))
            .order_by_asc(room::Column::LastMessageAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
