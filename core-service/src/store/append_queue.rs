//! Group commit for SQLite: sends from every room wait in one queue, and a
//! single writer task stores whatever has gathered in one transaction.
//!
//! SQLite has one writer at a time and sqlx runs each statement on a worker
//! thread, so a transaction per message costs four thread hand-offs
//! (BEGIN, UPDATE, INSERT, COMMIT) and a turn at the write lock. In a batch
//! of N the BEGIN, the COMMIT and the turn are shared: under load, N grows
//! by itself and each message costs its two statements. Ordering is kept
//! by the callers: a room's sends are serialised before they get here, so
//! a batch holds at most one message per room.
//!
//! A repeated client_id fails its INSERT on the unique index; SQLite undoes
//! only that statement, the writer gives the room its seq back, and the
//! rest of the batch commits.

use tokio::sync::{mpsc, oneshot};

use super::messages::{append_in, undo_bump};
use super::{SqlStore, convert, is_unique_violation};
use crate::app::ports::{Appended, MakeEvents, MessageStore, NewMessage, SendGuard};
use crate::domain::{Event, Message, Sender};
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
        tokio::spawn(checkpoint_wal(store.clone(), tx.downgrade()));
        tokio::spawn(write_batches(store, rx));
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

async fn write_batches(store: SqlStore, mut rx: mpsc::Receiver<AppendJob>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("livechat_store_append_batch").record(batch.len() as f64);
        store.write_batch(&mut batch).await;
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Copies the WAL into the database file every second, beside the writer.
/// SQLite's automatic checkpoint runs inside the commit that fills the WAL
/// and makes it wait for two fsyncs: with group commit that stalled every
/// send of the batch. A PASSIVE checkpoint neither waits for nor blocks the
/// writer. Stops when the store is gone.
async fn checkpoint_wal(store: SqlStore, alive: mpsc::WeakSender<AppendJob>) {
    use sea_orm::ConnectionTrait;
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(e) = store.db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
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
type Send = (String, SendGuard, NewMessage, MakeEvents<'static>);

impl SqlStore {
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

    async fn write_in_one_transaction(&self, sends: Vec<Send>) -> Result<Vec<Outcome>, sea_orm::DbErr> {
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
