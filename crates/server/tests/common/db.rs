//! Databases for tests: every metadata test runs on SQLite (a file in a temporary directory) and
//! on PostgreSQL (a fresh database per test on the server named by `ONAIR_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; the test command starts a throwaway
//! server where none runs). A missing PostgreSQL is a test failure, never a skip.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection;

/// The two backends every repository and API test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// Test databases older than this are dropped by later tests (leftovers of killed runs).
const STALE_AFTER: Duration = Duration::from_secs(3 * 3600);

pub fn postgres_admin_url() -> String {
    std::env::var("ONAIR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A new, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres() -> String {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {admin} is needed (set ONAIR_TEST_POSTGRES_URL; `bash scripts/test.sh` starts one): {e}"
        )
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Drop leftovers of interrupted runs (best effort: another run may be using a young one).
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname LIKE 'onair_t_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let born = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(born) > STALE_AFTER.as_secs() {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\""
            )))
            .execute(&mut conn)
            .await;
        }
    }
    let name = format!(
        "onair_t_{now}_{}",
        ulid::Ulid::generate().to_string().to_ascii_lowercase()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    conn.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    let base = base.split('?').next().unwrap_or(&base).to_owned();
    format!("{base}/{name}")
}

/// A database URL for `backend`: SQLite under `dir`, or a fresh PostgreSQL database.
pub async fn database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Backend::Postgres => fresh_postgres().await,
    }
}

/// An opened, migrated metadata store on `backend`, with the directory backing it.
pub async fn open(backend: Backend) -> (onair_server::db::Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let db = onair_server::db::Db::connect(&url).await.unwrap();
    (db, dir)
}
