//! Group commit for PostgreSQL: sends from every room wait in one queue,
//! and a batch writer stores whatever has gathered in one transaction of
//! a few statements, whatever its size.
//!
//! A transaction per send is five round trips (BEGIN, the bump, the INSERT,
//! the outbox rows, COMMIT) and a WAL flush, for each message. Here a batch
//! costs the same few statements for all its sends: one `UPDATE … FROM
//! UNNEST(…)` locks the rooms' rows in id order first (a materialised
//! `FOR UPDATE` CTE: two replicas' batches never deadlock), bumps every
//! room's counter under its guard and returns the rooms, one `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO
//! NOTHING RETURNING id` stores the messages (a repeated client_id is
//! skipped, and its room gets its seq back), one set of statements records
//! every change's outbox rows and webhook deliveries
//! (`SqlStore::recording`), then COMMIT. Arrays are bound as parameters, so
//! each statement has one shape and stays prepared whatever the batch size.
//!
//! Up to `CONCURRENT_BATCHES` batches are written at once, on pooled
//! connections; while they run, the next sends gather. A room's sends
//! arrive one at a time (`app::room_order`), so a room is in at most one
//! batch; the writer still holds a second send of a room back for the next
//! batch rather than trust that.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait, Value};
use tokio::sync::{Semaphore, mpsc};

use super::append_queue::{AppendJob, MAX_BATCH, Outcome, PendingSend, QUEUE, answer, take_replies};
use super::entity::room;
use super::messages::stored_message;
use super::{SqlStore, convert, run_all};
use crate::app::ports::SendGuard;
use crate::domain::{Message, RoomStatus};
use crate::error::{CoreError, CoreResult};

/// Batches in flight at once, each on its own pooled connection: one
/// gathers while the other is written. More make smaller batches, and so
/// more commits and statements per message for the same work: at
/// saturation four gave 9 % less throughput than two, and one leaves
/// the writer idle during each batch's round trips (BENCHMARKS.md,
/// session 15).
const CONCURRENT_BATCHES: usize = 2;

/// Starts the writer; it ends when every sender is dropped.
pub(super) fn start(store: SqlStore) -> mpsc::Sender<AppendJob> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(gather(store, rx));
    tx
}

/// Takes whatever sends are waiting whenever a batch may start.
async fn gather(store: SqlStore, mut rx: mpsc::Receiver<AppendJob>) {
    let in_flight = Arc::new(Semaphore::new(CONCURRENT_BATCHES));
    let mut held_back: Vec<AppendJob> = Vec::new();
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut jobs = std::mem::take(&mut held_back);
        if jobs.is_empty() && rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (batch, later) = one_per_room(jobs);
        held_back = later;
        let store = store.clone();
        tokio::spawn(async move {
            write_batch(&store, batch).await;
            drop(permit);
        });
    }
}

/// The jobs sorted by room, the first of each room in the batch and any
/// other held back for the next one (one bump per room and statement).
fn one_per_room(mut jobs: Vec<AppendJob>) -> (Vec<AppendJob>, Vec<AppendJob>) {
    jobs.sort_by(|a, b| a.room_id.cmp(&b.room_id));
    let mut batch: Vec<AppendJob> = Vec::with_capacity(jobs.len());
    let mut later = Vec::new();
    for job in jobs {
        match batch.last() {
            Some(last) if last.room_id == job.room_id => later.push(job),
            _ => batch.push(job),
        }
    }
    (batch, later)
}

async fn write_batch(store: &SqlStore, mut batch: Vec<AppendJob>) {
    let (sends, replies) = take_replies(&mut batch);
    let written = AssertUnwindSafe(write_in_one_transaction(store, sends)).catch_unwind().await;
    answer(replies, written, |e: &CoreError| match e {
        CoreError::Unavailable(why) => CoreError::Unavailable(why.clone()),
        e => CoreError::Unexpected(anyhow::anyhow!("storing a batch of sends: {e}")),
    });
}

/// Locks the batch's rooms in one order (so that two batches of two
/// replicas wanting the same rooms queue instead of deadlocking: a
/// `FOR UPDATE` CTE is materialised, in its `ORDER BY`, before the update
/// reads it), bumps every room under its guard and reads the rooms back;
/// one round trip.
const BUMP: &str = "WITH locked AS MATERIALIZED \
     (SELECT id FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE) \
     UPDATE rooms AS r SET last_seq = r.last_seq + 1, last_message_at = v.at \
     FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS v(id, at, agent), locked \
     WHERE r.id = v.id AND locked.id = v.id AND CASE WHEN v.agent = '' THEN r.status IN ($4, $5) \
     ELSE r.status = $5 AND r.agent_id = v.agent END \
     RETURNING r.*";

/// Stores the messages; those whose client_id was stored before are not
/// returned.
const INSERT_MESSAGES: &str = "INSERT INTO messages (id, room_id, seq, sender_kind, sender_id, \
     sender_name, content, client_id, created_at) \
     SELECT id, room_id, seq, sender_kind, sender_id, sender_name, content, \
     CASE WHEN has_client_id THEN client_id END, created_at \
     FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::text[], $9::bool[], $10::bigint[]) \
     AS v(id, room_id, seq, sender_kind, sender_id, sender_name, content, client_id, has_client_id, created_at) \
     ON CONFLICT DO NOTHING RETURNING id";

/// Gives rooms whose send was a repeat their seq back.
const UNDO_BUMPS: &str = "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = ANY($1)";

/// A PostgreSQL statement with its values bound (arrays as one value each).
pub(super) fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// One column of a batch, bound as an array.
fn column<T>(values: impl Iterator<Item = T>) -> Value
where
    Vec<T>: Into<Value>,
{
    values.collect::<Vec<T>>().into()
}

async fn write_in_one_transaction(store: &SqlStore, sends: Vec<PendingSend>) -> CoreResult<Vec<Outcome>> {
    // Event makers are Send, not Sync: no borrow of them lives across an
    // await, so the columns are built up front.
    let room_ids: Vec<String> = sends.iter().map(|s| s.0.clone()).collect();
    let bump = statement(
        BUMP,
        [
            room_ids.into(),
            column(sends.iter().map(|s| s.2.created_at)),
            column(sends.iter().map(|(_, guard, ..)| match guard {
                SendGuard::Visitor => String::new(),
                SendGuard::EngagedAgent(agent) => agent.clone(),
            })),
            RoomStatus::Queued.as_str().into(),
            RoomStatus::Engaged.as_str().into(),
        ],
    );
    let txn = store.db.begin().await?;
    let mut rooms: HashMap<String, room::Model> = room::Model::find_by_statement(bump)
        .all(&txn)
        .await?
        .into_iter()
        .map(|row| (row.id.clone(), row))
        .collect();

    // Each send the guard let through becomes a message with its room's
    // seq; None for one it refused.
    let candidates: Vec<Option<(Message, room::Model, _)>> = sends
        .into_iter()
        .map(|(room_id, _, msg, events)| {
            let row = rooms.remove(&room_id)?;
            Some((stored_message(room_id, row.last_seq, msg), row, events))
        })
        .collect();
    let stored: std::collections::HashSet<String> = if candidates.iter().all(Option::is_none) {
        Default::default()
    } else {
        let insert = {
            let messages = candidates.iter().flatten().map(|c| &c.0);
            statement(
                INSERT_MESSAGES,
                [
                    column(messages.clone().map(|m| m.id.clone())),
                    column(messages.clone().map(|m| m.room_id.clone())),
                    column(messages.clone().map(|m| i64::try_from(m.seq).unwrap_or(i64::MAX))),
                    column(messages.clone().map(|m| m.sender.kind.as_str().to_string())),
                    column(messages.clone().map(|m| m.sender.id.clone())),
                    column(messages.clone().map(|m| m.sender.name.clone())),
                    column(messages.clone().map(|m| m.content.clone())),
                    column(messages.clone().map(|m| m.client_id.clone().unwrap_or_default())),
                    column(messages.clone().map(|m| m.client_id.is_some())),
                    column(messages.map(|m| m.created_at)),
                ],
            )
        };
        let rows = txn.query_all_raw(insert).await?;
        rows.iter().map(|row| row.try_get::<String>("", "id")).collect::<Result<_, _>>()?
    };
    let repeated: Vec<String> = candidates
        .iter()
        .flatten()
        .filter(|c| !stored.contains(&c.0.id))
        .map(|c| c.0.room_id.clone())
        .collect();
    if !repeated.is_empty() {
        txn.execute_raw(statement(UNDO_BUMPS, [column(repeated.into_iter())])).await?;
    }

    // Every change's events, recorded together; each send keeps its own.
    let mut outcomes = Vec::with_capacity(candidates.len());
    let mut all_events = Vec::new();
    let mut counts = Vec::new();
    let mut now = 0;
    for candidate in candidates {
        let Some((message, row, events)) = candidate else {
            outcomes.push(Outcome::Refused);
            continue;
        };
        if !stored.contains(&message.id) {
            outcomes.push(Outcome::Duplicate {
                room_id: message.room_id,
                sender: message.sender,
                client_id: message.client_id.unwrap_or_default(),
            });
            continue;
        }
        let room = convert::room(row)?;
        let made = events(&room, std::slice::from_ref(&message));
        now = now.max(message.created_at);
        counts.push(made.len());
        all_events.extend(made);
        outcomes.push(Outcome::Stored(message, Vec::new()));
    }
    run_all(&txn, store.recording(&all_events, now)).await?;
    txn.commit().await?;

    let mut all_events = all_events.into_iter();
    let mut counts = counts.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Stored(message, _) => {
                let n = counts.next().unwrap_or(0);
                Outcome::Stored(message, all_events.by_ref().take(n).collect())
            }
            other => other,
        })
        .collect())
}
