//! The console's reads of the request log: one page of it (newest first, filtered, paged by
//! id) and one request whole. Answered on the database thread's pool, as JSON text ready
//! to send. Pages go by id because ids start with the arrival time in microseconds (16 hex
//! digits): newest first is the primary key read backwards, a time range is a range of
//! ids, a key is a range of the `(client_key, id)` index, error text is searched in the
//! partial index of the rows with an error (migration 0004), and the other filters read
//! back from the newest row until the page is full.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::row::format_utc;
use super::store::Store;
use gpt_api_common::console::{time_of, RequestFilter, StatusFilter};
use gpt_api_common::json::push_json_string;

/// The columns a page lists (no bodies: they can be large).
const LISTED: &str = "id, client_key, endpoint, model, upstream, stream, status, error, \
    latency_ms, ttft_ms, total_tokens, tried, cancelled";
/// The columns of one request.
const DETAILED: &str = "id, client_key, endpoint, model, upstream, upstream_model, stream, \
    status, tried, attempts, error, latency_ms, ttft_ms, prompt_tokens, completion_tokens, \
    total_tokens, finish_reason, request_body, response_content, reasoning_content, \
    tool_calls, cancelled, malformed, usage_estimated, cost_usd";
/// `created_at` as the same UTC text on both backends.
const SQLITE_CREATED_AT: &str = "created_at";
const POSTGRES_CREATED_AT: &str =
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at";

/// A value bound to a placeholder.
enum Bind {
    Text(String),
    Int(i64),
}

/// The `WHERE` clause of a page and its values, with placeholders for `backend`.
struct Conditions {
    postgres: bool,
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    fn new(filter: &RequestFilter, postgres: bool) -> Self {
        let mut conditions = Self {
            postgres,
            clauses: Vec::new(),
            binds: Vec::new(),
        };
        let equal = [
            ("client_key", &filter.client_key),
            ("model", &filter.model),
            ("upstream", &filter.upstream),
            ("endpoint", &filter.endpoint),
        ];
        for (column, value) in equal {
            if let Some(value) = value {
                conditions.add(&format!("{column} = "), "", Bind::Text(value.clone()));
            }
        }
        match filter.status {
            Some(StatusFilter::Exact(status)) => {
                conditions.add("status = ", "", Bind::Int(status.into()));
            }
            Some(StatusFilter::Class(class)) => {
                let from = i64::from(class) * 100;
                conditions.add("status >= ", "", Bind::Int(from));
                conditions.add("status < ", "", Bind::Int(from + 100));
            }
            Some(StatusFilter::Errors) => conditions.add("status >= ", "", Bind::Int(400)),
            None => {}
        }
        // The time bounds twice: on the id, so that the primary key's order serves the range
        // (ids start with the arrival time), and on created_at, which is exact.
        let time = if postgres { "::timestamptz" } else { "" };
        if let Some(since) = filter.since_micros {
            conditions.add("id >= ", "", Bind::Text(format!("{since:016x}")));
            let at = format_utc(time_of(since));
            conditions.add("created_at >= ", time, Bind::Text(at));
        }
        if let Some(until) = filter.until_micros {
            conditions.add("id < ", "", Bind::Text(format!("{until:016x}")));
            let at = format_utc(time_of(until));
            conditions.add("created_at < ", time, Bind::Text(at));
        }
        if let Some(text) = &filter.error_contains {
            // SQLite's LIKE ignores ASCII case; PostgreSQL's needs ILIKE for the same answer.
            // `error IS NOT NULL` lets the partial index of the rows with an error (a few
            // percent of the log) serve the scan.
            let like = if postgres {
                "error IS NOT NULL AND error ILIKE "
            } else {
                "error IS NOT NULL AND error LIKE "
            };
            let pattern = format!("%{}%", escape_like(text));
            conditions.add(like, " ESCAPE '\\'", Bind::Text(pattern));
        }
        if let Some(before) = &filter.before {
            conditions.add("id < ", "", Bind::Text(before.clone()));
        }
        conditions
    }

    /// `prefix` placeholder `suffix`, e.g. `status = $3` or `created_at >= ?::timestamptz`.
    fn add(&mut self, prefix: &str, suffix: &str, bind: Bind) {
        self.binds.push(bind);
        let placeholder = if self.postgres {
            format!("${}", self.binds.len())
        } else {
            "?".to_owned()
        };
        self.clauses.push(format!("{prefix}{placeholder}{suffix}"));
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// `%`, `_` and `\` stand for themselves in the searched text.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The SQL text of a page for `filter`: one row more than the page, to know if more follow.
fn page_sql(filter: &RequestFilter, postgres: bool) -> String {
    let conditions = Conditions::new(filter, postgres);
    let created_at = if postgres {
        POSTGRES_CREATED_AT
    } else {
        SQLITE_CREATED_AT
    };
    format!(
        "SELECT {LISTED}, {created_at} FROM request_logs{} ORDER BY id DESC LIMIT {}",
        conditions.where_clause(),
        filter.limit + 1
    )
}

/// One page as `{"object":"list","data":[…],"has_more":…,"next_before":…}`.
pub(super) async fn page(store: &Store, filter: &RequestFilter) -> Result<String, sqlx::Error> {
    let postgres = matches!(store, Store::Postgres(_));
    let sql = page_sql(filter, postgres);
    let binds = Conditions::new(filter, postgres).binds;
    let mut items = match store {
        Store::Sqlite(pool, ..) => {
            let mut query = sqlx::query(&sql);
            for bind in binds {
                query = match bind {
                    Bind::Text(text) => query.bind(text),
                    Bind::Int(number) => query.bind(number),
                };
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(listed_sqlite).collect::<Vec<_>>()
        }
        Store::Postgres(pool) => {
            let mut query = sqlx::query(&sql);
            for bind in binds {
                query = match bind {
                    Bind::Text(text) => query.bind(text),
                    Bind::Int(number) => query.bind(number as i32),
                };
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(listed_postgres).collect::<Vec<_>>()
        }
    };
    let has_more = items.len() > filter.limit as usize;
    items.truncate(filter.limit as usize);
    let mut out = String::from("{\"object\":\"list\",\"data\":[");
    out.push_str(
        &items
            .iter()
            .map(|(_, json)| json.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("],\"has_more\":");
    out.push_str(if has_more { "true" } else { "false" });
    out.push_str(",\"next_before\":");
    match items.last().filter(|_| has_more) {
        Some((id, _)) => push_json_string(&mut out, id),
        None => out.push_str("null"),
    }
    out.push('}');
    Ok(out)
}

/// One request with everything the log holds about it, or `None` if no row has that id.
pub(super) async fn detail(store: &Store, id: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(match store {
        Store::Sqlite(pool, ..) => {
            let sql =
                format!("SELECT {DETAILED}, {SQLITE_CREATED_AT} FROM request_logs WHERE id = ?");
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
            row.map(|row| detailed(&Fields::Sqlite(&row)))
        }
        Store::Postgres(pool) => {
            let sql =
                format!("SELECT {DETAILED}, {POSTGRES_CREATED_AT} FROM request_logs WHERE id = $1");
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
            row.map(|row| detailed(&Fields::Postgres(&row)))
        }
    })
}

/// A row of either backend, read by column name with the types both share.
enum Fields<'r> {
    Sqlite(&'r SqliteRow),
    Postgres(&'r PgRow),
}

impl Fields<'_> {
    fn text(&self, column: &str) -> Option<String> {
        match self {
            Self::Sqlite(row) => row.try_get(column).ok().flatten(),
            Self::Postgres(row) => row.try_get(column).ok().flatten(),
        }
    }

    fn number(&self, column: &str) -> Option<f64> {
        match self {
            Self::Sqlite(row) => row.try_get::<Option<f64>, _>(column).ok().flatten(),
            Self::Postgres(row) => row.try_get::<Option<f64>, _>(column).ok().flatten(),
        }
    }

    fn integer(&self, column: &str) -> Option<i64> {
        match self {
            Self::Sqlite(row) => row.try_get::<Option<i64>, _>(column).ok().flatten(),
            Self::Postgres(row) => match row.try_get::<Option<i64>, _>(column) {
                Ok(value) => value,
                Err(_) => row
                    .try_get::<Option<i32>, _>(column)
                    .ok()
                    .flatten()
                    .map(i64::from),
            },
        }
    }

    fn flag(&self, column: &str) -> bool {
        match self {
            Self::Sqlite(row) => row.try_get(column).unwrap_or(false),
            Self::Postgres(row) => row.try_get(column).unwrap_or(false),
        }
    }
}

fn listed_sqlite(row: &SqliteRow) -> (String, String) {
    listed(&Fields::Sqlite(row))
}

fn listed_postgres(row: &PgRow) -> (String, String) {
    listed(&Fields::Postgres(row))
}

/// A page's entry: its id (for `next_before`) and its JSON object.
fn listed(fields: &Fields<'_>) -> (String, String) {
    let id = fields.text("id").unwrap_or_default();
    let mut out = JsonObject::new();
    out.text("id", Some(&id));
    common_fields(&mut out, fields);
    let attempts = fields
        .text("tried")
        .and_then(|tried| json_array_len(&tried))
        .unwrap_or(0);
    out.raw("attempts", &attempts.to_string());
    (id, out.finish())
}

fn detailed(fields: &Fields<'_>) -> String {
    let mut out = JsonObject::new();
    out.text("id", fields.text("id").as_deref());
    common_fields(&mut out, fields);
    for column in [
        "upstream_model",
        "finish_reason",
        "request_body",
        "response_content",
        "reasoning_content",
    ] {
        out.text(column, fields.text(column).as_deref());
    }
    for column in ["prompt_tokens", "completion_tokens"] {
        out.integer(column, fields.integer(column));
    }
    out.number("cost_usd", fields.number("cost_usd"));
    for column in ["tried", "attempts", "tool_calls"] {
        out.json(column, fields.text(column).as_deref());
    }
    for column in ["malformed", "usage_estimated"] {
        out.raw(column, if fields.flag(column) { "true" } else { "false" });
    }
    out.finish()
}

/// The fields a page and a request both show.
fn common_fields(out: &mut JsonObject, fields: &Fields<'_>) {
    for column in [
        "created_at",
        "client_key",
        "endpoint",
        "model",
        "upstream",
        "error",
    ] {
        out.text(column, fields.text(column).as_deref());
    }
    out.integer("status", fields.integer("status"));
    out.raw(
        "stream",
        if fields.flag("stream") {
            "true"
        } else {
            "false"
        },
    );
    out.raw(
        "cancelled",
        if fields.flag("cancelled") {
            "true"
        } else {
            "false"
        },
    );
    for column in ["latency_ms", "ttft_ms"] {
        out.number(column, fields.number(column));
    }
    out.integer("total_tokens", fields.integer("total_tokens"));
}

/// Entries of a JSON array text, or `None` if it is not one.
fn json_array_len(text: &str) -> Option<usize> {
    let mut bytes = text.as_bytes().to_vec();
    let value: simd_json::OwnedValue = simd_json::to_owned_value(&mut bytes).ok()?;
    match value {
        simd_json::OwnedValue::Array(items) => Some(items.len()),
        _ => None,
    }
}

/// A JSON object written field by field.
struct JsonObject(String);

impl JsonObject {
    fn new() -> Self {
        Self(String::from("{"))
    }

    fn key(&mut self, name: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_json_string(&mut self.0, name);
        self.0.push(':');
    }

    fn raw(&mut self, name: &str, json: &str) {
        self.key(name);
        self.0.push_str(json);
    }

    fn text(&mut self, name: &str, value: Option<&str>) {
        self.key(name);
        match value {
            Some(value) => push_json_string(&mut self.0, value),
            None => self.0.push_str("null"),
        }
    }

    fn integer(&mut self, name: &str, value: Option<i64>) {
        self.raw(
            name,
            &value.map_or_else(|| "null".to_owned(), |v| v.to_string()),
        );
    }

    fn number(&mut self, name: &str, value: Option<f64>) {
        let json = value
            .filter(|v| v.is_finite())
            .map_or_else(|| "null".to_owned(), |v| format!("{v:.3}"));
        self.raw(name, &json);
    }

    /// A column that holds JSON text, embedded as JSON when it parses (else as a string).
    fn json(&mut self, name: &str, value: Option<&str>) {
        let Some(text) = value else {
            return self.raw(name, "null");
        };
        let mut bytes = text.as_bytes().to_vec();
        if simd_json::to_owned_value(&mut bytes).is_ok() {
            self.raw(name, text);
        } else {
            self.text(name, Some(text));
        }
    }

    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}
