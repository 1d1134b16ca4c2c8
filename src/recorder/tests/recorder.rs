//! The logging thread end to end on SQLite: one row per request of every kind, an
//! outage that spills and replays, a stall that spills what waits, shutdown with the
//! database down, and draining.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sqlx::{Connection, SqliteConnection};

use crate::row::LogRow;
use crate::store::Store;
use crate::{start, Recorder};
use gpt_api_common::record::{RecordEvent, RecordSender};

use super::pg_server::PgServer;
use super::support::{
    full_row, record, runtime, settings, sqlite_execute, sqlite_rows, wait_for, TempDir,
};

const SCHEMA: &str = concat!(
    include_str!("../../../migrations/sqlite/0001_request_logs.sql"),
    include_str!("../../../migrations/sqlite/0002_usage_estimated.sql"),
    include_str!("../../../migrations/sqlite/0003_cost_usd.sql"),
    include_str!("../../../migrations/sqlite/0004_console.sql"),
);

fn send_requests(sender: &RecordSender, prefix: &str, count: usize) {
    for n in 0..count {
        sender.send(RecordEvent::Request(Box::new(record(&format!(
            "{prefix}-{n:06}"
        )))));
    }
}

fn chunk(stream: u64, text: &str) -> RecordEvent {
    RecordEvent::StreamChunk {
        stream,
        bytes: Bytes::copy_from_slice(text.as_bytes()),
    }
}

fn break_table(url: &str) {
    sqlite_execute(url, &["DROP TABLE request_logs"]);
}

fn mend_table(url: &str) {
    // Comments may hold a `;`: drop them before splitting the statements.
    let code: String = SCHEMA
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .map(|line| format!("{line}\n"))
        .collect();
    let statements: Vec<&str> = code
        .split(';')
        .filter(|sql| !sql.trim().is_empty())
        .collect();
    sqlite_execute(url, &statements);
}

fn shutdown(recorder: Recorder) {
    recorder.shutdown(Instant::now() + Duration::from_secs(10));
}

#[test]
fn every_kind_of_request_gets_one_row() {
    let dir = TempDir::new("recorder-kinds");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    assert!(recorder.stats().connected());

    send_requests(&sender, "plain", 1);
    let mut refused = record("refused");
    refused.status = 404;
    refused.error = Some("The model 'nope' does not exist".to_owned());
    refused.response_body = None;
    refused.attempts.clear();
    sender.send(RecordEvent::Request(Box::new(refused)));

    // Two streams interleaved: a tool call, and one the client left.
    sender.send(chunk(1, "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n"));
    sender.send(chunk(
        2,
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    ));
    sender.send(chunk(1, "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\ndata: [DONE]\n\n"));
    sender.send(chunk(
        2,
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
    ));
    let mut tool_stream = record("stream-tools");
    (
        tool_stream.stream,
        tool_stream.ttft_ms,
        tool_stream.response_body,
    ) = (true, Some(3.5), None);
    sender.send(RecordEvent::StreamEnd {
        stream: 1,
        record: Box::new(tool_stream),
    });
    let mut cancelled = record("stream-cancelled");
    (
        cancelled.stream,
        cancelled.cancelled,
        cancelled.response_body,
    ) = (true, true, None);
    sender.send(RecordEvent::StreamEnd {
        stream: 2,
        record: Box::new(cancelled),
    });
    drop(sender);
    shutdown(recorder);

    let rows = sqlite_rows(&url);
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "plain-000000",
            "refused",
            "stream-cancelled",
            "stream-tools"
        ]
    );
    let [plain, refused, cancelled, tools] = &rows[..] else {
        unreachable!()
    };
    assert_eq!(
        (
            plain.response_content.as_deref(),
            plain.total_tokens,
            plain.status
        ),
        (Some("Hello"), Some(6), 200)
    );
    assert_eq!(plain.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        refused.error.as_deref(),
        Some("The model 'nope' does not exist")
    );
    assert_eq!(
        (refused.status, refused.tried.as_str(), refused.total_tokens),
        (404, "[]", None)
    );
    assert!(cancelled.cancelled && cancelled.stream);
    assert_eq!(cancelled.response_content.as_deref(), Some("Hello"));
    assert_eq!(
        tools.tool_calls.as_deref(),
        Some(r#"[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]"#)
    );
    assert_eq!(
        (
            tools.prompt_tokens,
            tools.completion_tokens,
            tools.total_tokens
        ),
        (Some(3), Some(4), Some(7))
    );
    assert_eq!(
        (
            tools.ttft_ms,
            tools.finish_reason.as_deref(),
            tools.malformed
        ),
        (Some(3.5), Some("tool_calls"), false)
    );
}

#[test]
fn an_outage_spills_and_replays_when_the_database_is_back() {
    let dir = TempDir::new("recorder-outage");
    let url = dir.sqlite_url();
    let mut settings = settings(url.clone(), &dir);
    (settings.memory_records, settings.batch_size) = (5, 4);
    let spill_path = settings.spill_path.clone();
    let (sender, recorder) = start(settings).expect("start");
    let stats = recorder.stats();
    break_table(&url);

    // Past the memory bound at once, the rest once they waited `flush_interval`.
    send_requests(&sender, "outage", 20);
    assert!(wait_for(Duration::from_secs(5), || stats.spilled() == 20
        && stats.buffered() == 0));
    assert!(!stats.connected());
    assert!(stats.keeping_records());
    assert!(stats.failed_flushes() > 0);
    assert!(spill_path.exists());

    mend_table(&url);
    assert!(
        wait_for(Duration::from_secs(10), || stats.written() == 20),
        "written {}",
        stats.written()
    );
    assert_eq!((stats.spilled(), stats.buffered()), (0, 0));
    assert!(stats.connected());
    assert!(!spill_path.exists());
    drop(sender);
    shutdown(recorder);
    assert_eq!(sqlite_rows(&url).len(), 20);
}

/// Another writer takes SQLite's write lock: the store's writes wait for it (up to 5 s).
fn hold_write_lock(url: &str) -> (tokio::runtime::Runtime, SqliteConnection) {
    let runtime = runtime();
    let lock = runtime.block_on(async {
        let mut connection = SqliteConnection::connect(url).await.expect("connect");
        let begin = sqlx::query("BEGIN IMMEDIATE").execute(&mut connection);
        begin.await.expect("take the write lock");
        connection
    });
    (runtime, lock)
}

fn release_write_lock(runtime: &tokio::runtime::Runtime, lock: &mut SqliteConnection) {
    let commit = sqlx::query("COMMIT").execute(lock);
    runtime.block_on(commit).expect("let the lock go");
}

/// A database that stalls (another writer holds SQLite's lock; the store waits up to 5 s
/// for it) keeps no row in memory past `flush_interval` (20 ms here): the write under way
/// and the rows behind it go to the spill file, so a crash could lose none of them; once
/// the lock goes every row is written, none twice.
#[test]
fn rows_that_wait_longer_than_the_flush_interval_are_spilled() {
    let dir = TempDir::new("recorder-stall");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    let stats = recorder.stats();
    let (runtime, mut lock) = hold_write_lock(&url);

    send_requests(&sender, "stalled", 100);
    assert!(
        wait_for(Duration::from_secs(3), || stats.spilled() >= 100
            && stats.buffered() == 0),
        "spilled {}, in memory only {}",
        stats.spilled(),
        stats.buffered()
    );
    assert_eq!(stats.written(), 0, "the database was locked");

    release_write_lock(&runtime, &mut lock);
    assert!(
        wait_for(Duration::from_secs(10), || stats.written() == 100
            && stats.spilled() == 0),
        "written {}, spilled {}",
        stats.written(),
        stats.spilled()
    );
    drop(sender);
    shutdown(recorder);
    assert_eq!(sqlite_rows(&url).len(), 100);
    assert!(!dir.path().join("spill.jsonl").exists());
}

/// Rows copied to the spill file while the database stalls are still in memory; a shutdown
/// then (the stall outlasting its deadline) leaves each row in the file exactly once, and the
/// next start replays them all.
#[test]
fn a_shutdown_during_a_stall_leaves_each_row_in_the_spill_file_once() {
    let dir = TempDir::new("recorder-stall-stop");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    let stats = recorder.stats();
    let (runtime, mut lock) = hold_write_lock(&url);
    send_requests(&sender, "stall-stop", 200);
    assert!(wait_for(Duration::from_secs(3), || stats.spilled() == 200
        && stats.buffered() == 0));
    drop(sender);
    recorder.shutdown(Instant::now() + Duration::from_millis(100));
    let spilled = std::fs::read_to_string(dir.path().join("spill.jsonl")).expect("spill file");
    let mut ids: Vec<_> = spilled
        .lines()
        .map(|line| line.split('"').nth(3).expect("id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((spilled.lines().count(), ids.len()), (200, 200));

    release_write_lock(&runtime, &mut lock);
    // The first run's write, abandoned at its deadline, may still land once the lock goes:
    // count rows in the database, not rows this run inserted.
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("restart");
    let spill_path = dir.path().join("spill.jsonl");
    assert!(wait_for(Duration::from_secs(10), || !spill_path.exists()));
    drop(sender);
    shutdown(recorder);
    assert_eq!(sqlite_rows(&url).len(), 200);
}

#[test]
fn shutdown_with_the_database_down_spills_and_the_next_start_replays() {
    let dir = TempDir::new("recorder-down");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    break_table(&url);
    send_requests(&sender, "down", 10);
    drop(sender);
    let started = Instant::now();
    recorder.shutdown(Instant::now() + Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown is bounded by its deadline"
    );
    let spilled = std::fs::read_to_string(dir.path().join("spill.jsonl")).expect("spill file");
    assert_eq!(spilled.lines().count(), 10);

    mend_table(&url);
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("restart");
    assert_eq!(recorder.stats().spilled(), 10);
    let stats = recorder.stats();
    assert!(wait_for(Duration::from_secs(5), || stats.written() == 10));
    drop(sender);
    shutdown(recorder);
    assert_eq!(sqlite_rows(&url).len(), 10);
    assert!(!dir.path().join("spill.jsonl").exists());
}

/// Under a steady stream of events the channel may never be empty when the loop looks; the
/// database's results must still be read, or one write is all that happens until the
/// stream stops (the rest piling up in memory and the spill file).
#[test]
fn writes_go_on_while_events_are_always_queued() {
    let dir = TempDir::new("recorder-steady");
    let url = dir.sqlite_url();
    let mut settings = settings(url.clone(), &dir);
    settings.access_log = false;
    settings.batch_size = 256;
    settings.memory_records = 50_000;
    let (sender, recorder) = start(settings).expect("start");
    let stats = recorder.stats();
    // More than three of the largest write a turn can start (4,096 rows).
    let wanted = 3 * 4096 + 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    let mut emptied = 0;
    while stats.written() < wanted && Instant::now() < deadline {
        match sender.queue_depth() {
            0 => emptied += 1,
            depth if depth >= 2_000 => {
                std::thread::yield_now();
                continue;
            }
            _ => {}
        }
        send_requests(&sender, &format!("steady-{sent:07}"), 500);
        sent += 500;
    }
    assert!(
        stats.written() >= wanted,
        "{} rows written of {sent} sent in 30 s (the queue ran empty {emptied} times)",
        stats.written()
    );
    drop(sender);
    shutdown(recorder);
    assert_eq!(sqlite_rows(&url).len(), sent);
}

#[test]
fn shutdown_drains_everything_queued() {
    let dir = TempDir::new("recorder-drain");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    let stats = recorder.stats();
    send_requests(&sender, "burst", 20_000);
    drop(sender);
    shutdown(recorder);
    assert_eq!(stats.written(), 20_000);
    assert_eq!(sqlite_rows(&url).len(), 20_000);
    assert!(!dir.path().join("spill.jsonl").exists());
}

#[test]
fn shutdown_does_not_wait_for_a_sender_still_alive() {
    let dir = TempDir::new("recorder-alive");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    send_requests(&sender, "alive", 100);
    let started = Instant::now();
    shutdown(recorder);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(sqlite_rows(&url).len(), 100);
    drop(sender);
}

#[test]
fn start_refuses_a_bad_url_and_a_newer_schema() {
    let dir = TempDir::new("recorder-refuse");
    let Err(message) = start(settings("mysql://u@h/db".to_owned(), &dir)) else {
        panic!("mysql accepted")
    };
    assert!(message.contains("database.url"), "{message}");

    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    drop(sender);
    shutdown(recorder);
    sqlite_execute(
        &url,
        &["INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
           VALUES (99990101000000, 'from the future', TRUE, x'00', 1)"],
    );
    let Err(message) = start(settings(url, &dir)) else {
        panic!("newer schema accepted")
    };
    assert!(message.contains("newer than this gpt-api"), "{message}");
}

/// `cargo test --release --lib throughput -- --ignored --nocapture`: rows/s through the
/// whole logging thread (parse, access line, batch, insert), then of the inserts alone,
/// on SQLite and (where installed) PostgreSQL.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let dir = TempDir::new("recorder-throughput");
    measure("sqlite", &dir.sqlite_url(), &dir);
    let server = PgServer::start();
    measure("postgres", &server.url(), &dir);
}

fn measure(backend: &str, url: &str, dir: &TempDir) {
    let rows: usize = 200_000;
    let mut settings = settings(url.to_owned(), dir);
    // The default batch; memory for the whole burst, so that nothing is spilled.
    (settings.batch_size, settings.memory_records) = (256, rows);
    let (sender, recorder) = start(settings).expect("start");
    let stats = recorder.stats();
    let records: Vec<_> = (0..rows)
        .map(|n| record(&format!("{backend}-{n:06}")))
        .collect();
    let started = Instant::now();
    for record in records {
        sender.send(RecordEvent::Request(Box::new(record)));
    }
    assert!(wait_for(Duration::from_secs(120), || stats.written() == rows as u64));
    let elapsed = started.elapsed();
    drop(sender);
    shutdown(recorder);
    let per_second = rows as f64 / elapsed.as_secs_f64();
    eprintln!("logging thread, {backend}: {rows} rows in {elapsed:.2?}: {per_second:.0} rows/s");

    let batch: Vec<LogRow> = (0..rows)
        .map(|n| full_row(&format!("insert-{n:06}")))
        .collect();
    let elapsed = runtime().block_on(async {
        let store = Store::open(url).await.expect("open");
        let started = Instant::now();
        for chunk in batch.chunks(256) {
            store.insert(chunk).await.expect("insert");
        }
        let elapsed = started.elapsed();
        store.close().await;
        elapsed
    });
    let per_second = rows as f64 / elapsed.as_secs_f64();
    eprintln!("inserts alone, {backend}: {rows} rows in {elapsed:.2?}: {per_second:.0} rows/s");
}
