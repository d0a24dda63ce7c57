//! The database fixture: one fresh, empty database per test, dropped with it.
//!
//! An SQLite file in a temporary directory by default; when
//! `LIVECHAT_TEST_DATABASE_URL` is set, a UUID-named database created on that
//! PostgreSQL server. A server that was asked for but cannot be reached is a
//! panic, never a silent fall-back to SQLite.

use std::time::Duration;

use sea_orm::ConnectionTrait as _;
use tempfile::TempDir;

/// Where a test's database lives; dropping it removes the database.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL the server under test connects to.
    pub url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// An SQLite file in a directory removed with it.
    Sqlite { _dir: TempDir },
    /// A database created on the server of LIVECHAT_TEST_DATABASE_URL,
    /// dropped again when the test ends.
    Server { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh, empty database for one test.
    pub async fn fresh() -> Self {
        match std::env::var("LIVECHAT_TEST_DATABASE_URL") {
            Ok(base) if !base.trim().is_empty() => {
                let db = connect_server(&base).await.unwrap_or_else(|e| {
                    panic!(
                        "LIVECHAT_TEST_DATABASE_URL is set to {base:?}, but that server cannot be reached: {e}. \
                         Start the database or unset the variable to test on SQLite."
                    )
                });
                let name = format!("lc_{}", uuid::Uuid::new_v4().simple());
                db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {base:?} failed: {e}"));
                let _ = db.close().await;
                let url = with_database_name(&base, &name);
                TestDatabase { url, place: Place::Server { admin_url: base, name } }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join("livechat.db");
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    place: Place::Sqlite { _dir: dir },
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Place::Server { admin_url, name } = &self.place else { return };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime: clean up on a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let db = match connect_server(&admin_url).await {
                    Ok(db) => db,
                    Err(e) => {
                        eprintln!("could not connect to drop the test database {name}: {e}");
                        return None;
                    }
                };
                // The server's pool may still be reconnecting: shut the door first.
                let _ = db
                    .execute_unprepared(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"))
                    .await;
                for _ in 0..5 {
                    let dropped = db
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                    match dropped {
                        Ok(_) => break,
                        Err(e) => eprintln!("could not drop the test database {name} (will retry): {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let _ = db.close().await;
                Some(())
            })
        })
        .join();
    }
}

async fn connect_server(url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut options = sea_orm::ConnectOptions::new(url.to_string());
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    sea_orm::Database::connect(options).await
}

/// The same server URL with another database (path) name, query kept.
fn with_database_name(url: &str, name: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let authority_start = main.find("://").map(|i| i + 3).expect("database URL has a scheme");
    let path_start = main[authority_start..].find('/').map(|i| authority_start + i).unwrap_or(main.len());
    let mut out = format!("{}/{}", &main[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[test]
fn database_name_is_replaced_and_the_query_kept() {
    assert_eq!(
        with_database_name("postgres://postgres@127.0.0.1:5432/test", "lc_1"),
        "postgres://postgres@127.0.0.1:5432/lc_1"
    );
    assert_eq!(
        with_database_name("postgres://u:p@h/test?sslmode=disable", "lc_1"),
        "postgres://u:p@h/lc_1?sslmode=disable"
    );
    assert_eq!(with_database_name("postgres://h:5432", "lc_1"), "postgres://h:5432/lc_1");
}

/// Every `table.column` of the database at `url` where `needle` appears
/// in some row (text columns as they are; binary ones as text and, on
/// PostgreSQL, in their hex form): what an erasure test needs to say
/// "nothing of it is left anywhere", without knowing the schema.
pub async fn columns_containing(url: &str, needle: &str) -> Vec<String> {
    use sea_orm::{DbBackend, Statement};
    let db = sea_orm::Database::connect(url).await.expect("connect to the test database");
    let backend = db.get_database_backend();
    let listing = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
        }
        _ => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema()"
        }
    };
    let columns = db.query_all_raw(Statement::from_string(backend, listing)).await.expect("list columns");
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    let upper = hex.to_uppercase();
    let mut hits = Vec::new();
    for row in columns {
        let table: String = row.try_get("", "t").unwrap();
        let column: String = row.try_get("", "c").unwrap();
        // SQLite: every value as the hex of its bytes (a blob need not be
        // UTF-8); PostgreSQL: as text, a bytea in its `\x…` hex form.
        let sql = match backend {
            DbBackend::Sqlite => format!(r#"SELECT hex("{column}") AS v FROM "{table}""#),
            _ => format!(r#"SELECT CAST("{column}" AS TEXT) AS v FROM "{table}""#),
        };
        let values = db.query_all_raw(Statement::from_string(backend, sql)).await.expect("read a column");
        let found = values.iter().any(|v| {
            v.try_get::<Option<String>>("", "v")
                .ok()
                .flatten()
                .is_some_and(|text| text.contains(needle) || text.contains(&hex) || text.contains(&upper))
        });
        if found {
            hits.push(format!("{table}.{column}"));
        }
    }
    hits
}
