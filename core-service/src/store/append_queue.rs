//! Group commit for SQLite: sends from every room wait in one queue, and a
//! writer thread that owns its own connection stores whatever has gathered
//! in one transaction.
//!
//! SQLite has one writer at a time, and sqlx runs every statement on a
//! worker thread of its connection: a transaction through the pool costs a
//! thread hand-off per statement, and the writer waits out each one. So
//! sends do not go through the pool. One thread (`livechat-sqlite-writer`)
//! holds a connection of its own (rusqlite, on the same libsqlite3 as
//! sqlx) and, per batch: takes the writers' turn (`SqlStore::begin_write`'s
//! lock, so it never races the pool's writers), `BEGIN IMMEDIATE`, then
//! per send the guarded bump of the room's counter (`RETURNING` the room),
//! the message's INSERT and whatever the change records (outbox rows,
//! webhook deliveries: `SqlStore::recording`, the statements every other
//! change runs through sea-orm), all prepared once and cached; `COMMIT`.
//! One hand-off in, one reply out per send. Under load a batch grows by
//! itself, up to `MAX_BATCH`; and while commits follow each other closely,
//! a small batch waits until `COMMIT_INTERVAL` has passed since the last
//! one (a quiet writer, or a batch of `ENOUGH_TO_COMMIT`, starts at once):
//! a commit's cost (the WAL frames of every page it touched, SQLite's end
//! of transaction, a wake-up) is shared by ten sends at 5,000 a second
//! instead of one or two.
//!
//! Ordering is kept by the callers: a room's sends are serialised before
//! they get here (`app::room_order`). A repeated client_id is skipped by
//! the INSERT (`ON CONFLICT DO NOTHING`), the room gets its seq back, and
//! the rest of the batch commits; the caller then reads the stored message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, TransactionBehavior};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::{mpsc, oneshot};

use super::entity::room;
use super::messages::stored_message;
use super::{SqlStore, convert};
use crate::app::ports::{Appended, MakeEvents, MessageStore, NewMessage, SendGuard};
use crate::domain::{Event, Message, RoomStatus, Sender};
use crate::error::{CoreError, CoreResult};

/// Most sends committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// The least time between two commits while sends keep coming: at most
/// this much added to a send's latency, and only under load.
const COMMIT_INTERVAL: Duration = Duration::from_millis(2);
/// A batch this large commits without waiting: the commit's cost is
/// shared well enough, and waiting would only slow a saturated writer.
const ENOUGH_TO_COMMIT: usize = 64;
/// Sends waiting for the writer before callers wait to enqueue.
pub(super) const QUEUE: usize = 4096;
/// Statements the writer keeps prepared: its own four, and what changes
/// record (one shape per number of rows).
const PREPARED: usize = 64;

/// One send waiting to be stored.
pub(super) struct AppendJob {
    pub room_id: String,
    pub guard: SendGuard,
    pub msg: NewMessage,
    pub events: MakeEvents<'static>,
    pub reply: oneshot::Sender<CoreResult<Outcome>>,
}

/// A send as a writer stores it: the job without its reply.
pub(super) type PendingSend = (String, SendGuard, NewMessage, MakeEvents<'static>);

/// Splits jobs into the sends a writer stores and the replies it answers,
/// and counts the batch's size (`livechat_store_append_batch`).
pub(super) fn take_replies(
    batch: &mut Vec<AppendJob>,
) -> (Vec<PendingSend>, Vec<oneshot::Sender<CoreResult<Outcome>>>) {
    metrics::histogram!("livechat_store_append_batch").record(batch.len() as f64);
    batch.drain(..).map(|job| ((job.room_id, job.guard, job.msg, job.events), job.reply)).unzip()
}

/// Answers every send of a batch with what storing it came to. A panic
/// (in a change's event maker, say) fails its batch alone: the
/// transaction rolled back as it unwound, and the writer, which every send
/// of the process goes through, carries on.
/// `to_core` says what each send of a failed batch is answered.
pub(super) fn answer<E: std::fmt::Display>(
    replies: Vec<oneshot::Sender<CoreResult<Outcome>>>,
    written: std::thread::Result<Result<Vec<Outcome>, E>>,
    to_core: impl Fn(&E) -> CoreError,
) {
    match written {
        Ok(Ok(outcomes)) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(_) => {
            tracing::error!(sends = replies.len(), "storing a batch of sends panicked; it was rolled back");
            for reply in replies {
                let _ = reply.send(Err(CoreError::Unexpected(anyhow::anyhow!("storing the send panicked"))));
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, sends = replies.len(), "a batch of sends failed");
            for reply in replies {
                let _ = reply.send(Err(to_core(&e)));
            }
        }
    }
}

/// The sending side; the writer thread ends when every clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct AppendQueue {
    tx: mpsc::Sender<AppendJob>,
}

impl AppendQueue {
    /// Opens the writer's connection to the database file at `path` and
    /// starts its thread; `store` (without a queue of its own) is what it
    /// asks which statements a change records.
    pub fn start(store: SqlStore, path: &str) -> anyhow::Result<Self> {
        let conn = open_writer(path)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let wal = Arc::new(AtomicU64::new(0));
        tokio::spawn(checkpoint_beside_writer(store.clone(), wal.clone(), tx.downgrade()));
        let turn = store.writer.clone().ok_or_else(|| anyhow::anyhow!("the writer thread is for SQLite"))?;
        let writer = Writer { conn, store, turn, wal, bump: BumpStatements::new() };
        std::thread::Builder::new().name("livechat-sqlite-writer".into()).spawn(move || writer.run(rx))?;
        Ok(Self { tx })
    }

    /// Starts PostgreSQL's batch writer (`postgres_appends`).
    pub fn start_postgres(store: SqlStore) -> Self {
        Self { tx: super::postgres_appends::start(store) }
    }

    /// Waits until the send's batch is committed.
    pub async fn append(
        &self,
        store: &SqlStore,
        room_id: &str,
        guard: SendGuard,
        msg: NewMessage,
        events: MakeEvents<'static>,
    ) -> CoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        let job = AppendJob { room_id: room_id.to_string(), guard, msg, events, reply };
        self.tx.send(job).await.map_err(|_| CoreError::Unavailable("the writer has stopped".into()))?;
        let outcome = answer.await.map_err(|_| CoreError::Unavailable("the writer has stopped".into()))??;
        Ok(match outcome {
            Outcome::Stored(m, events) => Appended::Stored(m, events),
            Outcome::Refused => Appended::Refused,
            Outcome::Duplicate { room_id, sender, client_id } => {
                match store.by_client_id(&room_id, &sender, &client_id).await? {
                    Some(m) => Appended::Duplicate(m),
                    None => {
                        return Err(CoreError::Unexpected(anyhow::anyhow!(
                            "client_id {client_id} conflicted but is not stored"
                        )));
                    }
                }
            }
        })
    }
}

/// The writer's connection: the pool's settings (WAL is the file's own).
fn open_writer(path: &str) -> anyhow::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| anyhow::anyhow!("opening {path} for the writer: {e}"))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    for (name, value) in [
        ("synchronous", "NORMAL"),
        ("foreign_keys", "ON"),
        ("wal_autocheckpoint", "0"),
        ("journal_size_limit", "67108864"),
        ("mmap_size", "268435456"),
    ] {
        // Some pragmas answer with a row, some do not.
        conn.query_row(&format!("PRAGMA {name} = {value}"), [], |_| Ok(())).optional()?;
    }
    conn.set_prepared_statement_cache_capacity(PREPARED);
    Ok(conn)
}

/// The guarded bumps of a room's counter, one per kind of sender (the same
/// guards as `messages::append_in`).
struct BumpStatements {
    for_visitor: String,
    for_agent: String,
}

impl BumpStatements {
    fn new() -> Self {
        let bump = "UPDATE rooms SET last_seq = last_seq + 1, last_message_at = ?1 WHERE id = ?2";
        let (queued, engaged) = (RoomStatus::Queued.as_str(), RoomStatus::Engaged.as_str());
        Self {
            for_visitor: format!("{bump} AND status IN ('{queued}', '{engaged}') RETURNING {ROOM_COLUMNS}"),
            for_agent: format!("{bump} AND status = '{engaged}' AND agent_id = ?3 RETURNING {ROOM_COLUMNS}"),
        }
    }
}

const INSERT_MESSAGE: &str = "INSERT INTO messages (id, room_id, seq, sender_kind, sender_id, sender_name, \
     content, client_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING";
const UNDO_BUMP: &str = "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = ?1";

/// What one send came to inside the batch's transaction.
pub(super) enum Outcome {
    Stored(Message, Vec<Event>),
    Refused,
    /// Its client_id was stored before: look the message up after commit.
    Duplicate {
        room_id: String,
        sender: Sender,
        client_id: String,
    },
}

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row that does not read back (`convert`), or a value a
    /// recorded statement binds that SQLite has no type for.
    #[error("{0}")]
    Unreadable(String),
}

impl WriteError {
    /// What each send of the failed batch is answered.
    fn to_core(&self) -> CoreError {
        use rusqlite::ErrorCode as Code;
        match self {
            WriteError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    Code::DatabaseBusy | Code::DatabaseLocked | Code::SystemIoFailure | Code::DiskFull
                ) =>
            {
                CoreError::database_unavailable()
            }
            e => CoreError::Unexpected(anyhow::anyhow!("storing a batch of sends: {e}")),
        }
    }
}

/// The writer thread's state.
struct Writer {
    conn: rusqlite::Connection,
    /// Asked which statements a change records; holds no queue.
    store: SqlStore,
    /// The writers' turn (`SqlStore::begin_write`), taken for each batch.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// WAL frames the last checkpoint beside the writer found.
    wal: Arc<AtomicU64>,
    bump: BumpStatements,
}

/// Adds the sends already waiting to the batch, up to `MAX_BATCH`.
fn take_waiting(rx: &mut mpsc::Receiver<AppendJob>, batch: &mut Vec<AppendJob>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<AppendJob>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut committed = std::time::Instant::now();
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            take_waiting(&mut rx, &mut batch);
            let since = committed.elapsed();
            if since < COMMIT_INTERVAL && batch.len() < ENOUGH_TO_COMMIT {
                std::thread::sleep(COMMIT_INTERVAL - since);
                take_waiting(&mut rx, &mut batch);
            }
            let turn = self.turn.clone();
            let turn = turn.blocking_lock();
            self.write_batch(&mut batch);
            if self.wal.load(Ordering::Relaxed) > WAL_FRAMES_BEFORE_PAUSE {
                // Still in the writers' turn: the checkpoint copies every
                // frame, and the next write starts the WAL over (or, if a
                // reader held it back, the next checkpoint beside the
                // writer says so again).
                if let Err(e) = checkpoint(&self.conn) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                }
                self.wal.store(0, Ordering::Relaxed);
            }
            drop(turn);
            committed = std::time::Instant::now();
        }
    }

    fn write_batch(&mut self, batch: &mut Vec<AppendJob>) {
        let (sends, replies) = take_replies(batch);
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write_in_one_transaction(sends)));
        answer(replies, written, WriteError::to_core);
    }

    fn write_in_one_transaction(&mut self, sends: Vec<PendingSend>) -> Result<Vec<Outcome>, WriteError> {
        let txn = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(sends.len());
        for (room_id, guard, msg, events) in sends {
            let now = msg.created_at;
            let row = match &guard {
                SendGuard::Visitor => txn
                    .prepare_cached(&self.bump.for_visitor)?
                    .query_row(rusqlite::params![now, room_id], room_row)
                    .optional()?,
                SendGuard::EngagedAgent(agent) => txn
                    .prepare_cached(&self.bump.for_agent)?
                    .query_row(rusqlite::params![now, room_id, agent], room_row)
                    .optional()?,
            };
            let Some(row) = row else {
                outcomes.push(Outcome::Refused);
                continue;
            };
            let message = stored_message(room_id, row.last_seq, msg);
            let inserted = txn.prepare_cached(INSERT_MESSAGE)?.execute(rusqlite::params![
                message.id,
                message.room_id,
                row.last_seq,
                message.sender.kind.as_str(),
                message.sender.id,
                message.sender.name,
                message.content,
                message.client_id,
                message.created_at,
            ])?;
            if inserted == 0 {
                // Its client_id was used before: give the room its seq back.
                txn.prepare_cached(UNDO_BUMP)?.execute([&message.room_id])?;
                outcomes.push(Outcome::Duplicate {
                    room_id: message.room_id,
                    sender: message.sender,
                    client_id: message.client_id.unwrap_or_default(),
                });
                continue;
            }
            let room = convert::room(row).map_err(|e| WriteError::Unreadable(e.to_string()))?;
            let events = events(&room, std::slice::from_ref(&message));
            for statement in self.store.recording(&events, now) {
                run_recorded(&txn, &statement)?;
            }
            outcomes.push(Outcome::Stored(message, events));
        }
        txn.commit()?;
        Ok(outcomes)
    }
}

/// The columns `room_row` reads, in its order (by position: looking a
/// column up by name costs a string comparison per column and row).
const ROOM_COLUMNS: &str = "id, status, channel, visitor_id, visitor_name, visitor_email, \
     external_id, visitor_address, agent_id, agent_name, subject, created_at, last_message_at, \
     engaged_at, last_seq, ended_at, end_message, left_offline, rating_score, rating_comment, \
     rated_at, erased_at";

/// A room as the bump returns it (`ROOM_COLUMNS`).
fn room_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<room::Model> {
    Ok(room::Model {
        id: r.get(0)?,
        status: r.get(1)?,
        channel: r.get(2)?,
        visitor_id: r.get(3)?,
        visitor_name: r.get(4)?,
        visitor_email: r.get(5)?,
        external_id: r.get(6)?,
        visitor_address: r.get(7)?,
        agent_id: r.get(8)?,
        agent_name: r.get(9)?,
        subject: r.get(10)?,
        created_at: r.get(11)?,
        last_message_at: r.get(12)?,
        engaged_at: r.get(13)?,
        last_seq: r.get(14)?,
        ended_at: r.get(15)?,
        end_message: r.get(16)?,
        left_offline: r.get(17)?,
        rating_score: r.get(18)?,
        rating_comment: r.get(19)?,
        rated_at: r.get(20)?,
        erased_at: r.get(21)?,
    })
}

/// Runs a statement sea-orm built for SQLite (`?` placeholders, in order).
fn run_recorded(conn: &rusqlite::Connection, statement: &Statement) -> Result<(), WriteError> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    if let Some(values) = &statement.values {
        for (i, value) in values.0.iter().enumerate() {
            prepared.raw_bind_parameter(i + 1, Bound(value))?;
        }
    }
    prepared.raw_execute()?;
    Ok(())
}

/// A sea-orm value bound as SQLite stores it through sqlx: integers,
/// reals, text (JSON as its text) and blobs, borrowed where it can be.
struct Bound<'a>(&'a sea_orm::Value);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use sea_orm::Value as V;
        let int = |i: Option<i64>| ToSqlOutput::Borrowed(i.map_or(ValueRef::Null, ValueRef::Integer));
        Ok(match self.0 {
            V::Bool(b) => int(b.map(i64::from)),
            V::TinyInt(i) => int(i.map(i64::from)),
            V::SmallInt(i) => int(i.map(i64::from)),
            V::Int(i) => int(i.map(i64::from)),
            V::BigInt(i) => int(*i),
            V::TinyUnsigned(i) => int(i.map(i64::from)),
            V::SmallUnsigned(i) => int(i.map(i64::from)),
            V::Unsigned(i) => int(i.map(i64::from)),
            V::BigUnsigned(i) => match i {
                Some(i) => int(Some(
                    i64::try_from(*i).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
                )),
                None => int(None),
            },
            V::Float(f) => ToSqlOutput::Borrowed(f.map_or(ValueRef::Null, |f| ValueRef::Real(f64::from(f)))),
            V::Double(f) => ToSqlOutput::Borrowed(f.map_or(ValueRef::Null, ValueRef::Real)),
            V::String(s) => {
                ToSqlOutput::Borrowed(s.as_deref().map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes())))
            }
            V::Char(c) => {
                c.map_or(ToSqlOutput::Borrowed(ValueRef::Null), |c| ToSqlOutput::from(c.to_string()))
            }
            V::Bytes(b) => ToSqlOutput::Borrowed(b.as_deref().map_or(ValueRef::Null, ValueRef::Blob)),
            V::Json(j) => {
                j.as_ref().map_or(ToSqlOutput::Borrowed(ValueRef::Null), |j| ToSqlOutput::from(j.to_string()))
            }
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("no SQLite binding for {other:?}").into(),
                ));
            }
        })
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// WAL frames (4 KiB pages) past which the writer pauses for a checkpoint.
const WAL_FRAMES_BEFORE_PAUSE: u64 = 16_384;

/// Copies the WAL into the database file every second, beside the writer:
/// a PASSIVE checkpoint neither waits for nor blocks it, and under a
/// normal load it catches up between two writes, so that the next write
/// starts the WAL over. (SQLite's own automatic checkpoint runs inside the
/// commit that fills the WAL, and the whole batch would wait for it.)
/// Under a sustained load it never catches up and the WAL would grow by
/// ~20 KB per message without end: past `WAL_FRAMES_BEFORE_PAUSE` the
/// writer takes the next checkpoint in its own turn. Stops with the queue.
async fn checkpoint_beside_writer(store: SqlStore, wal: Arc<AtomicU64>, alive: mpsc::WeakSender<AppendJob>) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if alive.upgrade().is_none() {
            return;
        }
        wal.store(store.checkpoint_wal().await, Ordering::Relaxed);
    }
}

/// A PASSIVE checkpoint on `conn`; the frames it found in the WAL.
fn checkpoint(conn: &rusqlite::Connection) -> rusqlite::Result<u64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(1))
        .map(|frames| frames.max(0) as u64)
}

impl SqlStore {
    /// A PASSIVE checkpoint beside the writer (readers and the writer are
    /// never waited for); the frames it found in the WAL.
    async fn checkpoint_wal(&self) -> u64 {
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
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::super::OutboxMode;
    use super::*;

    /// A room with every column set, each to a value no other column has.
    fn every_column_set() -> room::Model {
        room::Model {
            id: "r1".into(),
            status: "engaged".into(),
            channel: "telegram".into(),
            visitor_id: "v1".into(),
            visitor_name: "Ada".into(),
            visitor_email: Some("ada@example.com".into()),
            external_id: Some("ext-1".into()),
            visitor_address: Some("tag-1".into()),
            agent_id: Some("a1".into()),
            agent_name: Some("Bob".into()),
            subject: Some("billing".into()),
            created_at: 1,
            last_message_at: 2,
            engaged_at: Some(3),
            last_seq: 4,
            ended_at: Some(5),
            end_message: Some("bye".into()),
            left_offline: true,
            rating_score: Some(6),
            rating_comment: Some("fine".into()),
            rated_at: Some(7),
            erased_at: Some(8),
        }
    }

    /// A store on a new SQLite file in `dir`, and the file's path.
    async fn store_in(dir: &tempfile::TempDir) -> (SqlStore, String) {
        let path = dir.path().join("livechat.db").display().to_string();
        let store =
            SqlStore::connect(&format!("sqlite://{path}?mode=rwc"), 2, OutboxMode::Off).await.unwrap();
        (store, path)
    }

    #[tokio::test]
    async fn the_writer_reads_a_room_back_exactly_as_sea_orm_does() {
        use sea_orm::{ActiveModelTrait, EntityTrait};
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = store_in(&dir).await;
        let stored = every_column_set();
        room::ActiveModel::from(stored.clone()).insert(&store.db).await.unwrap();
        let through_sea_orm = room::Entity::find_by_id("r1").one(&store.db).await.unwrap().unwrap();
        let writer = open_writer(&path).unwrap();
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = 'r1'");
        let through_writer = writer.query_row(&sql, [], room_row).unwrap();
        assert_eq!(through_writer, through_sea_orm);
        assert_eq!(through_writer, stored);
    }

    #[tokio::test]
    async fn a_send_that_panics_fails_alone_and_the_writer_carries_on() {
        use sea_orm::ActiveModelTrait;

        use crate::domain::SenderKind;
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_in(&dir).await;
        // A queued room (the rest of its columns do not matter to a send).
        let room = room::Model { status: "queued".into(), last_seq: 0, ..every_column_set() };
        room::ActiveModel::from(room).insert(&store.db).await.unwrap();
        let send = |content: &str| NewMessage {
            id: crate::domain::new_id(),
            sender: Sender { kind: SenderKind::Visitor, id: "v1".into(), name: "Ada".into() },
            content: content.into(),
            client_id: None,
            created_at: 2,
        };
        let panics: MakeEvents<'static> = Box::new(|_, _| panic!("an event maker with a bug"));
        let failed = store.append("r1", SendGuard::Visitor, send("first"), panics).await;
        assert!(matches!(failed, Err(CoreError::Unexpected(_))), "the panicking send fails: {failed:?}");

        let stored =
            store.append("r1", SendGuard::Visitor, send("second"), Box::new(|_, _| Vec::new())).await;
        let Ok(Appended::Stored(message, _)) = stored else { panic!("the next send is stored: {stored:?}") };
        assert_eq!(message.seq, 1, "the failed send's seq was rolled back with it");
        let (page, _) =
            store.page("r1", crate::app::ports::Page::After { after: 0, limit: 10 }).await.unwrap();
        assert_eq!(page.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["second"]);
    }

    #[tokio::test]
    async fn after_a_checkpoint_with_no_write_beside_it_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("wal.db").display());
        let store = SqlStore::connect(&url, 4, OutboxMode::Off).await.unwrap();
        store.db.execute_unprepared("CREATE TABLE filler (x BLOB)").await.unwrap();
        for _ in 0..50 {
            store.db.execute_unprepared("INSERT INTO filler VALUES (randomblob(16000))").await.unwrap();
        }
        // The writer's own checkpoint, in its turn (no write beside it).
        let filled =
            checkpoint(&open_writer(&dir.path().join("wal.db").display().to_string()).unwrap()).unwrap();
        assert!(filled > 200, "50 writes of 16 KB fill the WAL: {filled} frames");
        store.db.execute_unprepared("INSERT INTO filler VALUES (randomblob(100))").await.unwrap();
        let after = store.checkpoint_wal().await;
        assert!(after < 10, "the next write started the WAL over: {after} frames");
    }
}
