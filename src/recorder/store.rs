//! The database behind the log: an SQLite file (default) or PostgreSQL, its migrations
//! (embedded from `migrations/<backend>/`), and one transaction per batch of rows.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::checkpoint::Checkpointer;
use super::insert::{self, SqliteInserts};
use super::row::LogRow;
use gpt_api_common::log::{self, Value};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long to wait for a connection before the database counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The page size of a new SQLite log (an existing file keeps its own: SQLite cannot change
/// it in WAL mode). The log only appends, so a page is written to the WAL at every commit that
/// touches it and copied back at each checkpoint, each page with its own system calls: 16 KiB
/// pages need about a third of 4 KiB's calls (0.23 writes per row instead of 0.61, at 256-row
/// batches) and cut the SQLite thread's CPU per row by ~0.5 µs (`log_cost`'s per-thread
/// times). Larger pages save little more and rewrite more bytes per commit at low rates.
pub(super) const SQLITE_PAGE_SIZE: u32 = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(super) fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            // Only the scheme: the rest of a URL may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            Err(format!(
                "database.url: unsupported database {scheme:?}; use sqlite://FILE or \
                 postgres://USER@HOST:PORT/DB"
            ))
        }
    }
}

/// Why the store could not be opened.
#[derive(Debug)]
pub(super) enum OpenError {
    /// Retrying cannot help (bad URL, schema newer than this binary, unusable SQLite file).
    Fatal(String),
    /// The database may come back (PostgreSQL unreachable): run on, buffer and spill.
    Unavailable(String),
}

pub(super) enum Store {
    /// The pool's one connection, the log's INSERTs prepared on it, and the thread that
    /// checkpoints its WAL (none for a database without one, e.g. `sqlite::memory:`).
    Sqlite(SqlitePool, SqliteInserts, Option<Checkpointer>),
    Postgres(PgPool),
}

impl Store {
    /// Connects and brings the schema up to date.
    pub(super) async fn open(url: &str) -> Result<Self, OpenError> {
        match Backend::from_url(url).map_err(OpenError::Fatal)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|error| OpenError::Fatal(format!("database.url: {error}")))?
                    .create_if_missing(true)
                    .page_size(SQLITE_PAGE_SIZE)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5));
                // One connection, never closed: also keeps `sqlite::memory:` alive.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options.clone())
                    .await
                    .map_err(|error| {
                        OpenError::Fatal(format!("cannot open the SQLite log {url}: {error}"))
                    })?;
                SQLITE_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(|error| migrate_error(error, Backend::Sqlite))?;
                let checkpointer = checkpoint_apart(&pool, options).await;
                Ok(Self::Sqlite(pool, SqliteInserts::default(), checkpointer))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|error| OpenError::Fatal(format!("database.url: {error}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|error| OpenError::Unavailable(error.to_string()))?;
                POSTGRES_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(|error| migrate_error(error, Backend::Postgres))?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Inserts every row in one transaction; rows already there (a replay) are skipped.
    /// Returns how many were new.
    pub(super) async fn insert(&self, rows: &[LogRow]) -> Result<u64, String> {
        let text = |error: sqlx::Error| error.to_string();
        match self {
            Self::Sqlite(pool, inserts, _) => insert::sqlite(inserts, pool, rows).await,
            Self::Postgres(pool) => {
                let mut transaction = pool.begin().await.map_err(text)?;
                let inserted = insert::postgres(&mut transaction, rows)
                    .await
                    .map_err(text)?;
                transaction.commit().await.map_err(text)?;
                Ok(inserted)
            }
        }
    }

    /// The `n`th bound parameter of a statement, as `type_name` where the backend needs a
    /// cast (PostgreSQL reads text parameters as text; SQLite compares them as they are).
    pub(super) fn placeholder(&self, n: usize, type_name: &str) -> String {
        match self {
            Self::Sqlite(..) => "?".to_owned(),
            Self::Postgres(_) => format!("CAST(${n} AS {type_name})"),
        }
    }

    /// One round trip: whether the database answers now.
    pub(super) async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool, ..) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    pub(super) async fn close(self) {
        match self {
            Self::Sqlite(pool, inserts, checkpointer) => {
                // Its connection first: the last one to close copies the WAL back.
                drop(checkpointer);
                // Nothing to do if the connection cannot be had: the pool closes it anyway.
                let _ = inserts.finalize(&pool).await;
                pool.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Moves the WAL's checkpoints from the writer's commits to a thread of their own
/// (`checkpoint`), for a log in WAL mode; where that thread cannot start, SQLite's own stay.
async fn checkpoint_apart(
    pool: &SqlitePool,
    options: SqliteConnectOptions,
) -> Option<Checkpointer> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .ok()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return None;
    }
    let checkpointer = match Checkpointer::start(options) {
        Ok(checkpointer) => checkpointer,
        Err(message) => {
            log::warn(
                "log_checkpoint_unavailable",
                &[("error", Value::Str(&message))],
            );
            return None;
        }
    };
    let autocheckpoint_off = sqlx::query("PRAGMA wal_autocheckpoint = 0")
        .execute(pool)
        .await;
    autocheckpoint_off.is_ok().then_some(checkpointer)
}

/// A schema this binary does not know (newer, or changed) is refused; anything else is
/// fatal for a local SQLite file and a passing outage for PostgreSQL.
fn migrate_error(error: MigrateError, backend: Backend) -> OpenError {
    match error {
        MigrateError::VersionMissing(version) => OpenError::Fatal(format!(
            "the log database's schema is newer than this gpt-api: migration {version} is \
             applied there but unknown to this binary; upgrade gpt-api or use another database"
        )),
        MigrateError::VersionMismatch(version) | MigrateError::Dirty(version) => {
            OpenError::Fatal(format!(
                "the log database's migration {version} differs from this gpt-api's or is \
                 half applied; refusing to write to it"
            ))
        }
        other if backend == Backend::Sqlite => {
            OpenError::Fatal(format!("cannot migrate the SQLite log: {other}"))
        }
        other => OpenError::Unavailable(format!("migrating the log database: {other}")),
    }
}
