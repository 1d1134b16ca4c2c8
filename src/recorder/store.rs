//! The database behind the log: an SQLite file (default) or PostgreSQL, its migrations
//! (embedded from `migrations/<backend>/`), and batched multi-row inserts.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Database, Encode, QueryBuilder, Type};

use super::row::LogRow;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Rows per INSERT statement: 23 binds each stays under SQLite's 32766 and
/// PostgreSQL's 65535 bind limits.
const ROWS_PER_STATEMENT: usize = 1000;

/// How long to wait for a connection before the database counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

const INSERT_HEAD: &str = "INSERT INTO request_logs (id, created_at, client_key, endpoint, \
    model, upstream, upstream_model, stream, status, tried, error, latency_ms, ttft_ms, \
    prompt_tokens, completion_tokens, total_tokens, finish_reason, request_body, \
    response_content, reasoning_content, tool_calls, cancelled, malformed) ";

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
            Err(format!(
                "database.url: unsupported database {url:?}; use sqlite://FILE or postgres://USER@HOST:PORT/DB"
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
    Sqlite(SqlitePool),
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
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5));
                // One connection, never closed: also keeps `sqlite::memory:` alive.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await
                    .map_err(|error| {
                        OpenError::Fatal(format!("cannot open the SQLite log {url}: {error}"))
                    })?;
                SQLITE_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(|error| migrate_error(error, Backend::Sqlite))?;
                Ok(Self::Sqlite(pool))
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
    pub(super) async fn insert(&self, rows: &[LogRow]) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => {
                let mut transaction = pool.begin().await?;
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let mut query = insert_statement::<sqlx::Sqlite>(chunk, "");
                    query.build().execute(&mut *transaction).await?;
                }
                transaction.commit().await
            }
            Self::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let mut query = insert_statement::<sqlx::Postgres>(chunk, "::timestamptz");
                    query.build().execute(&mut *transaction).await?;
                }
                transaction.commit().await
            }
        }
    }

    pub(super) async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// `INSERT ... VALUES (...), (...) ON CONFLICT (id) DO NOTHING` for one chunk of rows;
/// `timestamp_cast` turns the bound `created_at` text into the backend's time type.
fn insert_statement<'a, DB: Database>(
    rows: &'a [LogRow],
    timestamp_cast: &'static str,
) -> QueryBuilder<'a, DB>
where
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
    i32: Encode<'a, DB> + Type<DB>,
    f64: Encode<'a, DB> + Type<DB>,
    Option<f64>: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(INSERT_HEAD);
    query.push_values(rows, |mut values, row| {
        values
            .push_bind(row.id.as_str())
            .push_bind(row.created_at.as_str())
            .push_unseparated(timestamp_cast)
            .push_bind(row.client_key.as_deref())
            .push_bind(row.endpoint.as_str())
            .push_bind(row.model.as_deref())
            .push_bind(row.upstream.as_deref())
            .push_bind(row.upstream_model.as_deref())
            .push_bind(row.stream)
            .push_bind(row.status)
            .push_bind(row.tried.as_str())
            .push_bind(row.error.as_deref())
            .push_bind(row.latency_ms)
            .push_bind(row.ttft_ms)
            .push_bind(row.prompt_tokens)
            .push_bind(row.completion_tokens)
            .push_bind(row.total_tokens)
            .push_bind(row.finish_reason.as_deref())
            .push_bind(row.request_body.as_deref())
            .push_bind(row.response_content.as_deref())
            .push_bind(row.reasoning_content.as_deref())
            .push_bind(row.tool_calls.as_deref())
            .push_bind(row.cancelled)
            .push_bind(row.malformed);
    });
    query.push(" ON CONFLICT (id) DO NOTHING");
    query
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
