//! The INSERT statements behind `Store::insert`, one shape per backend, both skipping a row
//! whose id is already there, so that a replayed row is never written twice.
//! SQLite: multi-row `INSERT OR IGNORE ... VALUES`. PostgreSQL: one array per column and
//! `UNNEST`, so a batch of any size is one statement with 26 parameters, prepared once and reused.

use std::sync::LazyLock;

use sqlx::postgres::PgQueryResult;
use sqlx::sqlite::{SqliteArguments, SqliteQueryResult};
use sqlx::{Arguments, PgConnection, SqliteConnection};

use super::row::LogRow;

/// Rows per SQLite statement, largest first: a batch goes as 8-row statements and its
/// remainder as at most one each of 4, 2 and 1 rows. Four fixed texts, each parsed once and
/// then reused from sqlx's statement cache (100 entries); a new text per batch size made
/// SQLite re-parse on every flush. Eight, not 64: per row, SQLite spends fewer instructions
/// on 8-row statements than on 64-row ones (22.1k against 25.4k in `log_cost`), and a small
/// batch no longer goes one statement per row.
const SQLITE_ROWS_PER_STATEMENT: [usize; 4] = [8, 4, 2, 1];

/// Parameters per row of an SQLite statement: one per column.
const PARAMETERS_PER_ROW: usize = 26;

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

/// Returns the rows inserted (a replayed row already there is not).
pub(super) async fn sqlite(
    connection: &mut SqliteConnection,
    rows: &[LogRow],
) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    let mut rest = rows;
    for (size, text) in SQLITE_INSERTS.iter() {
        let mut chunks = rest.chunks_exact(*size);
        for chunk in chunks.by_ref() {
            inserted += sqlite_statement(connection, text, chunk).await?;
        }
        rest = chunks.remainder();
    }
    Ok(inserted)
}

async fn sqlite_statement(
    connection: &mut SqliteConnection,
    text: &str,
    rows: &[LogRow],
) -> Result<u64, sqlx::Error> {
    // Room for every parameter at once, rather than growing a doubling at a time.
    let mut arguments = SqliteArguments::default();
    arguments.reserve(rows.len() * PARAMETERS_PER_ROW, 0);
    let query = sqlx::query_with(text, arguments);
    let query = rows.iter().fold(query, |query, row| {
        query
            .bind(row.id.as_str())
            .bind(row.created_at.as_str())
            .bind(row.client_key.as_deref())
            .bind(row.endpoint.as_str())
            .bind(row.model.as_deref())
            .bind(row.upstream.as_deref())
            .bind(row.upstream_model.as_deref())
            .bind(row.stream)
            .bind(row.status)
            .bind(row.tried.as_str())
            .bind(row.error.as_deref())
            .bind(row.latency_ms)
            .bind(row.ttft_ms)
            .bind(row.prompt_tokens)
            .bind(row.completion_tokens)
            .bind(row.total_tokens)
            .bind(row.finish_reason.as_deref())
            .bind(row.request_body.as_deref())
            .bind(row.response_content.as_deref())
            .bind(row.reasoning_content.as_deref())
            .bind(row.tool_calls.as_deref())
            .bind(row.cancelled)
            .bind(row.malformed)
            .bind(row.usage_estimated)
            .bind(row.cost_usd)
            .bind(row.attempts.as_str())
    });
    let result: SqliteQueryResult = query.execute(connection).await?;
    Ok(result.rows_affected())
}

// The statement texts are built once: assembling one per flush (a placeholder at a time)
// was a quarter of the logging thread's CPU.
static SQLITE_INSERTS: LazyLock<[(usize, String); 4]> =
    LazyLock::new(|| SQLITE_ROWS_PER_STATEMENT.map(|rows| (rows, sqlite_insert(rows))));

/// `INSERT OR IGNORE ... VALUES (?, ...), ...` for `rows` rows. `OR IGNORE` rather than
/// `ON CONFLICT (id) DO NOTHING`: with the latter a NOT NULL column could still abort the
/// statement half-way, so SQLite kept a statement journal of every page the statement
/// touched (1.1k instructions per row, 5% of the SQLite thread). The two differ only for a
/// NULL in a NOT NULL column, which cannot happen here: each such column is a `LogRow` field
/// that is not an `Option` (and `latency_ms`, the one float, is always finite).
fn sqlite_insert(rows: usize) -> String {
    let placeholders = vec!["?"; PARAMETERS_PER_ROW].join(", ");
    let values = vec![format!("({placeholders})"); rows].join(", ");
    format!("INSERT OR IGNORE INTO request_logs ({COLUMNS}) VALUES {values}")
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
