//! The transactional outbox: events written, in their bus envelope, in the
//! transaction of the change they describe, taken by the relay and
//! deleted once the broker confirmed them.

use async_trait::async_trait;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set, Statement,
};

use super::entity::outbox;
use super::{LOCAL_OUTBOUND, OutboxMode, SqlStore};
use crate::app::ports::{OutboxStore, PublishRecorded, RecordedEvent};
use crate::domain::{Event, EventKind, Millis};
use crate::error::CoreResult;
use crate::wire::envelope;

impl SqlStore {
    /// Writes `events` to the outbox in the caller's transaction, when this
    /// store uses one, and the webhook deliveries they make (always).
    pub(super) async fn record_events<C: ConnectionTrait>(
        &self,
        txn: &C,
        events: &[Event],
        now: Millis,
    ) -> Result<(), sea_orm::DbErr> {
        super::run_all(txn, self.recording(events, now)).await
    }

    /// The statements `record_events` runs, for a caller that runs them
    /// itself (SQLite's writer thread, `append_queue`).
    pub(super) fn recording(&self, events: &[Event], now: Millis) -> Vec<Statement> {
        let mut statements = self.webhook_recording(events, now);
        let (replica, only_outbound) = match &self.outbox {
            OutboxMode::Off => return statements,
            OutboxMode::Broker { replica } => (replica.as_str(), false),
            OutboxMode::OutboundOnly => (LOCAL_OUTBOUND, true),
        };
        let is_outbound = |e: &Event| matches!(e.kind, EventKind::Outbound { .. });
        let recorded: Vec<&Event> = events.iter().filter(|e| !only_outbound || is_outbound(e)).collect();
        if recorded.is_empty() {
            return statements;
        }
        let rows = recorded.into_iter().map(|e| {
            let sealed = envelope::seal(e);
            // With a broker, outbound rows of every replica share one queue
            // (see `relay_outbound`).
            let owner = if !only_outbound && is_outbound(e) { SHARED_OUTBOUND } else { replica };
            outbox::ActiveModel {
                id: Default::default(),
                replica_id: Set(owner.to_string()),
                payload: Set(String::new()),
                routing_key: Set(Some(sealed.routing_key)),
                envelope: Set(Some(sealed.bytes)),
                created_at: Set(now),
            }
        });
        statements.push(outbox::Entity::insert_many(rows).build(self.db.get_database_backend()));
        statements
    }
}

impl SqlStore {
    /// SQLite's relay round, the only relay of its file: publishes `rows`,
    /// then forgets them; if publishing failed they stay.
    async fn publish_then_forget(
        &self,
        rows: Vec<outbox::Model>,
        publish: PublishRecorded<'_>,
    ) -> CoreResult<usize> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        if !ids.is_empty() {
            publish(rows.into_iter().map(recorded).collect()).await?;
            self.forget_events(&ids).await?;
        }
        Ok(ids.len())
    }
}

/// A row as the relay publishes it. Rows written before the bus envelope
/// (migration 3) hold their event as the domain's JSON in `payload`: they
/// are read that one last way and sealed, so that an upgrade loses none of
/// the events waiting in the outbox. One that does not even parse is
/// passed on as it is, and dead-lettered by whoever cannot read it.
fn recorded(row: outbox::Model) -> RecordedEvent {
    match (row.routing_key, row.envelope) {
        (Some(routing_key), Some(bytes)) => RecordedEvent { routing_key, bytes },
        _ => match serde_json::from_str::<Event>(&row.payload) {
            Ok(event) => {
                let sealed = envelope::seal(&event);
                RecordedEvent { routing_key: sealed.routing_key, bytes: sealed.bytes }
            }
            Err(e) => {
                tracing::warn!(row = row.id, error = %e, "an outbox row from before the envelope does not parse");
                RecordedEvent { routing_key: LEGACY_ROUTING_KEY.into(), bytes: row.payload.into_bytes() }
            }
        },
    }
}

/// The oldest of this replica's own rows, `$1`, at most `$2`, locked: the
/// `(replica_id, id)` index reads them in order. Rows another relay holds
/// are skipped, not waited for.
const TAKE_OWN: &str =
    "SELECT * FROM outbox WHERE replica_id = $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";

/// The oldest rows other replicas left for longer than `$1` (theirs is
/// `$2`'s complement, never the shared outbound queue `$3`), at most `$4`,
/// locked. A table scan: the relay asks for it once a second, not every
/// round.
const TAKE_ORPHANS: &str = "SELECT * FROM outbox WHERE created_at < $1 AND replica_id <> $2 \
     AND replica_id <> $3 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED";

/// Deletes the rows a round published (`$1`, bound as one array).
const FORGET: &str = "DELETE FROM outbox WHERE id = ANY($1)";

/// The owner of outbound rows with a broker: no replica, the cluster.
const SHARED_OUTBOUND: &str = "shared-outbound";
/// The PostgreSQL advisory lock that is the outbound turn.
const OUTBOUND_TURN_LOCK: i64 = 0x006c_6976_656f_7574; // "liveout"

/// What marks a row kept as a dead letter (all-in-one channels).
const DEAD_LETTER_PREFIX: &str = "dead-letter.";

/// Where a pre-envelope row that does not parse is published.
const LEGACY_ROUTING_KEY: &str = "legacy.json";

#[async_trait]
impl OutboxStore for SqlStore {
    fn uses_outbox(&self) -> bool {
        matches!(self.outbox, OutboxMode::Broker { .. })
    }

    async fn pending_outbound(&self, routing_key: &str, limit: u64) -> CoreResult<Vec<(i64, Vec<u8>)>> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::ReplicaId.eq(LOCAL_OUTBOUND))
            .filter(outbox::Column::RoutingKey.eq(routing_key))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|r| Some((r.id, r.envelope?))).collect())
    }

    async fn relay_events(
        &self,
        replica: &str,
        orphaned_before: Option<Millis>,
        limit: u64,
        publish: PublishRecorded<'_>,
    ) -> CoreResult<usize> {
        use sea_orm::TransactionTrait;
        if self.db.get_database_backend() != sea_orm::DbBackend::Postgres {
            // SQLite: one process owns the file, so its relay is the only one.
            let mut whose = Condition::any().add(outbox::Column::ReplicaId.eq(replica));
            if let Some(before) = orphaned_before {
                whose = whose.add(outbox::Column::CreatedAt.lt(before));
            }
            let rows = outbox::Entity::find()
                .filter(whose)
                // The shared outbound rows go through `relay_outbound` only.
                .filter(outbox::Column::ReplicaId.ne(SHARED_OUTBOUND))
                .order_by_asc(outbox::Column::Id)
                .limit(limit)
                .all(&self.db)
                .await?;
            return self.publish_then_forget(rows, publish).await;
        }
        // One transaction, so one commit, per round: the rows are locked
        // while they are published and deleted before the commit; a failed
        // publish rolls back and leaves them, and a replica taking the
        // same orphans at once skips the rows this one holds.
        let pg = super::postgres_appends::statement;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let txn = self.db.begin().await?;
        // Orphans first: they are the oldest, and a backlog of this
        // replica's own must not keep them waiting.
        let mut rows = match orphaned_before {
            Some(before) => {
                let orphans = pg(
                    TAKE_ORPHANS,
                    vec![before.into(), replica.into(), SHARED_OUTBOUND.into(), limit.into()],
                );
                outbox::Model::find_by_statement(orphans).all(&txn).await?
            }
            None => Vec::new(),
        };
        let left = limit - rows.len() as i64;
        if left > 0 {
            let own = pg(TAKE_OWN, vec![replica.into(), left.into()]);
            rows.extend(outbox::Model::find_by_statement(own).all(&txn).await?);
        }
        rows.sort_unstable_by_key(|r| r.id);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let n = ids.len();
        if n > 0 {
            if let Err(e) = publish(rows.into_iter().map(recorded).collect()).await {
                // At once, not when the pool gets the connection back: the
                // rows stay locked until then, and the next round would
                // skip them and publish newer rows first.
                let _ = txn.rollback().await;
                return Err(e);
            }
            txn.execute_raw(pg(FORGET, vec![ids.into()])).await?;
        }
        txn.commit().await?;
        Ok(n)
    }

    async fn relay_outbound(&self, limit: u64, publish: PublishRecorded<'_>) -> CoreResult<Option<usize>> {
        use sea_orm::TransactionTrait;
        let shared = || {
            outbox::Entity::find()
                .filter(outbox::Column::ReplicaId.eq(SHARED_OUTBOUND))
                .order_by_asc(outbox::Column::Id)
                .limit(limit)
        };
        if self.db.get_database_backend() != sea_orm::DbBackend::Postgres {
            // SQLite: one process owns the file, so its relay is the only one.
            let rows = shared().all(&self.db).await?;
            return self.publish_then_forget(rows, publish).await.map(Some);
        }
        // The turn is a transaction-scoped advisory lock: a replica that
        // dies holding it releases it with its connection.
        let txn = self.db.begin().await?;
        let lock = sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_try_advisory_xact_lock({OUTBOUND_TURN_LOCK}) AS got"),
        );
        let got = match txn.query_one_raw(lock).await? {
            Some(row) => row.try_get::<bool>("", "got")?,
            None => false,
        };
        if !got {
            txn.rollback().await?;
            return Ok(None);
        }
        let rows = shared().all(&txn).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        if !ids.is_empty() {
            publish(rows.into_iter().map(recorded).collect()).await?;
            outbox::Entity::delete_many()
                .filter(outbox::Column::Id.is_in(ids.iter().copied()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(ids.len()))
    }

    async fn outbox_backlog(&self) -> CoreResult<(u64, Option<Millis>)> {
        use sea_orm::PaginatorTrait;
        let waiting = || {
            outbox::Entity::find()
                .filter(outbox::Column::RoutingKey.not_like(format!("{DEAD_LETTER_PREFIX}%")))
        };
        let rows = waiting().count(&self.db).await?;
        let oldest = waiting().order_by_asc(outbox::Column::Id).one(&self.db).await?.map(|r| r.created_at);
        Ok((rows, oldest))
    }

    async fn keep_dead_letter(&self, id: i64, reason: &str) -> CoreResult<()> {
        let Some(row) = outbox::Entity::find_by_id(id).one(&self.db).await? else { return Ok(()) };
        let key = format!("{DEAD_LETTER_PREFIX}{}", row.routing_key.unwrap_or_default());
        outbox::Entity::update_many()
            .col_expr(outbox::Column::RoutingKey, sea_orm::sea_query::Expr::value(key))
            .col_expr(outbox::Column::Payload, sea_orm::sea_query::Expr::value(reason.to_string()))
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Audience, EventKind};

    fn row(payload: String, sealed: Option<envelope::Sealed>) -> outbox::Model {
        outbox::Model {
            id: 7,
            replica_id: "r".into(),
            payload,
            routing_key: sealed.as_ref().map(|s| s.routing_key.clone()),
            envelope: sealed.map(|s| s.bytes),
            created_at: 0,
        }
    }

    fn revoked() -> Event {
        Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: "a-1".into() })
    }

    /// Two replicas' stores on one fresh database (PostgreSQL when
    /// LIVECHAT_TEST_DATABASE_URL is set), with events recorded by each.
    async fn two_replicas() -> (livechat_test_support::database::TestDatabase, SqlStore, SqlStore) {
        let db = livechat_test_support::database::TestDatabase::fresh().await;
        let replica = |name: &str| OutboxMode::Broker { replica: name.into() };
        let a = SqlStore::connect(&db.url, 4, replica("a")).await.unwrap();
        let b = SqlStore::connect(&db.url, 4, replica("b")).await.unwrap();
        (db, a, b)
    }

    async fn record(store: &SqlStore, first: usize, n: usize, at: Millis) {
        let events: Vec<Event> = (first..first + n).map(|i| revoked_agent(&format!("a-{i}"))).collect();
        store.record_events(&store.db, &events, at).await.unwrap();
    }

    fn revoked_agent(id: &str) -> Event {
        Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: id.into() })
    }

    /// A publish that keeps what it was given (after a pause, so that two
    /// relays overlap), or fails.
    #[derive(Default)]
    struct Broker {
        published: std::sync::Mutex<Vec<String>>,
    }

    impl Broker {
        async fn take(&self, events: Vec<RecordedEvent>) -> CoreResult<()> {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let keys = events.into_iter().map(|e| e.routing_key);
            self.published.lock().unwrap().extend(keys);
            Ok(())
        }

        fn published(&self) -> Vec<String> {
            let mut keys = self.published.lock().unwrap().clone();
            keys.sort();
            keys
        }
    }

    const NOW: Millis = 1_000_000;
    /// The relay's orphan cut-off at `NOW`.
    const ORPHANED: Option<Millis> = Some(NOW - 15_000);

    #[tokio::test]
    async fn a_relay_takes_its_own_rows_and_others_left_behind_never_a_row_twice() {
        let (_db, a, b) = two_replicas().await;
        record(&a, 0, 3, NOW).await;
        record(&b, 3, 2, NOW - 60_000).await; // b died a minute ago
        record(&b, 5, 1, NOW).await; // b is alive and relays this itself

        let broker = Broker::default();
        let publish =
            |events| -> futures::future::BoxFuture<'_, CoreResult<()>> { Box::pin(broker.take(events)) };
        let relay = || a.relay_events("a", ORPHANED, 500, &publish);
        let relayed = if a.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            // Two of a's relays at once (a restart overlapping, or two
            // replicas taking the same orphans): each row goes once.
            let (first, second) = tokio::join!(relay(), relay());
            first.unwrap() + second.unwrap()
        } else {
            relay().await.unwrap()
        };

        let expected: Vec<String> = (0..5).map(|i| format!("agent.a-{i}")).collect();
        assert_eq!(broker.published(), expected);
        assert_eq!(relayed, 5);
        assert_eq!(a.relay_events("a", ORPHANED, 500, &publish).await.unwrap(), 0, "nothing left for a");
        assert_eq!(
            b.relay_events("b", ORPHANED, 500, &publish).await.unwrap(),
            1,
            "b's own row waited for b"
        );
    }

    #[tokio::test]
    async fn rows_whose_publish_failed_stay_for_the_next_round() {
        let (_db, a, b) = two_replicas().await;
        record(&a, 0, 2, NOW).await;
        record(&b, 2, 1, NOW - 60_000).await;
        let failing = |_| -> futures::future::BoxFuture<'_, CoreResult<()>> {
            Box::pin(async { Err(crate::error::CoreError::Unavailable("the broker is down".into())) })
        };
        assert!(a.relay_events("a", ORPHANED, 500, &failing).await.is_err());

        let broker = Broker::default();
        let publish =
            |events| -> futures::future::BoxFuture<'_, CoreResult<()>> { Box::pin(broker.take(events)) };
        assert_eq!(a.relay_events("a", None, 500, &publish).await.unwrap(), 2, "its own rows, not b's yet");
        assert_eq!(broker.published(), ["agent.a-0", "agent.a-1"]);
        assert_eq!(a.relay_events("a", ORPHANED, 500, &publish).await.unwrap(), 1, "b's orphan, when asked");
        assert_eq!(broker.published(), ["agent.a-0", "agent.a-1", "agent.a-2"]);
    }

    #[test]
    fn a_row_keeps_its_envelope_as_written() {
        let sealed = envelope::seal(&revoked());
        let r = recorded(row(String::new(), Some(sealed.clone())));
        assert_eq!((r.routing_key, r.bytes), (sealed.routing_key, sealed.bytes));
    }

    #[test]
    fn a_row_from_before_the_envelope_is_sealed_not_lost() {
        let r = recorded(row(serde_json::to_string(&revoked()).unwrap(), None));
        assert_eq!(r.routing_key, "agent.a-1");
        assert_eq!(envelope::open(&r.bytes), Ok(revoked()));
    }

    #[test]
    fn a_row_that_does_not_parse_is_passed_on_as_it_is() {
        let r = recorded(row("{not json".into(), None));
        assert_eq!(
            (r.routing_key.as_str(), r.bytes.as_slice()),
            (LEGACY_ROUTING_KEY, b"{not json".as_slice())
        );
    }
}
