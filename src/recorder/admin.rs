//! The answers to admin queries (`gpt_api_common::admin`), read from `request_logs` by the
//! database thread on its own pool: one query at a time, between the log's writes (a row
//! that waits past `flush_interval` meanwhile goes to the spill file, as during any slow
//! write, so nothing is lost).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use gpt_api_common::admin::{AdminFailure, AdminQuery, AdminReply, UsageQuery};
use gpt_api_common::json::push_json_string;

use super::console;
use super::row::format_utc;
use super::store::Store;

/// Longest an admin query may take.
pub(super) const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds for an open end of a time range: both backends compare them with `created_at`
/// (SQLite as text, PostgreSQL as `timestamptz`).
const EARLIEST: &str = "0001-01-01T00:00:00.000000Z";
const LATEST: &str = "9999-12-31T23:59:59.999999Z";

pub(super) async fn answer(store: &Store, query: &AdminQuery) -> AdminReply {
    match query {
        AdminQuery::Usage(usage) => usage_totals(store, usage).await,
        AdminQuery::KeySpend { key, since } => key_spend(store, key, *since).await,
        AdminQuery::Requests(filter) => console::page(store, filter)
            .await
            .map_err(|error| AdminFailure::Unavailable(error.to_string())),
        AdminQuery::Request(id) => match console::detail(store, id).await {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(AdminFailure::NotFound(format!("/admin/requests/{id}"))),
            Err(error) => Err(AdminFailure::Unavailable(error.to_string())),
        },
    }
}

async fn key_spend(store: &Store, key: &str, since: SystemTime) -> AdminReply {
    let select = format!(
        "SELECT CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION), \
         CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT) \
         FROM request_logs WHERE client_key = {} AND created_at >= {}",
        store.placeholder(1, "TEXT"),
        store.placeholder(2, "TIMESTAMPTZ"),
    );
    let since = format_utc(since);
    let (usd, tokens): (f64, i64) = match store {
        Store::Sqlite(pool, ..) => {
            sqlx::query_as(&select)
                .bind(key)
                .bind(&since)
                .fetch_one(pool)
                .await
        }
        Store::Postgres(pool) => {
            sqlx::query_as(&select)
                .bind(key)
                .bind(&since)
                .fetch_one(pool)
                .await
        }
    }
    .map_err(|error| AdminFailure::Unavailable(error.to_string()))?;
    Ok(format!(
        "{{\"usd\":{},\"tokens\":{tokens}}}",
        json_number(usd)
    ))
}

/// One group's totals: group, requests, errors, prompt, completion and total tokens, cost.
type UsageRow = (Option<String>, i64, i64, i64, i64, i64, f64);

async fn usage_totals(store: &Store, query: &UsageQuery) -> AdminReply {
    let since = bound(query.since, EARLIEST);
    let until = bound(query.until, LATEST);
    let column = query.group_by.column();
    // `column` is one of three fixed names; the bounds are bound parameters.
    let select = format!(
        "SELECT {column}, COUNT(*), \
         CAST(COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), \
         CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT), \
         CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) \
         FROM request_logs WHERE created_at >= {} AND created_at < {} \
         GROUP BY {column} ORDER BY {column}",
        store.placeholder(1, "TIMESTAMPTZ"),
        store.placeholder(2, "TIMESTAMPTZ"),
    );
    let rows: Vec<UsageRow> = match store {
        Store::Sqlite(pool, ..) => {
            sqlx::query_as(&select)
                .bind(&since)
                .bind(&until)
                .fetch_all(pool)
                .await
        }
        Store::Postgres(pool) => {
            sqlx::query_as(&select)
                .bind(&since)
                .bind(&until)
                .fetch_all(pool)
                .await
        }
    }
    .map_err(|error| AdminFailure::Unavailable(error.to_string()))?;
    Ok(usage_body(query, &since, &until, &rows))
}

fn bound(at: Option<SystemTime>, open: &str) -> String {
    at.map_or_else(|| open.to_owned(), format_utc)
}

/// `{"object":"usage","group_by":…,"since":…,"until":…,"data":[{"group":…,…}]}`; an open
/// end of the range is `null`.
fn usage_body(query: &UsageQuery, since: &str, until: &str, rows: &[UsageRow]) -> String {
    let mut body = String::from("{\"object\":\"usage\",\"group_by\":\"");
    body.push_str(query.group_by.name());
    body.push('"');
    for (name, given, text) in [("since", query.since, since), ("until", query.until, until)] {
        let _ = write!(body, ",\"{name}\":");
        match given {
            Some(_) => push_json_string(&mut body, text),
            None => body.push_str("null"),
        }
    }
    body.push_str(",\"data\":[");
    for (i, (group, requests, errors, prompt, completion, total, cost)) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"group\":");
        match group {
            Some(group) => push_json_string(&mut body, group),
            None => body.push_str("null"),
        }
        let _ = write!(
            body,
            ",\"requests\":{requests},\"errors\":{errors},\"prompt_tokens\":{prompt},\
             \"completion_tokens\":{completion},\"total_tokens\":{total},\"cost_usd\":{}}}",
            json_number(*cost)
        );
    }
    body.push_str("]}");
    body
}

/// A float as JSON (which has no NaN or infinity).
fn json_number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".to_owned()
    }
}
