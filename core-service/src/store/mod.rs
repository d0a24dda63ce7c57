//! Storage with sea-orm: one code path for SQLite (the embedded default) and
//! PostgreSQL. Implements the `app::ports` traits.
//!
//! The invariants that must hold under concurrency, across processes
//! sharing one PostgreSQL, are each one conditional statement inside a
//! transaction: accept (`UPDATE … WHERE status = 'queued'`), the seq counter
//! (`UPDATE rooms SET last_seq = last_seq + 1` holds the row lock until the
//! message is inserted), and client_id idempotency (a unique index).

mod append_queue;
mod audit;
mod canned;
mod convert;
mod directory;
pub mod entity;
mod login;
mod messages;
pub mod migration;
mod notes;
mod outbox;
mod postgres_appends;
mod reachability;
mod rooms;
mod settings;
mod visitor_data;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr};
use sea_orm_migration::MigratorTrait;

use crate::error::CoreError;

/// The writer's turn on SQLite (None on PostgreSQL); dropping it passes the turn on.
pub(crate) type WriteTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// Longest wait for a pooled connection: long enough to ride out a burst
/// that keeps every connection busy. An outage is not waited out here:
/// `reachability` notices it within a second and calls are refused up front.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which events a change writes to the outbox, in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxMode {
    /// None: the in-process bus hands events over after the commit.
    Off,
    /// With a broker: every event, under this replica's id, for its relay.
    Broker { replica: String },
    /// The all-in-one running channel adapters in its own process: only the
    /// messages for customers on their messengers, which must survive a
    /// crash until the platform took them (`OutboxStore::pending_outbound`).
    OutboundOnly,
}

/// The replica id under which rows of `OutboxMode::OutboundOnly` are kept.
const LOCAL_OUTBOUND: &str = "local-outbound";

/// The sea-orm implementation of every storage trait.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    /// Which events changes write to the outbox in their own transaction.
    outbox: OutboxMode,
    /// SQLite only: the turn to write (see `begin_write`).
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Sends are committed in batches (`append_queue` on an SQLite file,
    /// `postgres_appends`); None on an in-memory SQLite database.
    appends: Option<append_queue::AppendQueue>,
    /// Whether the server answers, watched beside the pool.
    reachability: reachability::Reachability,
    /// Which webhook endpoints take which events (see `webhooks`).
    webhook_routes: webhooks::WebhookRoutes,
}

impl SqlStore {
    /// Connects and applies pending migrations; `outbox` says which events
    /// changes record.
    pub async fn connect(url: &str, max_connections: u32, outbox: OutboxMode) -> anyhow::Result<Self> {
        if let Some(path) = sqlite_file(url) {
            keep_private(path)
                .map_err(|e| anyhow::anyhow!("LIVECHAT_DATABASE_URL: preparing {path}: {e}"))?;
        }
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .sqlx_logging(false)
            // WAL lets readers run beside the one writer; NORMAL sync is
            // durable across process crashes (fsync at checkpoints).
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    // Checkpoints (and their fsyncs) run in the background,
                    // not inside whichever commit fills the WAL: see
                    // `SqlStore::checkpoint_wal` (append_queue.rs).
                    .pragma("wal_autocheckpoint", "0")
                    // A WAL that grew under a burst shrinks back to this
                    // once it starts over.
                    .pragma("journal_size_limit", "67108864")
                    // Pages are read through a memory map, not a pread per
                    // page: every write elsewhere in the pool invalidates a
                    // connection's own page cache.
                    .pragma("mmap_size", "268435456")
            });
        let db =
            Database::connect(opts).await.map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
        migrate(&db).await.map_err(|e| anyhow::anyhow!("migrating the database: {e}"))?;
        let sqlite = db.get_database_backend() == sea_orm::DbBackend::Sqlite;
        let writer = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        let reachability = if sqlite {
            reachability::Reachability::always()
        } else {
            reachability::Reachability::watch_postgres(url)?
        };
        let mut store = Self {
            db,
            outbox,
            writer,
            appends: None,
            reachability,
            webhook_routes: webhooks::WebhookRoutes::default(),
        };
        // An in-memory database has no file a second connection could
        // open: its sends take a transaction each, as on PostgreSQL.
        if let Some(path) = sqlite_file(url) {
            store.appends = Some(append_queue::AppendQueue::start(store.clone(), path)?);
        } else if !sqlite {
            store.appends = Some(append_queue::AppendQueue::start_postgres(store.clone()));
        }
        Ok(store)
    }

    /// Begins a transaction that writes; hold the turn until it ends.
    /// SQLite lets one connection write at a time and makes the others
    /// retry in its busy handler, which sleeps 1, 2, 5 … 100 ms between
    /// tries: under load most of a write's latency. Waiting in this fair
    /// queue instead hands the database over the moment it is free.
    /// PostgreSQL needs no turn: its row locks order what must be ordered.
    pub(crate) async fn begin_write(&self) -> Result<(WriteTurn, DatabaseTransaction), DbErr> {
        use sea_orm::TransactionTrait;
        let turn = match &self.writer {
            Some(w) => Some(w.clone().lock_owned().await),
            None => None,
        };
        Ok((turn, self.db.begin().await?))
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// Runs statements one after another in the caller's transaction.
async fn run_all<C: sea_orm::ConnectionTrait>(
    txn: &C,
    statements: Vec<sea_orm::Statement>,
) -> Result<(), DbErr> {
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

/// Applies pending migrations. On PostgreSQL, replicas starting together
/// take turns: a transaction-scoped advisory lock is held (on one pooled
/// connection) while the migrator runs, so the second replica finds nothing
/// left to do instead of racing the first one's CREATE TABLEs.
async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
    if db.get_database_backend() != DbBackend::Postgres {
        return migration::Migrator::up(db, None).await;
    }
    /// Any constant unique to livechat's migrations.
    const MIGRATION_LOCK: i64 = 0x6c69_7665_6368_6174; // "livechat"
    let lock = db.begin().await?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
    let migrated = migration::Migrator::up(db, None).await;
    lock.commit().await?;
    migrated
}

impl From<DbErr> for CoreError {
    fn from(e: DbErr) -> Self {
        if is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            CoreError::database_unavailable()
        } else if is_nul_in_query(&e) {
            // Text that is stored is checked for NUL before it gets here
            // (`domain::value`), so this is an id or a filter with a NUL in
            // it: it names nothing stored, which is what SQLite answers.
            CoreError::NotFound("not found".into())
        } else {
            CoreError::Unexpected(anyhow::Error::new(e).context("database"))
        }
    }
}

/// Connection-level failures: the caller may retry later.
fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => matches!(
            s.as_ref(),
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_)
        ),
        _ => false,
    }
}

/// The file an SQLite URL names (`sqlite://path?…`, `sqlite:path`); None for
/// other databases and in-memory ones.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// The SQLite file holds the JWT secret and every conversation: it is
/// created readable by its owner only, and tightened if it was not. SQLite
/// gives its `-wal` and `-shm` files the database file's mode.
fn keep_private(path: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                tracing::info!(path, "making the database file readable by its owner only");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            }
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// PostgreSQL refusing U+0000 in a text parameter (SQLSTATE 22021).
fn is_nul_in_query(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => {
            matches!(s.as_ref(), Sqlx::Database(d) if d.code().as_deref() == Some("22021"))
        }
        _ => false,
    }
}

/// True for a unique-constraint violation.
fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://livechat.db?mode=rwc"), Some("livechat.db"));
        assert_eq!(sqlite_file("sqlite:///var/lib/lc.db"), Some("/var/lib/lc.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u:p@h/db"), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_database_file_is_made_private_whether_new_or_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        keep_private(fresh.to_str().unwrap()).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
        let open = dir.path().join("open.db");
        std::fs::write(&open, b"").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        keep_private(open.to_str().unwrap()).unwrap();
        assert_eq!(std::fs::metadata(&open).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
