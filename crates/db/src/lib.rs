//! Metadata storage: users, sessions and tokens, channels, devices, publish sessions, the audit
//! log, webhooks and the mail outbox; and for a cluster, its nodes and who owns which stream.
//!
//! One set of repository functions serves SQLite (the embedded single-node default, WAL mode, in
//! the data directory) and PostgreSQL (shared by the nodes of a cluster), through sqlx's `Any`
//! driver. To keep one schema and one row mapping for both, columns are only `TEXT` and `BIGINT`:
//! times are Unix milliseconds, flags 0/1, identifiers ULIDs. Placeholders are `$1, $2, …`, which
//! both databases accept. Migrations (`migrations/*.sql`) are compiled into the binary and applied
//! at start-up, from the `MIGRATIONS` list: `sqlx::migrate!` would read the same directory,
//! but needs sqlx's proc-macro crates (and their build time) for what five lines do here.
//!
//! This crate depends on no other OnAir crate: the server's services (accounts, channels,
//! recordings, playback authorization) call it, never the other way round.

pub mod audit;
pub mod channels;
pub mod cluster;
pub mod devices;
pub mod outbox;
pub mod publish_sessions;
pub mod recordings;
pub mod secrets;
pub mod sessions;
pub mod users;
pub mod webhooks;

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("a row with that {0} already exists")]
    Conflict(&'static str),
    /// A text value the database cannot store or compare: PostgreSQL refuses NUL characters
    /// in `TEXT` (SQLSTATE 22021). A client error, not a database failure.
    #[error("text contains a character the database cannot store (NUL)")]
    InvalidText,
    #[error("database: {0}")]
    Sqlx(sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // `character_not_in_repertoire`: a NUL byte bound to a TEXT parameter on
            // PostgreSQL. Without this mapping any client-supplied string with `\0` (an
            // e-mail address at login, a path segment) surfaced as a 500.
            sqlx::Error::Database(d) if d.code().as_deref() == Some("22021") => {
                DbError::InvalidText
            }
            _ => DbError::Sqlx(e),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Most rows one list call returns.
pub const MAX_PAGE_SIZE: i64 = 200;

/// A page request: `limit` rows after skipping `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Self {
        Self {
            limit: limit.unwrap_or(50).clamp(1, MAX_PAGE_SIZE),
            offset: offset.unwrap_or(0).max(0),
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(None, None)
    }
}

/// A pool over SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// The embedded migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "system management",
        include_str!("../migrations/0001_system_management.sql"),
    ),
    (
        2,
        "playback epoch",
        include_str!("../migrations/0002_playback_epoch.sql"),
    ),
    (
        3,
        "recordings",
        include_str!("../migrations/0003_recordings.sql"),
    ),
    (
        4,
        "recording start and sizes, test deliveries",
        include_str!("../migrations/0004_console_fixes.sql"),
    ),
    (5, "cluster", include_str!("../migrations/0005_cluster.sql")),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect(),
    )
}

impl Db {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                // SQLite allows one writer at a time anyway; a few readers share WAL snapshots.
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            });
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor as _;
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL")
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        if backend == Backend::Sqlite {
            // WAL lets readers (playback authorization) proceed while the ingest path writes.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        let db = Self { pool, backend };
        migrator().run(&db.pool).await?;
        Ok(db)
    }

    /// Opens (creating if needed) the SQLite database file at `path`.
    pub async fn open_sqlite(path: &Path) -> DbResult<Self> {
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new time-ordered identifier.
///
/// Monotonic within the process: several ids made in the same millisecond still sort in the
/// order they were made (a plain `Ulid::generate` randomises the low bits, so lists ordered
/// by `(created_at, id)` or `(at DESC, id DESC)` came out shuffled within a millisecond).
pub fn new_id() -> String {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let mut g = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let id = match g.generate() {
        Ok(id) => id,
        // 2^80 ids in one millisecond: fall back to a random (still unique) one.
        Err(_) => ulid::Ulid::generate(),
    };
    id.to_string().to_ascii_lowercase()
}

/// Maps a unique-constraint violation to [`DbError::Conflict`].
pub fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict(what),
        _ => DbError::from(e),
    }
}

pub fn get_bool(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
