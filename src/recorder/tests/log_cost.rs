//! The logging side's work per request and per stream, end to end: `GPT_API_LOG_COST_N`
//! records (default 2,000) of the kind `GPT_API_LOG_COST` names (`requests`: non-streaming
//! chat answers; `streams`: 20-delta chat streams as bench-mock sends them, with usage;
//! `openai-streams`: the same with OpenAI's members, a random `obfuscation` in each event)
//! through the logging thread into a temporary SQLite file, `store_content` on (unless
//! `GPT_API_LOG_COST_CONTENT=false`) and the access log on (unless
//! `GPT_API_LOG_COST_ACCESS_LOG=false`). `sqlite_floor` below measures SQLite's own share of
//! the same rows. A harness
//! for `valgrind --tool=callgrind --separate-threads=yes`, whose instruction counts per thread
//! (run once with 0 records and once with N; the difference over N) are the per-record cost
//! of the logging thread, the database thread and SQLite's. Run outside valgrind, it prints
//! each thread's CPU time per record (system time included, which callgrind does not see: the
//! database file's writes). Batches are as large as the writer takes them (all records are
//! sent at once); `GPT_API_LOG_COST_BATCH=B` sends them in bursts of B, each written before
//! the next, for the small batches of production's 50 ms flushes (keep N a multiple of B).
//! Run it with `--nocapture`: libtest's capture copies
//! every access line into a growing buffer (~750 instructions per request on the logging
//! thread that the gateway, printing to its stdout, does not spend). The test binary
//! allocates with mimalloc, as the gateway does (`tests/mod.rs`). Not a test.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::support::{row_of, runtime, settings, TempDir};
use crate::insert::sqlite_transaction;
use crate::response::summarize_body;
use crate::row::LogRow;
use crate::store::Store;
use crate::{start, RecorderStats};
use gpt_api_common::record::{AttemptRecord, RecordEvent, RequestRecord};

const PREFIX: &str = r#""id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini""#;

#[test]
#[ignore = "a measurement: run it under callgrind (see the module notes)"]
fn log_cost() {
    let count = env_number("GPT_API_LOG_COST_N").unwrap_or(2_000);
    let kind = std::env::var("GPT_API_LOG_COST").unwrap_or_default();
    let openai = kind == "openai-streams";
    let streams = openai || kind == "streams";
    let dir = TempDir::new("log-cost");
    let mut settings = settings(dir.sqlite_url(), &dir);
    // Bursts of B records, each written before the next is sent: every batch has B rows.
    let burst = env_number("GPT_API_LOG_COST_BATCH");
    settings.batch_size = burst.map_or(256, |burst| burst as usize);
    settings.memory_records = 100_000;
    // Long enough that no row waits its way into the spill file, even under valgrind.
    settings.flush_interval = Duration::from_secs(30);
    settings.access_log = env_flag("GPT_API_LOG_COST_ACCESS_LOG");
    settings.store_content = env_flag("GPT_API_LOG_COST_CONTENT");
    let (sender, recorder) = start(settings).expect("start");
    let deltas: Vec<Bytes> = (0..20)
        .map(|n| {
            // OpenAI pads each event to hide the text's length: 1 to 16 characters.
            let tail = if openai {
                let padding = &"Zk3vQ8pXr2LmT9aW"[..1 + n * 7 % 16];
                format!(r#","service_tier":"default","system_fingerprint":"fp_9f3c1a","choices":[{{"index":0,"delta":{{"content":" hello"}},"logprobs":null,"finish_reason":null}}],"obfuscation":"{padding}""#)
            } else {
                r#","choices":[{"index":0,"delta":{"content":" hello"},"finish_reason":null}]"#
                    .to_owned()
            };
            Bytes::from(format!(
                "data: {{{PREFIX},\"object\":\"chat.completion.chunk\"{tail}}}\n\n"
            ))
        })
        .collect();
    let finish = Bytes::from(format!(
        "data: {{{PREFIX},\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
    ));
    let usage = Bytes::from(format!(
        "data: {{{PREFIX},\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}}}\n\ndata: [DONE]\n\n"
    ));
    let stats = recorder.stats();
    for n in 0..count {
        if let Some(burst) = burst {
            if n > 0 && n % burst == 0 {
                wait_for_rows(&stats, n);
            }
        }
        let mut record = request(n);
        if streams {
            for delta in &deltas {
                let bytes = delta.clone();
                sender.send(RecordEvent::StreamChunk { stream: n, bytes });
            }
            let bytes = finish.clone();
            sender.send(RecordEvent::StreamChunk { stream: n, bytes });
            let bytes = usage.clone();
            sender.send(RecordEvent::StreamChunk { stream: n, bytes });
            record.stream = true;
            record.ttft_ms = Some(1.25);
            record.response_body = None;
            let record = Box::new(record);
            sender.send(RecordEvent::StreamEnd { stream: n, record });
        } else {
            sender.send(RecordEvent::Request(Box::new(record)));
        }
    }
    wait_for_rows(&stats, count);
    print_thread_times(count);
    recorder.shutdown(Instant::now() + Duration::from_secs(10));
    assert_eq!(stats.written(), count);
}

/// SQLite's own share of the log's cost: the floor under `log_cost`'s database and SQLite
/// threads. The rows of `GPT_API_LOG_COST_N` requests (`log_cost`'s, built beforehand) are
/// inserted by this one thread, in the log's own transactions (`insert::sqlite_transaction`)
/// of `GPT_API_LOG_COST_BATCH` rows (default 256), into a file the log opened (`Store::open`:
/// 16 KiB pages, WAL, synchronous NORMAL, the migrations' table and indexes): no channel, no
/// logging thread, no hand-off between threads.
/// `GPT_API_LOG_COST_CONTENT=false` leaves bodies and text out (`store_content` off);
/// `GPT_API_SQLITE_FLOOR_DROP=INDEX,...` drops indexes first (e.g. `request_logs_created_at`),
/// to show what each costs. Prints this thread's CPU time per row. Not a test.
#[test]
#[ignore = "a measurement (see its notes)"]
fn sqlite_floor() {
    let count = env_number("GPT_API_LOG_COST_N").unwrap_or(2_000);
    let batch = env_number("GPT_API_LOG_COST_BATCH").unwrap_or(256) as usize;
    let store_content = env_flag("GPT_API_LOG_COST_CONTENT");
    let dir = TempDir::new("sqlite-floor");
    let rows: Vec<LogRow> = (0..count)
        .map(|n| {
            let record = request(n);
            let body = record.response_body.clone().unwrap_or_default();
            let summary = summarize_body(&record.endpoint, record.status, &body);
            row_of(record, summary, store_content)
        })
        .collect();
    runtime().block_on(async {
        let Ok(Store::Sqlite(pool, ..)) = Store::open(&dir.sqlite_url()).await else {
            panic!("cannot open the SQLite log");
        };
        let dropped = std::env::var("GPT_API_SQLITE_FLOOR_DROP").unwrap_or_default();
        for index in dropped.split(',').filter(|name| !name.is_empty()) {
            let drop = format!("DROP INDEX {index}");
            sqlx::query(&drop).execute(&pool).await.expect("drop index");
        }
        let mut connection = pool.acquire().await.expect("connection");
        let mut handle = connection.lock_handle().await.expect("lock");
        let mut statements = None;
        let this_thread = Path::new("/proc/thread-self");
        let before = ThreadTimes::read(this_thread).expect("this thread's times");
        let mut written = 0;
        for chunk in rows.chunks(batch) {
            written += sqlite_transaction(&mut statements, &mut handle, chunk).expect("insert");
        }
        let spent = ThreadTimes::read(this_thread).expect("this thread's times");
        spent.since(&before).print(count);
        assert_eq!(written, count);
        // Finalized while the connection is locked, before the pool closes it.
        drop(statements);
        drop(handle);
        drop(connection);
        pool.close().await;
    });
}

/// Each of the process's threads' CPU time so far per record. Start-up (migrations, the
/// first statements) is included: use a large N, or subtract a run with 0.
fn print_thread_times(count: u64) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        if let Some(times) = ThreadTimes::read(&task.path()) {
            times.print(count);
        }
    }
}

/// A thread's CPU time so far, from /proc (Linux): user and system from `stat`, and the
/// scheduler's exact run time from `schedstat`, in nanoseconds.
struct ThreadTimes {
    name: String,
    user_ns: f64,
    system_ns: f64,
    run_ns: f64,
}

impl ThreadTimes {
    fn read(task: &Path) -> Option<Self> {
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let schedstat = std::fs::read_to_string(task.join("schedstat")).ok()?;
        // After the name, in parentheses: state is field 3, utime 14 and stime 15.
        let (_, rest) = stat.split_once(" (")?;
        let (name, rest) = rest.rsplit_once(") ")?;
        let fields: Vec<f64> = rest.split(' ').map(|f| f.parse().unwrap_or(0.0)).collect();
        // Linux's USER_HZ, the unit of utime and stime, is 100 on every architecture it runs on.
        let tick_ns = 10_000_000.0;
        Some(Self {
            name: name.to_owned(),
            user_ns: fields[11] * tick_ns,
            system_ns: fields[12] * tick_ns,
            run_ns: schedstat.split(' ').next()?.parse().ok()?,
        })
    }

    /// The time spent since `before`, a reading of the same thread.
    fn since(self, before: &Self) -> Self {
        Self {
            user_ns: self.user_ns - before.user_ns,
            system_ns: self.system_ns - before.system_ns,
            run_ns: self.run_ns - before.run_ns,
            ..self
        }
    }

    fn print(&self, count: u64) {
        let per_record = |ns: f64| ns / 1000.0 / count.max(1) as f64;
        println!(
            "{:<16} user {:6.2}  system {:6.2}  run {:6.2} µs per record",
            self.name,
            per_record(self.user_ns),
            per_record(self.system_ns),
            per_record(self.run_ns),
        );
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|n| n.parse().ok())
}

/// On unless the variable says `false`.
fn env_flag(name: &str) -> bool {
    std::env::var(name).as_deref() != Ok("false")
}

fn wait_for_rows(stats: &RecorderStats, rows: u64) {
    let started = Instant::now();
    while stats.written() < rows && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A chat request as the gateway records it (a bench-load body and bench-mock's answer).
fn request(n: u64) -> RequestRecord {
    let answer = format!(
        r#"{{{PREFIX},"object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello! How can I help you today?"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}}}"#
    );
    RequestRecord {
        id: format!("{:016x}{n:016x}", 0x0006_2a00_0000_0000_u64 + n),
        created_at: SystemTime::now(),
        method: "POST".into(),
        client_key: Some("bench".to_owned()),
        endpoint: "/v1/chat/completions".to_owned(),
        model: Some("gpt-4o-mini".to_owned()),
        upstream: Some("mock".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        stream: false,
        status: 200,
        // The gateway records one attempt per upstream tried (`AttemptPlan::timeline`).
        attempts: vec![AttemptRecord {
            target: "mock/gpt-4o-mini".into(),
            start_ms: 0.05,
            duration_ms: 0.35,
            outcome: "ok",
            error: None,
            mid_stream: false,
            continuation: false,
        }],
        error: None,
        latency_ms: 0.412,
        ttft_ms: None,
        request_body: Some(Bytes::from_static(
            br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32}"#,
        )),
        response_body: Some(Bytes::from(answer)),
        cancelled: false,
        usage_estimated: false,
        price: None,
        admission: None,
    }
}
