//! The transactional outbox: events written in the transaction of the
//! change they describe, read back by the relay, deleted once the broker
//! confirmed them.

use async_trait::async_trait;
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::SqlStore;
use super::entity::outbox;
use crate::app::ports::OutboxStore;
use crate::domain::{Event, Millis};
use crate::error::{CoreError, CoreResult};

impl SqlStore {
    /// Writes `events` to the outbox in the caller's transaction, when this
    /// store uses one.
    pub(super) async fn record_events<C: ConnectionTrait>(
        &self,
        txn: &C,
        events: &[Event],
        now: Millis,
    ) -> Result<(), sea_orm::DbErr> {
        let Some(replica) = &self.outbox else { return Ok(()) };
        if events.is_empty() {
            return Ok(());
        }
        let rows = events.iter().map(|e| outbox::ActiveModel {
            id: Default::default(),
            replica_id: Set(replica.clone()),
            payload: Set(serde_json::to_string(e).expect("events serialize")),
            created_at: Set(now),
        });
        outbox::Entity::insert_many(rows).exec(txn).await?;
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for SqlStore {
    fn uses_outbox(&self) -> bool {
        self.outbox.is_some()
    }

    async fn pending_events(
        &self,
        replica: &str,
        orphaned_before: Millis,
        limit: u64,
    ) -> CoreResult<Vec<(i64, Event)>> {
        let rows = outbox::Entity::find()
            .filter(
                Condition::any()
                    .add(outbox::Column::ReplicaId.eq(replica))
                    .add(outbox::Column::CreatedAt.lt(orphaned_before)),
            )
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|r| {
                let e = serde_json::from_str(&r.payload)
                    .map_err(|e| CoreError::Unexpected(anyhow::anyhow!("outbox row {}: {e}", r.id)))?;
                Ok((r.id, e))
            })
            .collect()
    }

    async fn forget_events(&self, ids: &[i64]) -> CoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::delete_many()
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
