//! Storage with sea-orm: one code path for SQLite (the embedded default) and
//! PostgreSQL. Implements the `app::ports` traits.
//!
//! The invariants that must hold under concurrency, across processes
//! sharing one PostgreSQL, are each one conditional statement inside a
//! transaction: accept (`UPDATE … WHERE status = 'queued'`), the seq counter
//! (`UPDATE rooms SET last_seq = last_seq + 1` holds the row lock until the
//! message is inserted), and client_id idempotency (a unique index).

mod canned;
mod convert;
mod directory;
pub mod entity;
mod messages;
pub mod migration;
mod outbox;
mod rooms;
mod settings;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};
use sea_orm_migration::MigratorTrait;

use crate::error::CoreError;

/// The sea-orm implementation of every storage trait.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    /// With a broker bus: this replica's id, and changes write their events
    /// to the outbox in their own transaction.
    outbox: Option<String>,
}

impl SqlStore {
    /// Connects and applies pending migrations. `outbox`: the replica id, to
    /// record events in the outbox (broker bus), or None (in-process bus).
    pub async fn connect(url: &str, max_connections: u32, outbox: Option<String>) -> anyhow::Result<Self> {
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // WAL lets readers run beside the one writer; NORMAL sync is
            // durable across process crashes (fsync at checkpoints).
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
        let db =
            Database::connect(opts).await.map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
        migrate(&db).await.map_err(|e| anyhow::anyhow!("migrating the database: {e}"))?;
        Ok(Self { db, outbox })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
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
            CoreError::Unavailable("the database is unavailable".into())
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

/// True for a unique-constraint violation.
fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
