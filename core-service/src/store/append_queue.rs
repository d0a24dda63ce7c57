//! Group commit for SQLite: sends from every room wait in one queue, and a
//! single writer task stores whatever has gathered in one transaction.
//!
//! SQLite has one writer at a time and sqlx runs each statement on a worker
//! thread, so a transaction per message costs four thread hand-offs
//! (BEGIN, UPDATE, INSERT, COMMIT) and a turn at the write lock, and the
//! writer waits out every hand-off: under load the hand-offs, not the CPU,
//! set the pace. A batch of N is therefore written in four statements
//! whatever N is: BEGIN; one UPDATE that bumps every room's counter (each
//! row under its own sender's guard) and returns the rooms; one INSERT of
//! every message; COMMIT. Under load, N grows by itself. Ordering is kept
//! by the callers: a room's sends are serialised before they get here, so
//! a batch holds at most one message per room (if it ever held two, the
//! batch is written one message at a time instead).
//!
//! A repeated client_id is skipped by the INSERT (`ON CONFLICT DO NOTHING`),
//! the writer gives that room its seq back, and the rest of the batch
//! commits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use tokio::sync::{mpsc, oneshot};

use super::entity::room;
use super::messages::{append_in, stored_message, undo_bump};
use super::{SqlStore, convert, is_unique_violation};
use crate::app::ports::{Appended, MakeEvents, MessageStore, NewMessage, SendGuard};
use crate::domain::{Event, Message, RoomStatus, Sender};
use crate::error::{CoreError, CoreResult};

/// Most sends committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// Sends waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

/// One send waiting to be stored.
struct AppendJob {
    room_id: String,
    guard: SendGuard,
    msg: NewMessage,
    events: MakeEvents<'static>,
    reply: oneshot::Sender<CoreResult<Appended>>,
}

/// The sending side; the writer task ends when every clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct AppendQueue {
    tx: mpsc::Sender<AppendJob>,
}

impl AppendQueue {
    /// Starts the writer task on `store`.
    pub fn start(store: SqlStore) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let wal = Arc::new(AtomicU64::new(0));
        tokio::spawn(checkpoint_beside_writer(store.clone(), wal.clone(), tx.downgrade()));
        tokio::spawn(write_batches(store, rx, wal));
        Self { tx }
    }

    /// Waits until the send's batch is committed.
    pub async fn append(
        &self,
        room_id: &str,
        guard: SendGuard,
        msg: NewMessage,
        events: MakeEvents<'static>,
    ) -> CoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        let job = AppendJob { room_id: room_id.to_string(), guard, msg, events, reply };
        self.tx.send(job).await.map_err(|_| CoreError::Unavailable("the writer has stopped".into()))?;
        answer.await.map_err(|_| CoreError::Unavailable("the writer has stopped".into()))?
    }
}

async fn write_batches(store: SqlStore, mut rx: mpsc::Receiver<AppendJob>, wal: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("livechat_store_append_batch").record(batch.len() as f64);
        store.write_batch(&mut batch).await;
        if wal.load(Ordering::Relaxed) > WAL_FRAMES_BEFORE_PAUSE {
            // The next write starts the WAL over (or, if a reader held it
            // back, the next checkpoint beside the writer says so again).
            store.checkpoint_wal(true).await;
            wal.store(0, Ordering::Relaxed);
        }
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// WAL frames (4 KiB pages) past which the writer pauses for a checkpoint.
const WAL_FRAMES_BEFORE_PAUSE: u64 = 16_384;

/// Copies the WAL into the database file every second, beside the writer:
/// a PASSIVE checkpoint neither waits for nor blocks it, and under a
/// normal load it catches up between two writes, so that the next write
/// starts the WAL over. (SQLite's own automatic checkpoint runs inside the
/// commit that fills the WAL, and the whole batch would wait for it.)
/// Under a sustained load it never catches up and the WAL would grow by
/// ~20 KB per message without end: past `WAL_FRAMES_BEFORE_PAUSE` the
/// writer takes the next checkpoint in its own turn. Stops with the store.
async fn checkpoint_beside_writer(store: SqlStore, wal: Arc<AtomicU64>, alive: mpsc::WeakSender<AppendJob>) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if alive.upgrade().is_none() {
            return;
        }
        wal.store(store.checkpoint_wal(false).await, Ordering::Relaxed);
    }
}

/// What one send came to inside the batch's transaction.
enum Outcome {
    Stored(Message, Vec<Event>),
    Refused,
    /// Its client_id was stored before: look the message up after commit.
    Duplicate {
        room_id: String,
        sender: Sender,
        client_id: String,
    },
}

/// A send without its reply channel, as the transaction consumes it.
type PendingSend = (String, SendGuard, NewMessage, MakeEvents<'static>);

impl SqlStore {
    /// A PASSIVE checkpoint (readers are never waited for); the frames in
    /// the WAL it found. `in_turn`: holding the writers' turn, so that no
    /// frame is appended while it runs: it then copies every frame, and
    /// the next write starts the WAL over from its beginning.
    async fn checkpoint_wal(&self, in_turn: bool) -> u64 {
        let _turn = match (&self.writer, in_turn) {
            (Some(w), true) => Some(w.lock().await),
            _ => None,
        };
        let done = self
            .db
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)"))
            .await;
        match done {
            Ok(Some(row)) => row.try_get_by_index::<i64>(1).map_or(0, |frames| frames.max(0) as u64),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                0
            }
        }
    }

    async fn write_batch(&self, batch: &mut Vec<AppendJob>) {
        let mut replies = Vec::with_capacity(batch.len());
        let mut sends = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            replies.push(job.reply);
            sends.push((job.room_id, job.guard, job.msg, job.events));
        }
        match self.write_in_one_transaction(sends).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let answer = match outcome {
                        Outcome::Stored(m, events) => Ok(Appended::Stored(m, events)),
                        Outcome::Refused => Ok(Appended::Refused),
                        Outcome::Duplicate { room_id, sender, client_id } => {
                            match self.by_client_id(&room_id, &sender, &client_id).await {
                                Ok(Some(m)) => Ok(Appended::Duplicate(m)),
                                Ok(None) => Err(CoreError::Unexpected(anyhow::anyhow!(
                                    "client_id {client_id} conflicted but is not stored"
                                ))),
                                Err(e) => Err(e),
                            }
                        }
                    };
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, sends = replies.len(), "a batch of sends failed");
                for reply in replies {
                    let _ = reply.send(Err(CoreError::from(e.clone())));
                }
            }
        }
    }

    async fn write_in_one_transaction(
        &self,
        sends: Vec<PendingSend>,
    ) -> Result<Vec<Outcome>, sea_orm::DbErr> {
        let mut rooms = HashSet::with_capacity(sends.len());
        if sends.iter().all(|(room_id, ..)| rooms.insert(room_id.as_str())) {
            self.write_in_four_statements(sends).await
        } else {
            self.write_one_by_one(sends).await
        }
    }

    /// The batch as BEGIN, one UPDATE, one INSERT, COMMIT (rooms distinct).
    async fn write_in_four_statements(
        &self,
        sends: Vec<PendingSend>,
    ) -> Result<Vec<Outcome>, sea_orm::DbErr> {
        let (_turn, txn) = self.begin_write().await?;
        let mut bumped: HashMap<String, room::Model> = txn
            .query_all_raw(bump_rooms(&sends))
            .await?
            .iter()
            .map(|row| room::Model::from_query_result(row, "").map(|r| (r.id.clone(), r)))
            .collect::<Result<_, _>>()?;

        // The messages whose room took them, with their seqs; None: refused.
        let taken: Vec<Option<(Message, MakeEvents<'static>)>> = sends
            .into_iter()
            .map(|(room_id, _guard, msg, events)| {
                let seq = bumped.get(&room_id)?.last_seq;
                Some((stored_message(room_id, seq, msg), events))
            })
            .collect();
        let inserted: HashSet<String> = if taken.iter().any(Option::is_some) {
            let messages = taken.iter().flatten().map(|(m, _)| m);
            txn.query_all_raw(insert_messages(messages))
                .await?
                .iter()
                .map(|row| row.try_get_by_index::<String>(0))
                .collect::<Result<_, _>>()?
        } else {
            HashSet::new()
        };

        let mut result = Vec::with_capacity(taken.len());
        for taken in taken {
            let Some((message, events)) = taken else {
                result.push(Outcome::Refused);
                continue;
            };
            if !inserted.contains(&message.id) {
                // Its client_id was used before: give the room its seq back.
                undo_bump(&txn, &message.room_id).await?;
                result.push(Outcome::Duplicate {
                    room_id: message.room_id,
                    sender: message.sender,
                    client_id: message.client_id.unwrap_or_default(),
                });
                continue;
            }
            // Rooms are distinct in the batch: each row is used once.
            let row = bumped.remove(&message.room_id).expect("bumped above");
            let room = convert::room(row).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            let events = events(&room, std::slice::from_ref(&message));
            self.record_events(&txn, &events, message.created_at).await?;
            result.push(Outcome::Stored(message, events));
        }
        txn.commit().await?;
        Ok(result)
    }

    /// The batch one message at a time (two statements each).
    async fn write_one_by_one(&self, sends: Vec<PendingSend>) -> Result<Vec<Outcome>, sea_orm::DbErr> {
        let mut outcomes = Vec::with_capacity(sends.len());
        let (_turn, txn) = self.begin_write().await?;
        for (room_id, guard, msg, events) in sends {
            let sender = msg.sender.clone();
            let client_id = msg.client_id.clone();
            let now = msg.created_at;
            match append_in(&txn, &room_id, Some(&guard), msg).await {
                Ok(Some((message, row))) => {
                    let room = convert::room(row).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
                    let events = events(&room, std::slice::from_ref(&message));
                    self.record_events(&txn, &events, now).await?;
                    outcomes.push(Outcome::Stored(message, events));
                }
                Ok(None) => outcomes.push(Outcome::Refused),
                Err(e) if is_unique_violation(&e) && client_id.is_some() => {
                    // Only the INSERT was undone: give the room its seq back.
                    undo_bump(&txn, &room_id).await?;
                    let client_id = client_id.expect("checked");
                    outcomes.push(Outcome::Duplicate { room_id, sender, client_id });
                }
                Err(e) => return Err(e),
            }
        }
        txn.commit().await?;
        Ok(outcomes)
    }
}

/// `?, ?, …` for `n` values.
fn placeholders(n: usize) -> String {
    let mut s = "?, ".repeat(n);
    s.truncate(s.len().saturating_sub(2));
    s
}

/// One UPDATE for the whole batch: each room's counter goes up by one if
/// that room still takes its sender's message (the same guard as
/// `append_in`), and the rooms come back with their new seqs.
fn bump_rooms(sends: &[PendingSend]) -> Statement {
    let mut values: Vec<Value> = Vec::with_capacity(sends.len() * 4);
    let mut last_message_at = String::from("CASE id");
    let mut guard = String::from("CASE id");
    for (room_id, _, msg, _) in sends {
        last_message_at.push_str(" WHEN ? THEN ?");
        values.push(room_id.clone().into());
        values.push(msg.created_at.into());
    }
    for (room_id, guard_of, _, _) in sends {
        values.push(room_id.clone().into());
        match guard_of {
            SendGuard::Visitor => guard.push_str(" WHEN ? THEN status IN (?, ?)"),
            SendGuard::EngagedAgent(agent) => {
                guard.push_str(" WHEN ? THEN status = ? AND agent_id = ?");
                values.push(RoomStatus::Engaged.as_str().into());
                values.push(agent.clone().into());
                continue;
            }
        }
        values.push(RoomStatus::Queued.as_str().into());
        values.push(RoomStatus::Engaged.as_str().into());
    }
    last_message_at.push_str(" END");
    guard.push_str(" ELSE 0 END");
    values.extend(sends.iter().map(|(room_id, ..)| Value::from(room_id.clone())));
    let sql = format!(
        "UPDATE rooms SET last_seq = last_seq + 1, last_message_at = {last_message_at} \
         WHERE ({guard}) AND id IN ({}) RETURNING *",
        placeholders(sends.len())
    );
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// One INSERT for the batch's messages; a message whose client_id its
/// sender used before in the room is skipped, and only the stored ids come
/// back.
fn insert_messages<'a>(messages: impl Iterator<Item = &'a Message>) -> Statement {
    const COLUMNS: usize = 9;
    let mut values: Vec<Value> = Vec::new();
    let mut rows = 0;
    for m in messages {
        rows += 1;
        values.extend([
            Value::from(m.id.clone()),
            m.room_id.clone().into(),
            (m.seq as i64).into(),
            m.sender.kind.as_str().into(),
            m.sender.id.clone().into(),
            m.sender.name.clone().into(),
            m.content.clone().into(),
            m.client_id.clone().into(),
            m.created_at.into(),
        ]);
    }
    let row = format!("({})", placeholders(COLUMNS));
    let sql = format!(
        "INSERT INTO messages (id, room_id, seq, sender_kind, sender_id, sender_name, content, client_id, \
         created_at) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
        vec![row; rows].join(", ")
    );
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::super::OutboxMode;
    use super::*;

    #[tokio::test]
    async fn after_a_checkpoint_with_no_write_beside_it_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("wal.db").display());
        let store = SqlStore::connect(&url, 4, OutboxMode::Off).await.unwrap();
        store.db.execute_unprepared("CREATE TABLE filler (x BLOB)").await.unwrap();
        for _ in 0..50 {
            store.db.execute_unprepared("INSERT INTO filler VALUES (randomblob(16000))").await.unwrap();
        }
        let filled = store.checkpoint_wal(true).await;
        assert!(filled > 200, "50 writes of 16 KB fill the WAL: {filled} frames");
        store.db.execute_unprepared("INSERT INTO filler VALUES (randomblob(100))").await.unwrap();
        let after = store.checkpoint_wal(false).await;
        assert!(after < 10, "the next write started the WAL over: {after} frames");
    }
}
