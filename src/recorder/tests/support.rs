//! Test helpers: temporary directories, sample records and rows, reading rows back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sqlx::Row;

use crate::row::{format_utc, LogRow, ResponseSummary};
use crate::stream::StreamAccumulator;
use gpt_api_common::record::{AttemptRecord, RequestRecord};
use gpt_api_common::DatabaseSettings;

/// What a stream accumulator makes of these chunks, fed in order.
pub(super) fn accumulate(chunks: &[&str]) -> ResponseSummary {
    let mut accumulator = StreamAccumulator::default();
    for chunk in chunks {
        accumulator.feed(chunk.as_bytes());
    }
    accumulator.finish()
}

/// A recorded stream fed in chunks of `size` bytes (cutting events, lines and UTF-8
/// characters anywhere), after checking it reads the same fed whole.
pub(super) fn accumulate_in_chunks(stream: &str, size: usize) -> ResponseSummary {
    let whole = accumulate(&[stream]);
    let mut accumulator = StreamAccumulator::default();
    for chunk in stream.as_bytes().chunks(size) {
        accumulator.feed(chunk);
    }
    let chunked = accumulator.finish();
    assert_eq!(chunked, whole, "fed in chunks of {size} bytes");
    chunked
}

/// A binary stream (Converse's event-stream frames) fed in chunks of `size` bytes, after
/// checking it reads the same fed whole.
pub(super) fn accumulate_bytes(stream: &[u8], size: usize) -> ResponseSummary {
    let mut whole = StreamAccumulator::default();
    whole.feed(stream);
    let whole = whole.finish();
    let mut accumulator = StreamAccumulator::default();
    for chunk in stream.chunks(size) {
        accumulator.feed(chunk);
    }
    let chunked = accumulator.finish();
    assert_eq!(chunked, whole, "fed in chunks of {size} bytes");
    chunked
}

/// A directory under the system's temp dir, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gpt-api-{tag}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }

    pub(super) fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("log.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn settings(url: String, dir: &TempDir) -> DatabaseSettings {
    DatabaseSettings {
        url,
        store_content: true,
        access_log: true,
        batch_size: 64,
        flush_interval: Duration::from_millis(20),
        memory_records: 1000,
        spill_path: dir.path().join("spill.jsonl"),
    }
}

/// A finished non-streaming chat request with a JSON body.
pub(super) fn record(id: &str) -> RequestRecord {
    RequestRecord {
        id: id.to_owned(),
        created_at: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
        method: "POST".into(),
        client_key: Some("team-a".to_owned()),
        endpoint: "/v1/chat/completions".to_owned(),
        model: Some("gpt-4o-mini".to_owned()),
        upstream: Some("backup".into()),
        upstream_model: Some("gpt-4o-mini-2024".into()),
        stream: false,
        status: 200,
        attempts: vec![
            AttemptRecord {
                target: "primary/gpt-4o-mini".into(),
                start_ms: 0.25,
                duration_ms: 4.5,
                outcome: "transient",
                error: Some("upstream returned 503".to_owned()),
                mid_stream: false,
                continuation: false,
            },
            AttemptRecord {
                target: "backup/gpt-4o-mini-2024".into(),
                start_ms: 5.0,
                duration_ms: 7.0,
                outcome: "ok",
                error: None,
                mid_stream: false,
                continuation: false,
            },
        ],
        error: None,
        latency_ms: 12.5,
        ttft_ms: None,
        request_body: Some(Bytes::from_static(br#"{"model":"gpt-4o-mini","messages":[]}"#)),
        response_body: Some(Bytes::from_static(
            br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
        )),
        cancelled: false,
        usage_estimated: false,
        price: None,
        admission: None,
    }
}

/// A row with every column set (`tag` varies the id and the text).
/// The row of `record`, its time formatted as the logging thread does.
pub(super) fn row_of(
    record: RequestRecord,
    summary: ResponseSummary,
    store_content: bool,
) -> LogRow {
    let created_at = format_utc(record.created_at);
    LogRow::new(record, created_at, summary, store_content)
}

pub(super) fn full_row(tag: &str) -> LogRow {
    LogRow {
        id: format!("req-{tag}"),
        created_at: "2025-01-31T12:00:00.123456Z".to_owned(),
        client_key: Some("team-a".to_owned()),
        endpoint: "/v1/chat/completions".to_owned(),
        model: Some("gpt-4o-mini".to_owned()),
        upstream: Some("primary".to_owned()),
        upstream_model: Some("gpt-4o-mini-2024".to_owned()),
        stream: true,
        status: 502,
        tried: r#"["primary/gpt-4o-mini-2024"]"#.to_owned(),
        error: Some(format!("All upstreams failed ({tag}) — \"quoted\" ünïcode")),
        latency_ms: 123.456,
        ttft_ms: Some(7.25),
        prompt_tokens: Some(10),
        completion_tokens: Some(20),
        total_tokens: Some(30),
        finish_reason: Some("tool_calls".to_owned()),
        request_body: Some(r#"{"messages":[{"role":"user","content":"hi"}]}"#.to_owned()),
        response_content: Some(format!("text {tag}\nline two")),
        reasoning_content: Some("thinking".to_owned()),
        tool_calls: Some(
            r#"[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]"#
                .to_owned(),
        ),
        cancelled: true,
        malformed: true,
        usage_estimated: true,
        cost_usd: Some(0.012_5),
        attempts: r#"[{"target":"primary/gpt-4o-mini-2024","start_ms":0.5,"duration_ms":120.0,"outcome":"transient","error":"upstream returned 503","mid_stream":false,"continuation":false}]"#.to_owned(),
    }
}

/// A row with every optional column empty.
pub(super) fn bare_row(tag: &str) -> LogRow {
    LogRow {
        id: format!("bare-{tag}"),
        created_at: "2025-01-31T12:00:01.000000Z".to_owned(),
        client_key: None,
        endpoint: "/v1/embeddings".to_owned(),
        model: None,
        upstream: None,
        upstream_model: None,
        stream: false,
        status: 400,
        tried: "[]".to_owned(),
        error: None,
        latency_ms: 0.5,
        ttft_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        total_tokens: None,
        finish_reason: None,
        request_body: None,
        response_content: None,
        reasoning_content: None,
        tool_calls: None,
        cancelled: false,
        malformed: false,
        usage_estimated: false,
        cost_usd: None,
        attempts: "[]".to_owned(),
    }
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every column but `created_at`, in the order of `LogRow`'s fields.
const COLUMNS: &str = "id, client_key, endpoint, model, upstream, upstream_model, stream, status, \
    tried, error, latency_ms, ttft_ms, prompt_tokens, completion_tokens, total_tokens, finish_reason, \
    request_body, response_content, reasoning_content, tool_calls, cancelled, malformed, usage_estimated, \
    cost_usd, attempts";

macro_rules! row_from {
    ($row:expr, $created_at:expr) => {
        LogRow {
            id: $row.get("id"),
            created_at: $created_at,
            client_key: $row.get("client_key"),
            endpoint: $row.get("endpoint"),
            model: $row.get("model"),
            upstream: $row.get("upstream"),
            upstream_model: $row.get("upstream_model"),
            stream: $row.get("stream"),
            status: $row.get("status"),
            tried: $row.get("tried"),
            error: $row.get("error"),
            latency_ms: $row.get("latency_ms"),
            ttft_ms: $row.get("ttft_ms"),
            prompt_tokens: $row.get("prompt_tokens"),
            completion_tokens: $row.get("completion_tokens"),
            total_tokens: $row.get("total_tokens"),
            finish_reason: $row.get("finish_reason"),
            request_body: $row.get("request_body"),
            response_content: $row.get("response_content"),
            reasoning_content: $row.get("reasoning_content"),
            tool_calls: $row.get("tool_calls"),
            cancelled: $row.get("cancelled"),
            malformed: $row.get("malformed"),
            usage_estimated: $row.get("usage_estimated"),
            cost_usd: $row.get("cost_usd"),
            attempts: $row.get("attempts"),
        }
    };
}

/// Every row of `request_logs` in an SQLite file, by id.
pub(super) fn sqlite_rows(url: &str) -> Vec<LogRow> {
    runtime().block_on(async {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        let query = format!("SELECT {COLUMNS}, created_at FROM request_logs ORDER BY id");
        let rows = sqlx::query(&query).fetch_all(&pool).await.expect("select");
        pool.close().await;
        rows.iter()
            .map(|row| row_from!(row, row.get("created_at")))
            .collect()
    })
}

/// Every row of `request_logs` in PostgreSQL, by id, `created_at` as the same UTC text.
pub(super) fn postgres_rows(url: &str) -> Vec<LogRow> {
    runtime().block_on(async {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let query = format!(
            "SELECT {COLUMNS}, to_char(created_at AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at FROM request_logs ORDER BY id"
        );
        let rows = sqlx::query(&query).fetch_all(&pool).await.expect("select");
        pool.close().await;
        rows.iter()
            .map(|row| row_from!(row, row.get("created_at")))
            .collect()
    })
}

/// Runs SQL statements against an SQLite file (to break or mend the table under test).
pub(super) fn sqlite_execute(url: &str, statements: &[&str]) {
    runtime().block_on(async {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        for statement in statements {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .expect("execute");
        }
        pool.close().await;
    });
}

/// Waits for `condition` up to `limit`, polling; true if it held.
pub(super) fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

/// `SystemTime` at a fixed instant, for timestamp tests.
pub(super) fn at_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}
