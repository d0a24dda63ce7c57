//! Webhook endpoints and their deliveries. A change's deliveries are
//! written by `record_occurrences`, inside the change's transaction, for
//! the endpoints this replica last loaded (`refresh_webhook_routes`, after
//! every change of an endpoint here and every second), and counted in the
//! queue of their endpoint and room. Dispatchers of any replica lease due
//! queues and try each one's oldest delivery, so each try is made by one
//! of them, in order per room, and finding work never scans a backlog.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, Statement, Value,
};

use super::SqlStore;
use super::entity::webhook_queue::{self as queue, IDLE};
use super::entity::{webhook, webhook_delivery as delivery};
use crate::app::ports::{Attempt, DueDelivery, WebhookStore};
use crate::domain::webhook::{Delivery, DeliveryState, Occurrence, Subject, Topic, Webhook};
use crate::domain::{Event, Millis, new_id};
use crate::error::CoreResult;
use crate::wire;

/// Each enabled endpoint's id with the event types it takes.
type Routes = Arc<[(String, Vec<Topic>)]>;

/// Which enabled endpoint takes which event types, as last loaded.
#[derive(Debug, Default, Clone)]
pub struct WebhookRoutes(Arc<RwLock<Routes>>);

impl WebhookRoutes {
    fn get(&self) -> Routes {
        self.0.read().expect("routes lock").clone()
    }

    fn set(&self, routes: Vec<(String, Vec<Topic>)>) {
        *self.0.write().expect("routes lock") = routes.into();
    }
}

fn from_row(r: webhook::Model) -> Webhook {
    Webhook {
        id: r.id,
        url: r.url,
        topics: r.events.split(',').filter_map(Topic::parse).collect(),
        enabled: r.enabled,
        created_at: r.created_at,
        secret: r.secret,
    }
}

fn to_row(w: &Webhook) -> webhook::ActiveModel {
    webhook::ActiveModel {
        id: Set(w.id.clone()),
        url: Set(w.url.clone()),
        events: Set(w.topics.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")),
        enabled: Set(w.enabled),
        secret: Set(w.secret.clone()),
        created_at: Set(w.created_at),
    }
}

fn delivery_from_row(r: delivery::Model) -> Delivery {
    Delivery {
        id: r.delivery_id,
        webhook_id: r.webhook_id,
        topic: r.topic,
        room_id: r.room_key,
        state: DeliveryState::parse(&r.state).unwrap_or(DeliveryState::Pending),
        attempts: r.attempts.max(0) as u32,
        created_at: r.created_at,
        last_attempt_at: r.last_attempt_at,
        next_attempt_at: r.next_attempt_at,
        last_status: r.last_status.clamp(0, 999) as u16,
        last_error: r.last_error,
        last_response_ms: r.last_response_ms.max(0) as u32,
    }
}

fn new_delivery(
    webhook_id: &str,
    o: &Occurrence,
    data: &serde_json::Value,
    now: Millis,
) -> delivery::ActiveModel {
    let delivery_id = new_id();
    delivery::ActiveModel {
        id: Default::default(),
        body: Set(wire::webhook::body(&delivery_id, o.topic.as_str(), now, data)),
        delivery_id: Set(delivery_id),
        webhook_id: Set(webhook_id.to_string()),
        room_key: Set(o.room_id().to_string()),
        topic: Set(o.topic.as_str().to_string()),
        state: Set(DeliveryState::Pending.as_str().to_string()),
        attempts: Set(0),
        created_at: Set(now),
        next_attempt_at: Set(now),
        last_attempt_at: Set(0),
        last_status: Set(0),
        last_error: Set(None),
        last_response_ms: Set(0),
    }
}

impl SqlStore {
    /// The statements that write a change's webhook deliveries (none when
    /// no endpoint is registered), to run in the change's transaction.
    pub(super) fn webhook_recording(&self, events: &[Event], now: Millis) -> Vec<Statement> {
        if self.webhook_routes.get().is_empty() {
            return Vec::new();
        }
        self.occurrences_recording(&crate::domain::webhook::occurrences(events), now)
    }

    /// Writes one delivery per occurrence and endpoint that takes it.
    pub(super) async fn record_occurrences<C: ConnectionTrait>(
        &self,
        txn: &C,
        occurrences: &[Occurrence],
        now: Millis,
    ) -> Result<(), sea_orm::DbErr> {
        super::run_all(txn, self.occurrences_recording(occurrences, now)).await
    }

    /// One delivery per occurrence and endpoint that takes it, and the
    /// count of each queue (endpoint, room) that gained some.
    fn occurrences_recording(&self, occurrences: &[Occurrence], now: Millis) -> Vec<Statement> {
        let routes = self.webhook_routes.get();
        let mut rows = Vec::new();
        // How many deliveries each queue (endpoint, room) gains.
        let mut gained: Vec<((&str, &str), i64)> = Vec::new();
        for o in occurrences {
            let mut data = None;
            for (webhook_id, _) in routes.iter().filter(|(_, topics)| topics.contains(&o.topic)) {
                let data = data.get_or_insert_with(|| wire::webhook::data(o));
                rows.push(new_delivery(webhook_id, o, data, now));
                let key = (webhook_id.as_str(), o.room_id());
                match gained.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, n)) => *n += 1,
                    None => gained.push((key, 1)),
                }
            }
        }
        if rows.is_empty() {
            return Vec::new();
        }
        let mut statements = vec![delivery::Entity::insert_many(rows).build(self.db.get_database_backend())];
        statements.extend(
            gained.into_iter().map(|((webhook_id, room_key), n)| self.enqueue(webhook_id, room_key, n, now)),
        );
        statements
    }

    /// Counts `n` more pending deliveries in the queue of an endpoint and
    /// room, due now if it was idle (a queue waiting on a retry keeps its
    /// time). One statement on the queue's row, which it locks, so that it
    /// and the dispatcher's settling of the same queue follow each other.
    fn enqueue(&self, webhook_id: &str, room_key: &str, n: i64, now: Millis) -> Statement {
        self.statement(
            "INSERT INTO webhook_queues (webhook_id, room_key, pending, due_at, lease_until, updated_at) \
             VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (webhook_id, room_key) DO UPDATE SET \
             pending = webhook_queues.pending + ?, \
             due_at = CASE WHEN webhook_queues.pending = 0 THEN ? ELSE webhook_queues.due_at END, \
             updated_at = ?",
            vec![
                webhook_id.into(),
                room_key.into(),
                n.into(),
                now.into(),
                now.into(),
                n.into(),
                now.into(),
                now.into(),
            ],
        )
    }

    /// `?` placeholders as this backend writes them.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = self.db.get_database_backend();
        let sql = if backend == DbBackend::Postgres {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            sql.to_string()
        };
        Statement::from_sql_and_values(backend, sql, values)
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, w: &Webhook) -> CoreResult<()> {
        to_row(w).insert(&self.db).await?;
        Ok(())
    }

    async fn webhooks(&self) -> CoreResult<Vec<Webhook>> {
        let rows = webhook::Entity::find()
            .order_by_asc(webhook::Column::CreatedAt)
            .order_by_asc(webhook::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    async fn webhook(&self, id: &str) -> CoreResult<Option<Webhook>> {
        Ok(webhook::Entity::find_by_id(id).one(&self.db).await?.map(from_row))
    }

    async fn update_webhook(&self, w: &Webhook) -> CoreResult<bool> {
        let done = webhook::Entity::update_many()
            .col_expr(webhook::Column::Url, Expr::value(w.url.clone()))
            .col_expr(
                webhook::Column::Events,
                Expr::value(w.topics.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")),
            )
            .col_expr(webhook::Column::Enabled, Expr::value(w.enabled))
            .filter(webhook::Column::Id.eq(&w.id))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    async fn delete_webhook(&self, id: &str) -> CoreResult<bool> {
        let (_turn, txn) = self.begin_write().await?;
        delivery::Entity::delete_many().filter(delivery::Column::WebhookId.eq(id)).exec(&txn).await?;
        queue::Entity::delete_many().filter(queue::Column::WebhookId.eq(id)).exec(&txn).await?;
        let done = webhook::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(done.rows_affected > 0)
    }

    async fn refresh_webhook_routes(&self) -> CoreResult<bool> {
        let rows = webhook::Entity::find().filter(webhook::Column::Enabled.eq(true)).all(&self.db).await?;
        let any = !rows.is_empty();
        self.webhook_routes.set(rows.into_iter().map(from_row).map(|w| (w.id, w.topics)).collect());
        Ok(any)
    }

    async fn queue_ping(&self, webhook_id: &str, now: Millis) -> CoreResult<Delivery> {
        let o =
            Occurrence { topic: Topic::Ping, subject: Subject::Ping { webhook_id: webhook_id.to_string() } };
        let row = new_delivery(webhook_id, &o, &wire::webhook::data(&o), now);
        let (_turn, txn) = self.begin_write().await?;
        let stored = row.insert(&txn).await?;
        txn.execute_raw(self.enqueue(webhook_id, "", 1, now)).await?;
        txn.commit().await?;
        Ok(delivery_from_row(stored))
    }

    async fn claim_due_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        busy: &std::collections::HashMap<String, usize>,
        per_endpoint: usize,
        limit: u64,
    ) -> CoreResult<Vec<DueDelivery>> {
        let full: Vec<String> =
            busy.iter().filter(|(_, n)| **n >= per_endpoint).map(|(id, _)| id.clone()).collect();
        let mut find = queue::Entity::find()
            .filter(queue::Column::Pending.gt(0))
            .filter(queue::Column::DueAt.lte(now))
            .filter(queue::Column::LeaseUntil.lte(now))
            .order_by_asc(queue::Column::DueAt)
            .limit(limit.saturating_mul(4));
        if !full.is_empty() {
            find = find.filter(queue::Column::WebhookId.is_not_in(full));
        }
        let due = find.all(&self.db).await?;
        if due.is_empty() {
            return Ok(vec![]);
        }
        let endpoints: std::collections::HashMap<String, Webhook> = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(due.iter().map(|q| q.webhook_id.clone())))
            .filter(webhook::Column::Enabled.eq(true))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), from_row(r)))
            .collect();
        let mut slots = busy.clone();
        let chosen: Vec<queue::Model> = due
            .into_iter()
            .filter(|q| endpoints.contains_key(&q.webhook_id))
            .filter(|q| {
                let n = slots.entry(q.webhook_id.clone()).or_insert(0);
                *n += 1;
                *n <= per_endpoint
            })
            .take(limit as usize)
            .collect();
        let mut claimed = Vec::with_capacity(chosen.len());
        for q in chosen {
            let lease = new_id();
            let (_turn, txn) = self.begin_write().await?;
            let leased = queue::Entity::update_many()
                .col_expr(queue::Column::LeaseUntil, Expr::value(lease_until))
                .col_expr(queue::Column::LeaseToken, Expr::value(Some(lease.clone())))
                .filter(queue::Column::WebhookId.eq(&q.webhook_id))
                .filter(queue::Column::RoomKey.eq(&q.room_key))
                .filter(queue::Column::LeaseUntil.lte(now))
                .exec(&txn)
                .await?;
            if leased.rows_affected == 0 {
                // Another dispatcher leased it meanwhile.
                txn.rollback().await?;
                continue;
            }
            let head = delivery::Entity::find()
                .filter(delivery::Column::WebhookId.eq(&q.webhook_id))
                .filter(delivery::Column::RoomKey.eq(&q.room_key))
                .filter(delivery::Column::State.eq(DeliveryState::Pending.as_str()))
                .order_by_asc(delivery::Column::Id)
                .one(&txn)
                .await?;
            let Some(head) = head else {
                // The count ran ahead of the rows: the queue is idle.
                queue::Entity::update_many()
                    .col_expr(queue::Column::Pending, Expr::value(0i64))
                    .col_expr(queue::Column::DueAt, Expr::value(IDLE))
                    .col_expr(queue::Column::LeaseUntil, Expr::value(0i64))
                    .filter(queue::Column::WebhookId.eq(&q.webhook_id))
                    .filter(queue::Column::RoomKey.eq(&q.room_key))
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                continue;
            };
            txn.commit().await?;
            let w = &endpoints[&q.webhook_id];
            claimed.push(DueDelivery {
                row: head.id,
                lease,
                delivery_id: head.delivery_id,
                webhook_id: head.webhook_id,
                room_key: head.room_key,
                url: w.url.clone(),
                secret: w.secret.clone(),
                topic: head.topic,
                body: head.body,
                attempts: head.attempts.max(0) as u32,
                created_at: head.created_at,
            });
        }
        Ok(claimed)
    }

    async fn settle_delivery(&self, due: &DueDelivery, a: &Attempt) -> CoreResult<()> {
        let (_turn, txn) = self.begin_write().await?;
        let settled = a.state != DeliveryState::Pending;
        // Settled: the queue's next delivery is due now, or it is idle.
        // Retried: the same delivery is due then.
        let next = if settled {
            let more = sea_orm::sea_query::ExprTrait::gt(Expr::col(queue::Column::Pending), 1);
            sea_orm::sea_query::CaseStatement::new().case(more, a.at).finally(IDLE).into()
        } else {
            Expr::value(a.retry_at)
        };
        let mut update = queue::Entity::update_many()
            .col_expr(queue::Column::DueAt, next)
            .col_expr(queue::Column::LeaseUntil, Expr::value(0i64))
            .col_expr(queue::Column::LeaseToken, Expr::value(Option::<String>::None))
            .col_expr(queue::Column::UpdatedAt, Expr::value(a.at))
            .filter(queue::Column::WebhookId.eq(&due.webhook_id))
            .filter(queue::Column::RoomKey.eq(&due.room_key))
            .filter(queue::Column::LeaseToken.eq(&due.lease));
        if settled {
            let less = sea_orm::sea_query::ExprTrait::sub(Expr::col(queue::Column::Pending), 1);
            update = update.col_expr(queue::Column::Pending, less);
        }
        if update.exec(&txn).await?.rows_affected == 0 {
            // The lease ran out and another dispatcher has the queue.
            txn.rollback().await?;
            return Ok(());
        }
        delivery::Entity::update_many()
            .col_expr(delivery::Column::State, Expr::value(a.state.as_str()))
            .col_expr(
                delivery::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(delivery::Column::Attempts), 1),
            )
            .col_expr(delivery::Column::LastAttemptAt, Expr::value(a.at))
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(a.retry_at))
            .col_expr(delivery::Column::LastStatus, Expr::value(i32::from(a.status)))
            .col_expr(delivery::Column::LastError, Expr::value(a.error.clone()))
            .col_expr(
                delivery::Column::LastResponseMs,
                Expr::value(a.response_ms.min(i32::MAX as u32) as i32),
            )
            .filter(delivery::Column::Id.eq(due.row))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn deliveries(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: u64,
    ) -> CoreResult<Vec<Delivery>> {
        let mut q = delivery::Entity::find().filter(delivery::Column::WebhookId.eq(webhook_id));
        if let Some(before) = before {
            let Some(cursor) = delivery::Entity::find()
                .filter(delivery::Column::DeliveryId.eq(before))
                .one(&self.db)
                .await?
            else {
                return Ok(vec![]);
            };
            q = q.filter(delivery::Column::Id.lt(cursor.id));
        }
        let rows = q.order_by_desc(delivery::Column::Id).limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(delivery_from_row).collect())
    }

    async fn prune_deliveries(&self, before: Millis) -> CoreResult<u64> {
        let (_turn, txn) = self.begin_write().await?;
        let done = delivery::Entity::delete_many()
            .filter(delivery::Column::State.ne(DeliveryState::Pending.as_str()))
            .filter(delivery::Column::CreatedAt.lt(before))
            .exec(&txn)
            .await?;
        // A queue that gains a delivery meanwhile is counted up under its
        // row lock, so this condition sees it and leaves it.
        queue::Entity::delete_many()
            .filter(queue::Column::Pending.eq(0))
            .filter(queue::Column::UpdatedAt.lt(before))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(done.rows_affected)
    }
}
