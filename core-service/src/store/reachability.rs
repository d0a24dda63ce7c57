//! Whether the database server answers, known without waiting on the pool.
//!
//! A pool cannot tell "down" from "busy": while PostgreSQL is down it keeps
//! retrying refused connections until the acquire timeout, and under a burst
//! of load a healthy pool makes callers wait just as long. So the outage is
//! watched from beside the pool: one connection of its own runs `SELECT 1`
//! twice a second, and a refused or silent server flips the flag at once.
//! Calls are refused up front while it is down (`grpc::gate`), and the
//! pool's acquire timeout can be generous enough to ride out bursts.
//!
//! SQLite is a file in this process: it is always reachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{ConnectOptions, Connection, Executor};

/// How often the server is asked.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// A connect or `SELECT 1` slower than this counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database's last known state; cheap to read on every call.
#[derive(Debug, Clone)]
pub struct Reachability {
    up: Arc<AtomicBool>,
}

impl Reachability {
    /// Always reachable (SQLite).
    pub fn always() -> Self {
        Self { up: Arc::new(AtomicBool::new(true)) }
    }

    /// Probes the PostgreSQL server at `url` until every clone is dropped.
    pub fn watch_postgres(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        let this = Self::always();
        tokio::spawn(probe(options, Arc::downgrade(&this.up)));
        Ok(this)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

async fn probe(options: PgConnectOptions, up: std::sync::Weak<AtomicBool>) {
    let options = options.disable_statement_logging();
    let mut connection: Option<PgConnection> = None;
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(up) = up.upgrade() else { return };
        let answered = match connection.as_mut() {
            Some(c) => matches!(tokio::time::timeout(PROBE_TIMEOUT, c.execute("SELECT 1")).await, Ok(Ok(_))),
            None => match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&options)).await {
                Ok(Ok(c)) => {
                    connection = Some(c);
                    true
                }
                Ok(Err(_)) | Err(_) => false,
            },
        };
        if !answered {
            // A broken connection stays broken: open a new one next time.
            connection = None;
        }
        if up.swap(answered, Ordering::Relaxed) != answered {
            if answered {
                tracing::info!("the database answers again");
            } else {
                tracing::warn!("the database does not answer; refusing calls until it does");
            }
        }
    }
}
