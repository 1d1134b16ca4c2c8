//! The INSERT statements behind `Store::insert`, one shape per backend, both skipping a row
//! whose id is already there, so that a replayed row is never written twice.
//! SQLite: `INSERT OR IGNORE ... VALUES` for 8 rows and for 1, prepared once on the
//! connection and kept, texts bound in place (`sqlite_statement`), between a BEGIN and a
//! COMMIT of its own. PostgreSQL: one array per
//! column and `UNNEST`, so a batch of any size is one statement with 26 parameters, prepared
//! once and reused.

use std::cell::RefCell;
use std::ffi::{c_int, CString};
use std::sync::LazyLock;

use sqlx::postgres::PgQueryResult;
use sqlx::sqlite::LockedSqliteHandle;
use sqlx::{PgConnection, SqlitePool};

use super::row::LogRow;
use super::sqlite_statement::{Bindings, SqliteFailure, Statement};

const COLUMNS: &str = "id, created_at, client_key, endpoint, model, upstream, upstream_model, \
    stream, status, tried, error, latency_ms, ttft_ms, prompt_tokens, completion_tokens, \
    total_tokens, finish_reason, request_body, response_content, reasoning_content, \
    tool_calls, cancelled, malformed, usage_estimated, cost_usd, attempts";

const POSTGRES_INSERT: &str = "INSERT INTO request_logs (id, created_at, client_key, endpoint, \
    model, upstream, upstream_model, stream, status, tried, error, latency_ms, ttft_ms, \
    prompt_tokens, completion_tokens, total_tokens, finish_reason, request_body, \
    response_content, reasoning_content, tool_calls, cancelled, malformed, usage_estimated, \
    cost_usd, attempts) \
    SELECT * FROM UNNEST($1::text[], $2::text[]::timestamptz[], $3::text[], $4::text[], \
    $5::text[], $6::text[], $7::text[], $8::bool[], $9::int4[], $10::text[], $11::text[], \
    $12::float8[], $13::float8[], $14::int8[], $15::int8[], $16::int8[], $17::text[], \
    $18::text[], $19::text[], $20::text[], $21::text[], $22::bool[], $23::bool[], $24::bool[], \
    $25::float8[], $26::text[]) \
    ON CONFLICT (id) DO NOTHING";

/// Rows per run of the SQLite statement. A statement's cursors stay open across its rows, so
/// each index insert after the first is an append next to the last one; a one-row statement
/// descends every index from its root (18.6k instructions per row in SQLite against 13.0k).
const SQLITE_ROWS_PER_STATEMENT: usize = 8;

/// `INSERT OR IGNORE ... VALUES (?, ...), ...` for 8 rows and for 1. `OR IGNORE` rather than
/// `ON CONFLICT (id) DO NOTHING`: with the latter a NOT NULL column could still abort the
/// statement half-way, so SQLite kept a statement journal of every page the statement
/// touched (1.1k instructions per row, 5% of the SQLite thread). The two differ only for a
/// NULL in a NOT NULL column, which cannot happen here: each such column is a `LogRow` field
/// that is not an `Option` (and `latency_ms`, the one float, is always finite).
static SQLITE_INSERTS: LazyLock<[CString; 2]> =
    LazyLock::new(|| [sqlite_insert(SQLITE_ROWS_PER_STATEMENT), sqlite_insert(1)]);

fn sqlite_insert(rows: usize) -> CString {
    let placeholders = vec!["?"; PARAMETERS_PER_ROW as usize].join(", ");
    let values = vec![format!("({placeholders})"); rows].join(", ");
    CString::new(format!(
        "INSERT OR IGNORE INTO request_logs ({COLUMNS}) VALUES {values}"
    ))
    .expect("no NUL in the statement")
}

/// Parameters per row of an SQLite statement: one per column.
const PARAMETERS_PER_ROW: c_int = 26;

/// The statements of an SQLite batch, prepared on the connection at its first batch and
/// kept: preparing the INSERTs cost 5.0k instructions per row at 40-row batches, more than
/// binding the row.
pub(super) struct SqliteStatements {
    begin: Statement,
    commit: Statement,
    rollback: Statement,
    many: Statement,
    one: Statement,
}

impl SqliteStatements {
    fn prepare(handle: &mut LockedSqliteHandle<'_>) -> Result<Self, SqliteFailure> {
        let [many, one] = &*SQLITE_INSERTS;
        Ok(Self {
            begin: Statement::prepare(handle, c"BEGIN")?,
            commit: Statement::prepare(handle, c"COMMIT")?,
            rollback: Statement::prepare(handle, c"ROLLBACK")?,
            many: Statement::prepare(handle, many)?,
            one: Statement::prepare(handle, one)?,
        })
    }
}

#[derive(Default)]
pub(super) struct SqliteInserts(RefCell<Option<SqliteStatements>>);

impl SqliteInserts {
    /// Finalizes the statements: before the connection closes (sqlx refuses to close one
    /// with statements left).
    pub(super) async fn finalize(&self, pool: &SqlitePool) -> Result<(), sqlx::Error> {
        let mut connection = pool.acquire().await?;
        let _locked = connection.lock_handle().await?;
        self.0.borrow_mut().take();
        Ok(())
    }
}

/// Inserts `rows` in one transaction on the pool's connection; returns the rows inserted (a
/// replayed row already there is not).
pub(super) async fn sqlite(
    inserts: &SqliteInserts,
    pool: &SqlitePool,
    rows: &[LogRow],
) -> Result<u64, String> {
    let mut connection = pool.acquire().await.map_err(|error| error.to_string())?;
    let mut handle = connection
        .lock_handle()
        .await
        .map_err(|error| error.to_string())?;
    let mut statements = inserts.0.borrow_mut();
    sqlite_transaction(&mut statements, &mut handle, rows).map_err(|error| error.to_string())
}

/// BEGIN, the rows, COMMIT, all on this thread while sqlx's connection is locked to it. A
/// transaction of sqlx's own sends BEGIN and COMMIT to the connection's worker thread: two
/// more round trips between threads per batch, each waking a thread that competes with the
/// workers for the cores.
pub(super) fn sqlite_transaction(
    statements: &mut Option<SqliteStatements>,
    handle: &mut LockedSqliteHandle<'_>,
    rows: &[LogRow],
) -> Result<u64, SqliteFailure> {
    // The pool keeps its one connection for good. Should it ever hold another, the old one's
    // statements are left alone (not finalized: that connection is no longer ours to use).
    if let Some(elsewhere) = statements.take_if(|kept| !kept.begin.is_on(handle)) {
        std::mem::forget(elsewhere);
    }
    let statements = match statements {
        Some(kept) => kept,
        None => statements.insert(SqliteStatements::prepare(handle)?),
    };
    statements.begin.bind(handle).execute()?;
    let inserted = insert_rows(statements, handle, rows)
        .and_then(|inserted| statements.commit.bind(handle).execute().map(|_| inserted));
    if inserted.is_err() {
        // Ends the transaction whatever failed (SQLite may have rolled it back already; then
        // this fails, harmlessly), so that the next batch can begin one.
        let _ = statements.rollback.bind(handle).execute();
    }
    inserted
}

fn insert_rows(
    statements: &mut SqliteStatements,
    handle: &mut LockedSqliteHandle<'_>,
    rows: &[LogRow],
) -> Result<u64, SqliteFailure> {
    let mut inserted = 0;
    let mut chunks = rows.chunks_exact(SQLITE_ROWS_PER_STATEMENT);
    let mut insert = statements.many.bind(handle);
    for chunk in chunks.by_ref() {
        for (n, row) in chunk.iter().enumerate() {
            bind_row(&mut insert, n as c_int * PARAMETERS_PER_ROW, row)?;
        }
        inserted += insert.execute()?;
    }
    drop(insert);
    let mut insert = statements.one.bind(handle);
    for row in chunks.remainder() {
        bind_row(&mut insert, 0, row)?;
        inserted += insert.execute()?;
    }
    Ok(inserted)
}

/// Binds `row` to the parameters after `before`, in `COLUMNS`' order.
fn bind_row<'v>(
    insert: &mut Bindings<'_, 'v>,
    before: c_int,
    row: &'v LogRow,
) -> Result<(), SqliteFailure> {
    let at = |column: c_int| before + column;
    insert.text(at(1), &row.id)?;
    insert.text(at(2), &row.created_at)?;
    insert.optional(at(3), row.client_key.as_deref(), Bindings::text)?;
    insert.text(at(4), &row.endpoint)?;
    insert.optional(at(5), row.model.as_deref(), Bindings::text)?;
    insert.optional(at(6), row.upstream.as_deref(), Bindings::text)?;
    insert.optional(at(7), row.upstream_model.as_deref(), Bindings::text)?;
    insert.integer(at(8), row.stream.into())?;
    insert.integer(at(9), row.status.into())?;
    insert.text(at(10), &row.tried)?;
    insert.optional(at(11), row.error.as_deref(), Bindings::text)?;
    insert.real(at(12), row.latency_ms)?;
    insert.optional(at(13), row.ttft_ms, Bindings::real)?;
    insert.optional(at(14), row.prompt_tokens, Bindings::integer)?;
    insert.optional(at(15), row.completion_tokens, Bindings::integer)?;
    insert.optional(at(16), row.total_tokens, Bindings::integer)?;
    insert.optional(at(17), row.finish_reason.as_deref(), Bindings::text)?;
    insert.optional(at(18), row.request_body.as_deref(), Bindings::text)?;
    insert.optional(at(19), row.response_content.as_deref(), Bindings::text)?;
    insert.optional(at(20), row.reasoning_content.as_deref(), Bindings::text)?;
    insert.optional(at(21), row.tool_calls.as_deref(), Bindings::text)?;
    insert.integer(at(22), row.cancelled.into())?;
    insert.integer(at(23), row.malformed.into())?;
    insert.integer(at(24), row.usage_estimated.into())?;
    insert.optional(at(25), row.cost_usd, Bindings::real)?;
    insert.text(at(26), &row.attempts)
}

/// Returns the rows inserted (a replayed row already there is not).
pub(super) async fn postgres(
    connection: &mut PgConnection,
    rows: &[LogRow],
) -> Result<u64, sqlx::Error> {
    let text = |field: fn(&LogRow) -> &str| rows.iter().map(field).collect::<Vec<_>>();
    let optional = |field: fn(&LogRow) -> Option<&str>| rows.iter().map(field).collect::<Vec<_>>();
    let flag = |field: fn(&LogRow) -> bool| rows.iter().map(field).collect::<Vec<_>>();
    let tokens = |field: fn(&LogRow) -> Option<i64>| rows.iter().map(field).collect::<Vec<_>>();
    let result: PgQueryResult = sqlx::query(POSTGRES_INSERT)
        .bind(text(|row| &row.id))
        .bind(text(|row| &row.created_at))
        .bind(optional(|row| row.client_key.as_deref()))
        .bind(text(|row| &row.endpoint))
        .bind(optional(|row| row.model.as_deref()))
        .bind(optional(|row| row.upstream.as_deref()))
        .bind(optional(|row| row.upstream_model.as_deref()))
        .bind(flag(|row| row.stream))
        .bind(rows.iter().map(|row| row.status).collect::<Vec<_>>())
        .bind(text(|row| &row.tried))
        .bind(optional(|row| row.error.as_deref()))
        .bind(rows.iter().map(|row| row.latency_ms).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.ttft_ms).collect::<Vec<_>>())
        .bind(tokens(|row| row.prompt_tokens))
        .bind(tokens(|row| row.completion_tokens))
        .bind(tokens(|row| row.total_tokens))
        .bind(optional(|row| row.finish_reason.as_deref()))
        .bind(optional(|row| row.request_body.as_deref()))
        .bind(optional(|row| row.response_content.as_deref()))
        .bind(optional(|row| row.reasoning_content.as_deref()))
        .bind(optional(|row| row.tool_calls.as_deref()))
        .bind(flag(|row| row.cancelled))
        .bind(flag(|row| row.malformed))
        .bind(flag(|row| row.usage_estimated))
        .bind(rows.iter().map(|row| row.cost_usd).collect::<Vec<_>>())
        .bind(text(|row| &row.attempts))
        .execute(connection)
        .await?;
    Ok(result.rows_affected())
}
