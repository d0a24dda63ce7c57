//! The transactional outbox: events written, in their bus envelope, in the
//! transaction of the change they describe, read back by the relay,
//! deleted once the broker confirmed them.

use async_trait::async_trait;
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::SqlStore;
use super::entity::outbox;
use crate::app::ports::{OutboxStore, RecordedEvent};
use crate::bus::envelope;
use crate::domain::{Event, Millis};
use crate::error::CoreResult;

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
        let rows = events.iter().map(|e| {
            let sealed = envelope::seal(e);
            outbox::ActiveModel {
                id: Default::default(),
                replica_id: Set(replica.clone()),
                payload: Set(String::new()),
                routing_key: Set(Some(sealed.routing_key)),
                envelope: Set(Some(sealed.bytes)),
                created_at: Set(now),
            }
        });
        outbox::Entity::insert_many(rows).exec(txn).await?;
        Ok(())
    }
}

/// A row as the relay publishes it. Rows from before the bus envelope hold
/// their event as JSON in `payload`: they are passed on as they are, for
/// the replicas of that version still running (this version's consumers
/// refuse and dead-letter them).
fn recorded(row: outbox::Model) -> RecordedEvent {
    match (row.routing_key, row.envelope) {
        (Some(routing_key), Some(bytes)) => RecordedEvent { routing_key, bytes },
        _ => RecordedEvent { routing_key: LEGACY_ROUTING_KEY.into(), bytes: row.payload.into_bytes() },
    }
}

/// Where rows from before the envelope are published.
const LEGACY_ROUTING_KEY: &str = "legacy.json";

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
    ) -> CoreResult<Vec<(i64, RecordedEvent)>> {
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
        Ok(rows.into_iter().map(|r| (r.id, recorded(r))).collect())
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
